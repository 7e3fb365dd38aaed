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
