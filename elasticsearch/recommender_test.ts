import assert from "node:assert/strict";
import {
  defaultShards,
  indexDocuments,
  INDICATORS_PER_SHARD,
  searchTypeFor,
} from "./recommender.ts";
import type { ElasticsearchClient } from "./connection.ts";

Deno.test("defaultShards: one shard per INDICATORS_PER_SHARD indicators, over every field", () => {
  // holey arrays: only their length counts, and they take no memory
  const at = (n: number, m = 0) =>
    defaultShards([{
      id: "x",
      indicators: new Array<string>(n),
      indicators_view: new Array<string>(m),
    }]);
  assert.equal(defaultShards([]), 1);
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
  const client = {} as ElasticsearchClient; // any call would throw
  for (
    const [options, message] of [
      [{ shards: 0 }, "shards must be an integer from 1 to 1024, got 0"],
      [{ shards: 1.5 }, "shards must be an integer from 1 to 1024, got 1.5"],
      [{ replicas: -1 }, "replicas must be an integer >= 0, got -1"],
    ] as const
  ) {
    await assert.rejects(
      () => indexDocuments(client, "x", [], options),
      { name: "IndexingError", message },
    );
  }
});
