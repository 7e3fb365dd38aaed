/**
 * Serving on a real 3-node cluster (three local nodes on 127.0.0.1, started
 * here with `startLocalNode({ nodes: 3 })`): builds and alias swaps with 3
 * shards and 1 replica; the same recommendations as on one shard and as the
 * embedded backend; a node killed under a query loop; a node killed in the
 * middle of a build; the node brought back and the cluster green again.
 *
 * Runs under `CI=true` and when `CCO_ES_CLUSTER_TESTS=1` (`deno task test`
 * sets it when it runs a local node); otherwise it is reported as ignored.
 * Under CI a cluster that cannot start fails the test. The figures of the
 * node kills are printed (`[cluster] ...` lines).
 */
import assert from "node:assert/strict";
import type { Client } from "../elasticsearch/client.ts";
import { connect } from "../elasticsearch/connection.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { mergeItems, readItems } from "../model/items.ts";
import { manifestFor, type Model } from "../model/manifest.ts";
import { listIndices, publishIndex } from "../elasticsearch/lifecycle.ts";
import {
  killLocalNode,
  type LocalNode,
  restartLocalNode,
  startLocalNode,
  stopLocalNode,
} from "../elasticsearch/local_node.ts";
import type { Recommendation, RecommendRequest } from "../serving/request.ts";
import { requests, same } from "./_requests.ts";

const enabled = Deno.env.get("CI") === "true" ||
  Deno.env.get("CCO_ES_CLUSTER_TESTS") === "1";
const NAME = "test-cluster";
const fixtures = new URL("../fixtures/", import.meta.url).pathname;

function report(line: string) {
  console.log(`[cluster] ${line}`);
}

async function health(client: Client, status: "green" | "yellow") {
  const h = await client.cluster.health({
    wait_for_status: status,
    wait_for_no_initializing_shards: true,
    timeout: "120s",
  });
  assert.equal(h.timed_out, false, `cluster not ${status}: ${h.status}`);
  return h;
}

/** The node (1-based) that is the elected master. */
async function masterNode(client: Client, cluster: LocalNode) {
  const [master] = await client.cat.master({ format: "json" });
  const i = cluster.nodes.findIndex((n) => n.name === master.node);
  assert.ok(i >= 0, `unknown master ${master.node}`);
  return i + 1;
}

/**
 * A catalogue of `size` items with three unweighted (BM25) indicator
 * fields, as a model whose primary event is `transaction`.
 */
function catalogue(v: number, size: number): Model<IndicatorDocument> {
  const docs: IndicatorDocument[] = [];
  for (let i = 0; i < size; i++) {
    docs.push({
      id: `i${i}`,
      indicators: [`i${(i + v) % size}`, `i${(i * 3 + v + 1) % size}`],
      indicators_view: Array.from(
        { length: 8 },
        (_, k) => `i${(i * 7 + k * 13 + v) % size}`,
      ),
      similar_view: [`i${(i * 11 + v) % size}`],
      scores: {},
    });
  }
  return {
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  };
}

