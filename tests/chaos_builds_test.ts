/**
 * Chaos: builds racing on one alias through fault proxies that delay (or
 * fail) bulk requests, with queries running throughout, and a build killed
 * with SIGKILL mid-bulk. Before issue 14 a build's clean-up deleted the
 * other builds' indices in progress, Elasticsearch re-created one with
 * dynamic mappings on the next bulk request, and the alias was swapped
 * onto it. Now, whatever the interleaving: every build that was not
 * injected a failure succeeds, the alias always points to one complete,
 * strictly mapped index holding exactly one of the models, queries never
 * fail, and no index is left marked `building` after the next build.
 */
import assert from "node:assert/strict";
import { type Client, createClient } from "../elasticsearch/client.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import {
  listIndices,
  publishIndex,
  type PublishResult,
} from "../elasticsearch/lifecycle.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { manifestFor, type Model } from "../model/manifest.ts";
import { mulberry32 } from "../random/mod.ts";
import { esTest } from "./_es.ts";
import { type FaultProxy, startFaultProxy } from "./_fault_proxy.ts";
import { report } from "./_chaos_report.ts";

const root = new URL("..", import.meta.url).pathname;

/** Version `v` of a catalogue of `size` items. */
function catalogue(v: number, size: number): Model<IndicatorDocument> {
  const docs: IndicatorDocument[] = [];
  for (let i = 0; i < size; i++) {
    docs.push({
      id: `i${i}`,
      indicators: [`i${(i + v) % size}`, `i${(i * 3 + v) % size}`],
      indicators_view: [`i${(i * 7 + v) % size}`],
      scores: {},
      metadata: { popularity: (i + v) % 17, category: `c${i % 5}` },
    });
  }
  return {
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  };
}

/** The documents of `model`, yielded with seeded pauses. */
async function* jittered(model: Model<IndicatorDocument>, seed: number) {
  const random = mulberry32(seed);
  for (const doc of model.documents) {
    if (random() < 0.01) await new Promise((r) => setTimeout(r, random() * 40));
    yield doc;
  }
}

/** What the alias serves: one complete, strictly mapped index holding one of `models`. */
async function checkAlias(
  client: Client,
  alias: string,
  models: Model<IndicatorDocument>[],
) {
  const indices = await listIndices(client, alias);
  const live = indices.filter((i) => i.live);
  assert.equal(live.length, 1, JSON.stringify(indices));
  assert.equal(live[0].state, "complete");
  const mapping =
    (await client.indices.getMapping({ index: live[0].index }))[live[0].index]
      .mappings!;
  assert.equal(String(mapping.dynamic), "strict");
  const manifest =
    (mapping._meta as { cco: { manifest: unknown } }).cco.manifest;
  const model = models.find((m) =>
    JSON.stringify(sorted(m.manifest)) === JSON.stringify(sorted(manifest))
  );
  assert.ok(model, "the live index holds one of the models built");
  assert.equal(live[0].documents, model.documents.length);
  return { indices, live: live[0], model };
}

function sorted(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(sorted);
  if (typeof value === "object" && value !== null) {
    return Object.fromEntries(
      Object.entries(value).sort(([a], [b]) => a < b ? -1 : 1).map((
        [k, v],
      ) => [k, sorted(v)]),
    );
  }
  return value;
}

