/**
 * `deno task bench:cluster`: serving and indexing on one local node against
 * a local 3-node cluster, all on this machine. Starts each cluster itself
 * (`startLocalNode`, heap `--heap` per node), one after the other, and
 * measures on the indicators of the generated RetailRocket-shaped log:
 *
 * - indexing documents/s with 1 and 3 shards (and, on 3 nodes, 3 shards
 *   with 1 replica);
 * - queries/s, p50 and p99 at 8 and 32 clients: 1 node (1 shard) against
 *   3 nodes (3 shards, 1 replica, the client given every node);
 * - on 3 shards, unweighted (`keyword`) fields with per-shard statistics
 *   against `dfs_query_then_fetch` (the cost of shard-independent BM25).
 *
 * The nodes share the machine's cores with each other and with the load
 * generator, so the 3-node figures show the overhead of distribution, not
 * its gain. Prints tables and writes JSON (`bench/results/cluster-*.json`).
 *
 * @module
 */

import { type Client, createClient } from "../elasticsearch/client.ts";
import { indexDocuments } from "../elasticsearch/indexing.ts";
import {
  ElasticsearchRecommender,
  type SearchType,
} from "../elasticsearch/recommender.ts";
import {
  type LocalNode,
  startLocalNode,
  stopLocalNode,
} from "../elasticsearch/local_node.ts";
import type { Model } from "../model/manifest.ts";
import type { RecommendRequest } from "../serving/request.ts";
import { numberFlag, parseFlags, run } from "../cli/common.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";
import { load, modelAndRequests, type Row, table } from "./_load.ts";

const HELP = `
deno task bench:cluster [--scale X] [--queries N] [--heap H]

Starts a local 1-node cluster, then a local 3-node cluster (own names, ports
and data; stopped afterwards), and measures on each the indexing of the
generated RetailRocket-shaped log's indicators (1 and 3 shards) and 20-item
history queries at 8 and 32 clients (1 shard on 1 node; 3 shards with 1
replica on 3 nodes), plus per-shard vs global (DFS) BM25 statistics on
unweighted fields. Everything runs on this machine: the 3-node figures show
the overhead of distribution, not its gain.

  --scale X     size of the generated log (default 1 = 2.76M events)
  --queries N   queries per measurement (default 2000)
  --heap H      heap per node (default 512m)
`;

interface IndexRow {
  fields: string;
  nodes: number;
  shards: number;
  replicas: number;
  documents: number;
  seconds: number;
  docsPerSecond: number;
  primaryBytes: number;
}

const root = new URL("..", import.meta.url).pathname;

function log(message: string) {
  console.error(`[bench] ${message}`);
}