Deno.test({
  name: `3-node cluster: shards, replicas, node loss${
    enabled ? "" : " [needs CCO_ES_CLUSTER_TESTS=1 or deno task test]"
  }`,
  ignore: !enabled,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const t0 = performance.now();
    const cluster = await startLocalNode({
      name: NAME,
      nodes: 3,
      heap: "512m",
      // half the CPU to start; query speed does not matter here
      javaOpts: "-XX:TieredStopAtLevel=1",
      timeoutMs: 300_000,
    });
    report(
      `${cluster.reused ? "reused" : "started"} ${cluster.urls.join(",")} in ${
        ((performance.now() - t0) / 1000).toFixed(1)
      } s`,
    );
    // the client knows every node: it retries elsewhere when one fails
    const client = await connect({ url: cluster.urls.join(",") });
    const tag = crypto.randomUUID().slice(0, 8);
    try {
      // weighted (sparse_vector, the default) and BM25 (keyword) fields
      const weighted = await buildIndicators(
        readEvents(`${fixtures}demo_events.csv`),
        { primaryEvent: "transaction", minRootLlr: 3 },
      );
      const keyword = await buildIndicators(
        readEvents(`${fixtures}demo_events.csv`),
        { primaryEvent: "transaction", minRootLlr: 3, weights: "none" },
      );
      // learned on the history fields, llr-idf on similar_: all sparse_vector
      assert.ok(weighted.manifest.fields.every((f) => f.weights !== "none"));
      assert.ok(keyword.manifest.fields.every((f) => f.weights === "none"));
      const items = await readItems(`${fixtures}demo_items.csv`);
      mergeItems(weighted, items);
      mergeItems(keyword, items);
      const all = requests(weighted.documents.map((d) => d.id), 120);
      const expected = new Map<RecommendRequest, Recommendation[]>();
      let restarting: Promise<unknown> = Promise.resolve(undefined);
      let restarted = 0;

      await t.step("build and swap with 3 shards and 1 replica", async () => {
        for (
          const [name, model] of [["w", weighted], ["k", keyword]] as const
        ) {
          for (const shards of [1, 3]) {
            const alias = `cl-${tag}-${name}${shards}`;
            const first = await publishIndex(client, alias, model, {
              shards,
              replicas: 1,
            });
            if (shards === 1) continue;
            // a rebuild swaps the alias
            const second = await publishIndex(client, alias, model, {
              shards,
              replicas: 1,
            });
            assert.equal(second.previous, first.index);
            assert.deepEqual(
              (await listIndices(client, alias)).map((i) => [i.index, i.live]),
              [[first.index, false], [second.index, true]],
            );
          }
        }
        await health(client, "green");
        // 3 primaries and 3 replicas, on all three nodes, no copy of a
        // shard twice on one node
        const rows = await client.cat.shards({
          index: `cl-${tag}-w3_*`,
          format: "json",
          h: ["index", "shard", "prirep", "state", "node"],
        });
        const live = rows.filter((r) =>
          r.index === rows.map((x) => x.index!).sort().at(-1)
        );
        assert.equal(live.length, 6);
        assert.ok(live.every((r) => r.state === "STARTED"));
        assert.equal(new Set(live.map((r) => r.node)).size, 3);
        for (const shard of ["0", "1", "2"]) {
          const copies = live.filter((r) => r.shard === shard);
          assert.deepEqual(copies.map((r) => r.prirep).sort(), ["p", "r"]);
          assert.notEqual(copies[0].node, copies[1].node);
        }
      });

      await t.step("a node killed under a query loop", async () => {
        const alias = `cl-${tag}-k3`;
        // every answer must be exactly the healthy cluster's (which equals
        // one shard's and the embedded backend's, next step)
        const healthy = new ElasticsearchRecommender(client, alias);
        for (const r of all) expected.set(r, await healthy.recommend(r));
        const loopClient = await connect({ url: cluster.urls.join(",") });
        let retried = 0;
        loopClient.diagnostic.on("response", (_error, result) => {
          if ((result?.meta.attempts ?? 0) > 0) retried++;
        });
        const es = new ElasticsearchRecommender(loopClient, alias);
        let queries = 0, failed = 0, wrong = 0;
        const failures: string[] = [];
        let killedAt = Infinity, lastTrouble = 0, maxAfterKill = 0;
        let running = true;
        const worker = async (w: number) => {
          let i = w;
          while (running) {
            const request = all[i++ % all.length];
            const t = performance.now();
            const before = retried;
            try {
              const got = await es.recommend(request);
              if (
                JSON.stringify(got) !== JSON.stringify(expected.get(request))
              ) wrong++;
            } catch (error) {
              failed++;
              if (failures.length < 3) {
                failures.push((error as Error).message.split("\n")[0]);
              }
            }
            const end = performance.now();
            queries++;
            if (end > killedAt) {
              maxAfterKill = Math.max(maxAfterKill, end - t);
              if (retried > before || end - t > 1000) lastTrouble = end;
            }
          }
        };
        const workers = [0, 1, 2, 3].map(worker);
        await new Promise((r) => setTimeout(r, 3000));
        const victim = await masterNode(client, cluster);
        const beforeKill = queries;
        killedAt = performance.now();
        assert.equal(await killLocalNode({ name: NAME, node: victim }), true);
        // on: at least 5 s and 100 queries after the kill (at most 2 min)
        const until = killedAt + 120_000;
        while (
          (performance.now() < killedAt + 5000 ||
            queries - beforeKill < 100) && performance.now() < until
        ) await new Promise((r) => setTimeout(r, 100));
        running = false;
        await Promise.all(workers);
        const h = await client.cluster.health({
          wait_for_nodes: "2",
          timeout: "30s",
        });
        report(
          `query loop, 4 clients, node ${victim} (the elected master) killed with SIGKILL after ${beforeKill} queries: ${queries} queries, ${failed} failed, ${wrong} wrong, ${retried} retried by the client on another node; slowest query after the kill ${
            maxAfterKill.toFixed(0)
          } ms; last retried or slow (> 1 s) query ${
            lastTrouble ? (lastTrouble - killedAt).toFixed(0) : 0
          } ms after the kill; cluster ${h.status} with ${h.number_of_nodes} nodes`,
        );
        assert.equal(failed, 0, `failed queries: ${failures.join("; ")}`);
        assert.equal(wrong, 0);
        assert.ok(queries - beforeKill >= 100, "the loop stalled");
        assert.equal(h.number_of_nodes, 2);

        // back in the background: the next step runs while it recovers
        restarting = restartLocalNode({ name: NAME, node: victim })
          .then(() => undefined, (error) => error);
        restarted = victim;
        await loopClient.close();
      });

      await t.step(
        "3 shards answer exactly like 1 shard and the embedded backend (while the node recovers)",
        async () => {
          for (
            const [name, model] of [["w", weighted], ["k", keyword]] as const
          ) {
            const embedded = new EmbeddedRecommender(model);
            const one = new ElasticsearchRecommender(
              client,
              `cl-${tag}-${name}1`,
            );
            const three = new ElasticsearchRecommender(
              client,
              `cl-${tag}-${name}3`,
            );
            // auto: global statistics only where BM25 needs them
            assert.equal(await one.searchType(), "query_then_fetch");
            assert.equal(
              await three.searchType(),
              name === "k" ? "dfs_query_then_fetch" : "query_then_fetch",
            );
            const perShard = new ElasticsearchRecommender(
              client,
              `cl-${tag}-${name}3`,
              { searchType: "query_then_fetch" },
            );
            let ranked = 0, differ = 0;
            for (const [i, request] of all.entries()) {
              const want = await embedded.recommend(request);
              const label = `${name} request ${i} ${JSON.stringify(request)}`;
              const a = await one.recommend(request);
              const b = await three.recommend(request);
              assert.deepEqual(b, a, `3 shards vs 1: ${label}`);
              // the answers the query loop got while a node died
              if (name === "k") assert.deepEqual(b, expected.get(request));
              same(`embedded: ${label}`, a, want);
              if (want.some((r) => !r.backfill)) ranked++;
              const c = await perShard.recommend(request);
              if (JSON.stringify(c) !== JSON.stringify(a)) differ++;
            }
            assert.ok(ranked >= 50, `only ${ranked} requests ranked`);
            report(
              `${
                name === "k" ? "keyword (BM25)" : "weighted"
              }: 120 requests, 3 shards = 1 shard = embedded; with per-shard statistics (query_then_fetch) ${differ} of 120 differ`,
            );
            // weighted scores never depend on shards; BM25 does, without DFS
            if (name === "w") assert.equal(differ, 0);
            else assert.ok(differ >= 50, `only ${differ} differ without DFS`);
          }
          const t1 = performance.now();
          const error = await restarting;
          if (error) throw error;
          await health(client, "green");
          report(
            `node ${restarted} back: cluster green with 3 nodes ${
              ((performance.now() - t1) / 1000).toFixed(1)
            } s after this step's checks`,
          );
        },
      );

      await t.step("a node killed mid-build", async () => {
        const alias = `cl-${tag}-build`;
        const size = 12_000;
        const v1 = catalogue(1, size);
        const live = await publishIndex(client, alias, v1, {
          shards: 3,
          replicas: 1,
        });
        // watch the alias the whole time: it must only ever point to a
        // complete index holding every document
        const seen = new Set<string>();
        let watching = true;
        const watcher = (async () => {
          while (watching) {
            try {
              const targets = Object.keys(
                await client.indices.getAlias({ name: alias }),
              );
              for (const index of targets) {
                if (seen.has(index)) continue;
                const mapping = await client.indices.getMapping({ index });
                const meta = mapping[index].mappings?._meta as {
                  cco?: { state?: string };
                };
                assert.equal(meta?.cco?.state, "complete", index);
                const { count } = await client.count({ index });
                assert.equal(count, size, `${index} live with ${count}`);
                seen.add(index);
              }
            } catch (error) {
              if (error instanceof assert.AssertionError) throw error;
              // a request that met the dying node: try again
            }
            await new Promise((r) => setTimeout(r, 50));
          }
        })();
        const buildClient = await connect({ url: cluster.urls.join(",") });
        const v2 = catalogue(2, size);
        const victim = 1 + (await masterNode(client, cluster)) % 3;
        let killedAfter = -1;
        let killing: Promise<boolean> | undefined;
        const t1 = performance.now();
        let outcome: string;
        try {
          const result = await publishIndex(buildClient, alias, v2, {
            shards: 3,
            replicas: 1,
            flushBytes: 50_000, // many bulk requests: a long build
            onProgress: (n) => {
              if (killedAfter < 0 && n >= size / 4) {
                killedAfter = n;
                killing = killLocalNode({ name: NAME, node: victim });
              }
            },
          });
          outcome = `completed as ${result.index}`;
          assert.equal(result.documents, size);
        } catch (error) {
          const message = (error as Error).message;
          assert.equal((error as Error).name, "IndexingError");
          assert.ok(!message.includes("\n"), message);
          outcome = `failed: ${message}`;
        } finally {
          watching = false;
          await watcher;
          await buildClient.close();
        }
        assert.ok(killedAfter > 0, "the node was never killed");
        assert.equal(await killing, true);
        const t2 = performance.now();
        const back = restartLocalNode({ name: NAME, node: victim })
          .then(() => undefined, (error) => error);
        report(
          `build of ${size} documents (3 shards, 1 replica), node ${victim} killed after ${killedAfter} were acknowledged: ${outcome} in ${
            ((performance.now() - t1) / 1000).toFixed(1)
          } s`,
        );
        const indices = await listIndices(client, alias);
        const liveNow = indices.find((i) => i.live)!;
        assert.equal(liveNow.state, "complete");
        assert.equal(liveNow.documents, size);
        assert.ok(seen.size >= 1 && [...seen].includes(live.index));
        const answers = new ElasticsearchRecommender(client, alias);
        const model = new EmbeddedRecommender(
          liveNow.index === live.index ? v1 : v2,
        );
        for (const item of ["i5", "i77", "i11000"]) {
          const request = { history: { view: [item] }, num: 5 };
          same(
            `after the build: ${item}`,
            await answers.recommend(request),
            await model.recommend(request),
          );
        }

        const error = await back;
        if (error) throw error;
        await health(client, "green");
        const stats = await client.indices.stats({
          index: liveNow.index,
          metric: "docs",
        });
        report(
          `node ${victim} back: cluster green with 3 nodes in ${
            ((performance.now() - t2) / 1000).toFixed(1)
          } s; live index: ${stats._all?.total?.docs?.count} documents, ${stats._all?.total?.docs?.deleted} deleted (all copies)`,
        );
        for (const item of ["i5", "i77", "i11000"]) {
          const request = { history: { view: [item] }, num: 5 };
          same(
            `after the node's return: ${item}`,
            await answers.recommend(request),
            await model.recommend(request),
          );
        }
      });
    } finally {
      await client.indices.delete({
        index: `cl-${tag}-*`,
        ignore_unavailable: true,
      }).catch(() => {});
      await client.close();
      if (!cluster.reused) await stopLocalNode({ name: NAME });
    }
  },
});
