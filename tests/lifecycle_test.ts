/**
 * Versioned builds behind an alias, against the real node: swaps, rollback,
 * rebuilds under query load, and injected failures that must leave the live
 * alias untouched.
 */
import assert from "node:assert/strict";
import { type Client, createClient } from "../elasticsearch/client.ts";
import {
  ElasticsearchRecommender,
  readIndexManifest,
} from "../elasticsearch/recommender.ts";
import { writeAlias } from "../elasticsearch/indexing.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { manifestFor, type Model } from "../model/manifest.ts";
import { DeadlineError } from "../errors/mod.ts";
import {
  listIndices,
  publishIndex,
  rollback,
} from "../elasticsearch/lifecycle.ts";
import { esTest } from "./_es.ts";
import { startFaultProxy } from "./_fault_proxy.ts";

/** Version `v` of a small catalogue: item x's indicator differs per version. */
function catalogue(v: number, size = 300): Model<IndicatorDocument> {
  const docs: IndicatorDocument[] = [];
  for (let i = 0; i < size; i++) {
    docs.push({
      id: `i${i}`,
      indicators: [`i${(i + v) % size}`, `i${(i + 2 * v + 1) % size}`],
      indicators_view: [`i${(i * 7 + v) % size}`],
      scores: {},
      metadata: { popularity: i % 17, category: `c${i % 5}` },
    });
  }
  return {
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  };
}

let tick = Date.UTC(2026, 0, 1);
const clock = () => new Date(tick += 1000);

/** The alias's answer for a history that matches in every version. */
async function answer(client: Client, alias: string): Promise<string[]> {
  const recs = await new ElasticsearchRecommender(client, alias)
    .recommend({ history: ["i5", "i6"], num: 50 });
  return recs.map((r) => r.id).sort();
}