/** Queries the alias until `done`, counting failures and empty answers. */
function queryLoop(url: string, alias: string) {
  const client = createClient({ node: url });
  const recommender = new ElasticsearchRecommender(client, alias, {
    manifestTtlMs: 100,
  });
  let running = true;
  let queries = 0, failures = 0, empty = 0;
  const errors: string[] = [];
  const loop = (async () => {
    while (running) {
      try {
        const recs = await recommender.recommend({
          history: ["i5", "i6"],
          num: 5,
          backfill: false,
        });
        if (recs.length === 0) empty++;
      } catch (error) {
        failures++;
        if (errors.length < 3) errors.push((error as Error).message);
      }
      queries++;
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      await client.close();
      return { queries, failures, empty, errors };
    },
  };
}

esTest(
  "chaos: three builds racing on one alias, bulks delayed or failed by fault proxies, queries throughout",
  async ({ client, url, index }) => {
    const alias = index("chaos-race");
    // a first model, so that queries have something to ask from the start
    const base = catalogue(0, 1500);
    await publishIndex(client, alias, base);
    const proxies: FaultProxy[] = [];
    const clients: Client[] = [];
    const queries = queryLoop(url, alias);
    let raced = 0, failedAsInjected = 0;
    try {
      const rounds = 3;
      for (let round = 0; round < rounds; round++) {
        const random = mulberry32(1000 + round);
        const models = [0, 1, 2].map((b) =>
          catalogue(10 * round + b + 1, 1200 + Math.floor(random() * 800))
        );
        // one build of the last round has its bulks failed after a few
        const failing = round === rounds - 1 ? 1 : -1;
        const builds = models.map(async (model, b) => {
          const proxy = startFaultProxy(url);
          proxies.push(proxy);
          proxy.faults.delayBulkMs = 20 + Math.floor(random() * 60);
          if (b === failing) proxy.faults.failBulkAfter = 3;
          const viaProxy = createClient({ node: proxy.url, maxRetries: 0 });
          clients.push(viaProxy);
          // staggered starts: every order of lock, build and swap happens
          await new Promise((r) => setTimeout(r, random() * 300));
          return publishIndex(viaProxy, alias, {
            manifest: model.manifest,
            documents: jittered(model, 7 * round + b),
          }, { flushBytes: 30_000, concurrency: 2, maxShrink: 1, retries: 0 });
        });
        const results = await Promise.allSettled(builds);
        raced += results.length;
        results.forEach((r, b) => {
          if (b === failing) {
            assert.equal(r.status, "rejected");
            assert.match(
              String((r as PromiseRejectedResult).reason?.message),
              /bulk indexing into ".*" failed after/,
            );
            failedAsInjected++;
          } else {
            assert.equal(
              r.status,
              "fulfilled",
              String((r as PromiseRejectedResult).reason),
            );
          }
        });
        const done = results.filter((r) => r.status === "fulfilled")
          .map((r) => (r as PromiseFulfilledResult<PublishResult>).value);
        const { indices, live, model } = await checkAlias(
          client,
          alias,
          models,
        );
        // the swaps form one chain: each build replaced the one before it,
        // and the last of the chain is live
        const previous = new Set(done.map((d) => d.previous));
        const last = done.filter((d) => !previous.has(d.index));
        assert.equal(last.length, 1, JSON.stringify(done));
        assert.equal(live.index, last[0].index);
        assert.equal(model.documents.length, last[0].documents);
        assert.deepEqual(
          indices.filter((i) => i.state === "building"),
          [],
          "no orphans",
        );
        assert.ok(indices.length <= 2, `keep 2, found ${indices.length}`);
      }
    } finally {
      const q = await queries.stop();
      for (const c of clients) await c.close();
      for (const p of proxies) await p.close();
      report(
        "builds raced",
        raced,
        `${failedAsInjected} failed as injected; ${q.queries} queries during the races`,
      );
      assert.equal(q.failures, 0, q.errors.join("; "));
      assert.equal(q.empty, 0);
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);

esTest(
  "chaos: a build killed with SIGKILL mid-bulk: the alias stays, the next builds wait out its lease and remove its index",
  async ({ client, url, index }) => {
    const alias = index("chaos-kill");
    const live = await publishIndex(client, alias, catalogue(0, 1000));
    const proxy = startFaultProxy(url);
    proxy.faults.delayBulkMs = 50;
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}tests/_chaos_build.ts`,
        proxy.url,
        alias,
        "2000",
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let out = "";
      while (!out.includes("indexing")) {
        const { value, done } = await reader.read();
        if (done) break;
        out += value;
      }
      assert.ok(out.includes("indexing"), `the build did not start: ${out}`);
      reader.releaseLock();
      child.kill("SIGKILL");
      assert.equal((await child.status).signal, "SIGKILL");
    } finally {
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await proxy.close();
    }
    const left = await listIndices(client, alias);
    assert.equal(left.length, 2);
    assert.deepEqual(left[0], {
      index: live.index,
      documents: 1000,
      live: true,
      state: "complete",
    });
    assert.equal(left[1].state, "building");
    const orphan = left[1].index;
    // the alias still serves the old model
    const recs = await new ElasticsearchRecommender(client, alias).recommend({
      history: ["i5"],
      num: 3,
    });
    assert.equal(recs.length, 3);
    // two builds now: the first waits out the dead build's lease (2 s), the
    // second waits for the first; the dead build's index goes
    const t0 = performance.now();
    const waits: string[] = [];
    const [a, b] = await Promise.all([
      publishIndex(client, alias, catalogue(1, 1000), {
        onLockWait: (h) => waits.push(h.purpose),
      }),
      new Promise((r) => setTimeout(r, 100)).then(() =>
        publishIndex(client, alias, catalogue(2, 1000), {
          onLockWait: (h) => waits.push(h.purpose),
        })
      ),
    ]);
    const waited = performance.now() - t0;
    assert.ok(
      waited >= 1500,
      `took over after ${waited} ms: before its lease ended`,
    );
    assert.ok(waits.includes(`building "${orphan}"`), JSON.stringify(waits));
    const deleted = [...a.deleted, ...b.deleted];
    assert.ok(deleted.includes(orphan), JSON.stringify(deleted));
    const after = await listIndices(client, alias);
    assert.deepEqual(
      after.filter((i) => i.state === "building"),
      [],
      "no orphans",
    );
    assert.equal(after.filter((i) => i.live).length, 1);
    report(
      "builds raced",
      3,
      "one killed with SIGKILL mid-bulk, two waiting for its lease",
    );
    await client.indices.delete({ index: `${alias}_*` });
  },
);