await run(async () => {
  const flags = parseFlags({
    scale: { type: "string", default: "1" },
    queries: { type: "string", default: "2000" },
    heap: { type: "string", default: "512m" },
  }, HELP);
  const scale = numberFlag("scale", flags.scale, false)!;
  const n = numberFlag("queries", flags.queries)!;
  const path = await ensureSynthLog(`${root}out`, scale);
  log("building indicators (weighted and unweighted) ...");
  const { model: weighted, requests, users } = await modelAndRequests(path, n);
  const { model: keyword } = await modelAndRequests(path, 0, "none");
  const documents = weighted.manifest.counts.documents;
  const indicators = weighted.manifest.fields.reduce(
    (sum, f) => sum + f.indicators,
    0,
  );
  log(
    `${documents} documents, ${indicators} indicators; ${users} users with 20-item histories`,
  );

  const indexing: IndexRow[] = [];
  const queries: (Row & { nodes: number; shards: number; replicas: number })[] =
    [];

  async function indexRow(
    client: Client,
    nodes: number,
    shards: number,
    replicas: number,
    index: string,
    model: Model,
  ) {
    const result = await indexDocuments(client, index, model, {
      shards,
      replicas,
      replace: true,
    });
    const [row] = await client.cat.indices({
      index,
      format: "json",
      bytes: "b",
      h: ["pri.store.size"],
    });
    const r: IndexRow = {
      fields: model.manifest.fields.some((f) => f.weights === "none")
        ? "keyword"
        : "weighted",
      nodes,
      shards,
      replicas,
      documents: result.documents,
      seconds: +(result.millis / 1000).toFixed(2),
      docsPerSecond: Math.round(result.documents / (result.millis / 1000)),
      primaryBytes: Number(row["pri.store.size"]),
    };
    log(JSON.stringify(r));
    indexing.push(r);
  }

  async function queryRows(
    client: Client,
    nodes: number,
    shards: number,
    replicas: number,
    index: string,
    label: string,
    clientCounts: number[],
    searchType?: SearchType,
    sample: RecommendRequest[] = requests,
  ) {
    const es = new ElasticsearchRecommender(client, index, { searchType });
    for (const r of sample.slice(0, 200)) await es.recommend(r); // warm up
    for (const clients of clientCounts) {
      const row = await load(label, clients, sample, (r) => es.recommend(r));
      log(JSON.stringify(row));
      queries.push({ ...row, nodes, shards, replicas });
    }
  }

  async function withCluster(
    nodes: number,
    fn: (client: Client, cluster: LocalNode) => Promise<void>,
  ) {
    const name = `bench-${nodes}`;
    const cluster = await startLocalNode({ name, nodes, heap: flags.heap });
    const client = createClient({
      node: cluster.urls,
      requestTimeout: 120_000,
      maxRetries: 2,
    });
    try {
      await fn(client, cluster);
    } finally {
      await client.close();
      if (!cluster.reused) await stopLocalNode({ name });
    }
  }

  await withCluster(1, async (client) => {
    await indexRow(client, 1, 1, 0, "bench-w1", weighted);
    await indexRow(client, 1, 3, 0, "bench-w3", weighted);
    await client.indices.delete({ index: "bench-w3" });
    await queryRows(client, 1, 1, 0, "bench-w1", "weighted", [8, 32]);
  });
  await withCluster(3, async (client) => {
    await indexRow(client, 3, 1, 0, "bench-w1", weighted);
    await client.indices.delete({ index: "bench-w1" });
    await indexRow(client, 3, 3, 0, "bench-w3", weighted);
    await client.indices.delete({ index: "bench-w3" });
    await indexRow(client, 3, 3, 1, "bench-w31", weighted);
    await client.cluster.health({ wait_for_status: "green", timeout: "120s" });
    await queryRows(client, 3, 3, 1, "bench-w31", "weighted", [8, 32]);
    await indexRow(client, 3, 3, 1, "bench-k31", keyword);
    await client.cluster.health({ wait_for_status: "green", timeout: "120s" });
    for (const type of ["query_then_fetch", "dfs_query_then_fetch"] as const) {
      await queryRows(
        client,
        3,
        3,
        1,
        "bench-k31",
        `keyword, ${type}`,
        [8],
        type,
      );
    }
  });

  console.log(table(
    [
      "nodes",
      "shards",
      "replicas",
      "fields",
      "documents",
      "s",
      "docs/s",
      "primary MiB",
    ],
    indexing.map((r) =>
      [
        r.nodes,
        r.shards,
        r.replicas,
        r.fields,
        r.documents,
        r.seconds,
        r.docsPerSecond,
        (r.primaryBytes / 2 ** 20).toFixed(1),
      ].map(String)
    ),
  ));
  console.log();
  console.log(table(
    [
      "nodes",
      "shards",
      "replicas",
      "fields",
      "clients",
      "queries/s",
      "p50 ms",
      "p99 ms",
    ],
    queries.map((r) =>
      [
        r.nodes,
        r.shards,
        r.replicas,
        r.target,
        r.clients,
        r.qps,
        r.p50Ms,
        r.p99Ms,
      ].map(String)
    ),
  ));
  const file = `${root}bench/results/cluster-${
    new Date().toISOString().replace(/[:.]/g, "-")
  }.json`;
  await Deno.mkdir(`${root}bench/results`, { recursive: true });
  await Deno.writeTextFile(
    file,
    JSON.stringify(
      {
        date: new Date().toISOString(),
        scale,
        heap: flags.heap,
        documents,
        indicators,
        indexing,
        queries,
      },
      null,
      2,
    ) + "\n",
  );
  log(`wrote ${file}`);
});