esTest(
  "publish swaps the alias atomically and keeps the last K",
  async ({ client, index }) => {
    const alias = index("life");
    const first = await publishIndex(client, alias, catalogue(1), {
      now: clock,
    });
    assert.equal(first.previous, undefined);
    assert.match(first.index, new RegExp(`^${alias}_\\d{17}$`));
    assert.deepEqual(await listIndices(client, alias), [
      { index: first.index, documents: 300, live: true, state: "complete" },
    ]);
    const v1 = await answer(client, alias);
    const second = await publishIndex(client, alias, catalogue(2), {
      now: clock,
    });
    assert.equal(second.previous, first.index);
    assert.deepEqual(second.deleted, []);
    const v2 = await answer(client, alias);
    assert.notDeepEqual(v1, v2);
    const third = await publishIndex(client, alias, catalogue(3), {
      now: clock,
      keep: 2,
    });
    assert.deepEqual(third.deleted, [first.index]);
    assert.deepEqual(
      (await listIndices(client, alias)).map((i) => [i.index, i.live]),
      [[second.index, false], [third.index, true]],
    );
    // rollback points the alias at the previous build, atomically
    assert.deepEqual(await rollback(client, alias), {
      from: third.index,
      to: second.index,
    });
    assert.deepEqual(await answer(client, alias), v2);
    await assert.rejects(() => rollback(client, alias), {
      name: "IndexingError",
      message: `no earlier complete index of "${alias}" to roll back to`,
    });
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "a rebuild under query load: no query fails or sees an empty index",
  async ({ client, url, index }) => {
    const alias = index("load");
    await publishIndex(client, alias, catalogue(1, 3000), { now: clock });
    const reader = createClient({ node: url });
    let queries = 0, errors = 0, empty = 0;
    let building = true;
    const loop = (async () => {
      const deadline = Date.now() + 60_000;
      while ((building || queries < 50) && Date.now() < deadline) {
        try {
          if ((await answer(reader, alias)).length === 0) empty++;
        } catch {
          errors++;
        }
        queries++;
      }
    })();
    try {
      for (let v = 2; v <= 4; v++) {
        await publishIndex(client, alias, catalogue(v, 3000), {
          now: clock,
          flushBytes: 50_000, // many bulk requests: a long build
        });
      }
    } finally {
      building = false;
      await loop;
      await reader.close();
    }
    assert.ok(queries >= 50, `only ${queries} queries ran`);
    assert.equal(errors, 0);
    assert.equal(empty, 0);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "an injected bulk failure leaves the old alias live and no half-built index",
  async ({ client, url, index }) => {
    const alias = index("fault");
    const live = await publishIndex(client, alias, catalogue(1, 2000), {
      now: clock,
    });
    const before = await answer(client, alias);
    const proxy = startFaultProxy(url);
    const faulty = createClient({ node: proxy.url, maxRetries: 1 });
    try {
      proxy.faults.failBulkAfter = 1;
      await assert.rejects(
        () =>
          publishIndex(faulty, alias, catalogue(2, 2000), {
            now: clock,
            flushBytes: 20_000,
          }),
        (error: Error) => {
          assert.equal(error.name, "IndexingError");
          const m = error.message.match(
            /bulk indexing into ".*" failed after (\d+) of (\d+) documents/,
          );
          assert.ok(m, error.message);
          // the first bulk request went through: its documents are counted
          assert.ok(Number(m[1]) > 0 && Number(m[1]) < Number(m[2]), m[0]);
          return true;
        },
      );
      assert.ok(proxy.bulks >= 2);
    } finally {
      await faulty.close();
      await proxy.close();
    }
    assert.deepEqual(await listIndices(client, alias), [
      { index: live.index, documents: 2000, live: true, state: "complete" },
    ]);
    assert.deepEqual(await answer(client, alias), before);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "the cluster gone mid-build: alias unchanged, leftover marked and later removed",
  async ({ client, url, index }) => {
    const alias = index("down");
    const live = await publishIndex(client, alias, catalogue(1, 2000), {
      now: clock,
    });
    const before = await answer(client, alias);
    const proxy = startFaultProxy(url);
    const faulty = createClient({ node: proxy.url, maxRetries: 0 });
    try {
      proxy.faults.downAfterBulk = 1;
      await assert.rejects(
        () =>
          publishIndex(faulty, alias, catalogue(2, 2000), {
            now: clock,
            flushBytes: 20_000,
            // it cannot release its lock either: the next build takes it
            // over once this lease has passed
            lockLeaseMs: 1000,
          }),
        { name: "IndexingError" },
      );
    } finally {
      await faulty.close();
      await proxy.close();
    }
    const after = await listIndices(client, alias);
    assert.equal(after.length, 2);
    assert.deepEqual(after[0], {
      index: live.index,
      documents: 2000,
      live: true,
      state: "complete",
    });
    assert.equal(after[1].live, false);
    assert.equal(after[1].state, "building");
    assert.deepEqual(await answer(client, alias), before);
    // the next good build removes the leftover
    const next = await publishIndex(client, alias, catalogue(3, 2000), {
      now: clock,
    });
    assert.deepEqual(next.deleted, [after[1].index]);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "a read-back that does not match fails verification before the swap",
  async ({ client, url, index }) => {
    const alias = index("verify");
    const live = await publishIndex(client, alias, catalogue(1), {
      now: clock,
    });
    const proxy = startFaultProxy(url);
    const faulty = createClient({ node: proxy.url });
    try {
      proxy.faults.corruptMget = true;
      await assert.rejects(
        () => publishIndex(faulty, alias, catalogue(2), { now: clock }),
        {
          name: "IndexingError",
          message: /does not return document "i\d+" as it was sent$/,
        },
      );
    } finally {
      await faulty.close();
      await proxy.close();
    }
    assert.deepEqual(
      (await listIndices(client, alias)).map((i) => i.index),
      [live.index],
    );
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "an index squatting on the alias name is refused",
  async ({ client, index }) => {
    const name = index("squat");
    await client.indices.create({ index: name });
    await assert.rejects(() => publishIndex(client, name, catalogue(1)), {
      name: "IndexingError",
      message: `"${name}" is an index, not an alias: rename or delete it first`,
    });
    await assert.rejects(
      () => publishIndex(client, "Bad Alias", catalogue(1)),
      {
        message:
          'invalid alias "Bad Alias": use lower-case letters, digits, _ and -',
      },
    );
  },
);

/** The documents of an index, by id, as Elasticsearch returns them. */
async function sources(
  client: Client,
  index: string,
): Promise<Record<string, unknown>> {
  const { hits } = await client.search({
    index,
    size: 10_000,
    sort: [{ id: "asc" }],
  });
  return Object.fromEntries(hits.hits.map((h) => [h._id, h._source]));
}

esTest(
  "publish from a stream: the same index as from an array, the manifest in _meta",
  async ({ client, index }) => {
    const model = catalogue(1, 1500);
    const fromArray = index("stream-a");
    const a = await publishIndex(client, fromArray, model, {
      now: clock,
      flushBytes: 20_000,
    });
    const fromStream = index("stream-b");
    async function* stream() {
      for (const doc of model.documents) {
        await Promise.resolve(); // a source that yields as it reads
        yield doc;
      }
    }
    const b = await publishIndex(client, fromStream, {
      manifest: model.manifest,
      documents: stream(),
    }, { now: clock, flushBytes: 20_000 });
    assert.equal(a.documents, 1500);
    assert.equal(b.documents, 1500);
    const [ma, mb] = await Promise.all([
      client.indices.getMapping({ index: a.index }),
      client.indices.getMapping({ index: b.index }),
    ]);
    const mapping = (m: typeof ma, i: string) => {
      const { _meta, ...rest } = m[i].mappings;
      const { alias: _, ...cco } = (_meta as { cco: { alias: string } }).cco;
      return { ...rest, _meta: { cco } };
    };
    assert.deepEqual(mapping(mb, b.index), mapping(ma, a.index));
    assert.deepEqual(
      await sources(client, b.index),
      await sources(client, a.index),
    );
    // the index says what model it holds, and that it is complete
    const meta = ma[a.index].mappings._meta as {
      cco: { state: string; alias: string; manifest: unknown };
    };
    assert.equal(meta.cco.state, "complete");
    assert.equal(meta.cco.alias, fromArray);
    assert.deepEqual(meta.cco.manifest, model.manifest);
    assert.deepEqual(await readIndexManifest(client, fromStream), {
      index: b.index,
      manifest: model.manifest,
    });
    assert.deepEqual(
      await new ElasticsearchRecommender(client, fromStream).manifest(),
      model.manifest,
    );
    // the write alias is gone once the build is done
    assert.equal(
      await client.indices.existsAlias({ name: writeAlias(b.index) }),
      false,
    );
    await client.indices.delete({ index: `${fromArray}_*,${fromStream}_*` });
  },
);

esTest(
  "an index deleted under the build: no index auto-created, the alias unchanged",
  async ({ client, index }) => {
    const alias = index("deleted");
    const live = await publishIndex(client, alias, catalogue(1, 500), {
      now: clock,
    });
    const before = await answer(client, alias);
    // the build's index name: the alias and the clock's next stamp
    const next = new Date(tick + 1000);
    const building = `${alias}_${next.toISOString().replace(/[-:.TZ]/g, "")}`;
    let deleted: Promise<unknown> | undefined;
    let recreated: boolean | undefined;
    const model = catalogue(2, 2000);
    async function* stream() {
      for (const doc of model.documents) {
        if (deleted) await deleted;
        yield doc;
      }
      // hundreds of documents went out after the delete: had a bulk request
      // auto-created the index (with dynamic mappings), it would be here now
      recreated = await client.indices.exists({ index: building });
    }
    await assert.rejects(
      () =>
        publishIndex(client, alias, {
          manifest: model.manifest,
          documents: stream(),
        }, {
          now: clock,
          flushBytes: 20_000,
          concurrency: 1,
          onDocument: (_, n) => {
            // another process deletes the index halfway through
            if (n === 1000) {
              deleted = client.indices.delete({ index: building });
            }
          },
        }),
      (error: Error) => {
        assert.equal(error.name, "IndexingError");
        // the documents that made it before the delete are counted
        const m = error.message.match(
          /^bulk indexing into ".*" failed after (\d+) of 2000 documents: /,
        );
        assert.ok(m, error.message);
        const succeeded = Number(m[1]);
        assert.ok(succeeded >= 600 && succeeded <= 1000, error.message);
        return true;
      },
    );
    assert.ok(deleted, "the hook ran");
    assert.equal(recreated, false, "a bulk request re-created the index");
    // no index was auto-created under the build's name (or any other)
    assert.equal(await client.indices.exists({ index: building }), false);
    assert.equal(
      await client.indices.existsAlias({ name: writeAlias(building) }),
      false,
    );
    assert.deepEqual(await listIndices(client, alias), [
      { index: live.index, documents: 500, live: true, state: "complete" },
    ]);
    assert.deepEqual(await answer(client, alias), before);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "ElasticsearchRecommender honours an AbortSignal: DeadlineError, search cancelled",
  async ({ client, url, index }) => {
    const alias = index("abort");
    await publishIndex(client, alias, catalogue(1), { now: clock });
    const proxy = startFaultProxy(url);
    const viaProxy = createClient({ node: proxy.url, maxRetries: 0 });
    try {
      const es = new ElasticsearchRecommender(viaProxy, alias);
      const request = { history: ["i5", "i6"], num: 5 };
      const want = await es.recommend(request); // reads the manifest too
      assert.equal(want.length, 5);
      const searches = proxy.searches;
      // aborted before the call: nothing is sent
      const aborted = new AbortController();
      aborted.abort();
      await assert.rejects(
        () => es.recommend(request, { signal: aborted.signal }),
        DeadlineError,
      );
      assert.equal(proxy.searches, searches);
      // aborted while Elasticsearch is slow: rejected at once, and the
      // search request itself is cancelled, never run
      proxy.faults.delaySearchMs = 5000;
      const t0 = performance.now();
      await assert.rejects(
        () => es.recommend(request, { signal: AbortSignal.timeout(200) }),
        (e) => {
          assert.ok(e instanceof DeadlineError, String(e));
          assert.equal(e.status, 504);
          return true;
        },
      );
      const waited = performance.now() - t0;
      assert.ok(waited < 2000, `rejected after ${waited} ms`);
      for (let i = 0; i < 50 && proxy.abandonedSearches === 0; i++) {
        await new Promise((r) => setTimeout(r, 20));
      }
      assert.equal(proxy.abandonedSearches, 1);
      assert.equal(proxy.forwardedSearches, searches);
      // without a signal the same slow search answers
      proxy.faults.delaySearchMs = 100;
      assert.deepEqual(await es.recommend(request), want);
    } finally {
      await viaProxy.close();
      await proxy.close();
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);
