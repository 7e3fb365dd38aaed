import assert from "node:assert/strict";
import { searchTypeFor } from "./recommender.ts";
import {
  defaultShards,
  indexDocuments,
  INDICATORS_PER_SHARD,
} from "./indexing.ts";
import type { Client } from "./client.ts";
import { manifestFor } from "../model/manifest.ts";

Deno.test("defaultShards: one shard per INDICATORS_PER_SHARD indicators, over every field", () => {
  const at = (n: number, m = 0) => {
    const manifest = manifestFor([{
      id: "x",
      indicators: [],
      indicators_view: [],
    }], { primaryEvent: "buy" });
    // the counts the manifest records, as a huge model would have them
    for (const f of manifest.fields) {
      (f as { indicators: number }).indicators = f.name === "indicators"
        ? n
        : m;
    }
    return defaultShards(manifest);
  };
  assert.equal(at(0), 1);
  assert.equal(at(INDICATORS_PER_SHARD), 1);
  assert.equal(at(INDICATORS_PER_SHARD, 1), 2);
  assert.equal(at(2 * INDICATORS_PER_SHARD, 1), 3);
});

Deno.test("searchTypeFor: DFS only for keyword fields on several shards", () => {
  assert.equal(searchTypeFor(1, ["keyword"]), "query_then_fetch");
  assert.equal(searchTypeFor(2, ["keyword"]), "dfs_query_then_fetch");
  assert.equal(
    searchTypeFor(5, ["sparse_vector", "keyword"]),
    "dfs_query_then_fetch",
  );
  assert.equal(searchTypeFor(5, ["sparse_vector"]), "query_then_fetch");
  assert.equal(searchTypeFor(5, []), "query_then_fetch");
});

Deno.test("indexDocuments refuses bad shard and replica counts before any request", async () => {
  const client = {} as Client; // any call would throw
  const model = {
    manifest: manifestFor([], { primaryEvent: "buy" }),
    documents: [],
  };
  for (
    const [options, message] of [
      [{ shards: 0 }, "shards must be an integer from 1 to 1024, got 0"],
      [{ shards: 1.5 }, "shards must be an integer from 1 to 1024, got 1.5"],
      [{ shards: 1025 }, "shards must be an integer from 1 to 1024, got 1025"],
      [{ replicas: -1 }, "replicas must be an integer >= 0, got -1"],
    ] as const
  ) {
    await assert.rejects(
      () => indexDocuments(client, "x", model, options),
      { name: "IndexingError", message },
    );
  }
});

Deno.test("a failed re-read of the manifest serves from the one read before (a cluster electing a master answers mappings with 503)", async () => {
  const { ElasticsearchRecommender } = await import("./recommender.ts");
  const manifest = manifestFor([{ id: "a", indicators: ["b"] }], {
    primaryEvent: "buy",
  });
  let mappingCalls = 0;
  const client = {
    indices: {
      getMapping() {
        mappingCalls++;
        if (mappingCalls > 1) {
          return Promise.reject(
            Object.assign(new Error("master_not_discovered_exception"), {
              meta: { statusCode: 503 },
            }),
          );
        }
        return Promise.resolve({
          "items_1": { mappings: { _meta: { cco: { manifest } } } },
        });
      },
      getSettings() {
        return Promise.resolve({
          "items_1": { settings: { index: { number_of_shards: "1" } } },
        });
      },
    },
    search() {
      return Promise.resolve({
        hits: { hits: [{ _id: "a", _score: 1.5 }] },
        _shards: { total: 1, failed: 0 },
      });
    },
  } as unknown as Client;
  const r = new ElasticsearchRecommender(client, "items", {
    manifestTtlMs: 0,
  });
  const request = { history: { buy: ["b"] }, backfill: false };
  assert.deepEqual(await r.recommend(request), [{ id: "a", score: 1.5 }]);
  // the TTL has passed: the re-read fails, the cached model answers
  assert.deepEqual(await r.recommend(request), [{ id: "a", score: 1.5 }]);
  assert.ok(mappingCalls >= 2);
});
