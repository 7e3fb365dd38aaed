/**
 * `deno task bench:serving`: query speed of the embedded backend, of
 * Elasticsearch (ES_URL) at 1, 8 and 32 concurrent clients, and of the HTTP
 * service over loopback, on the indicators of the generated full-size
 * RetailRocket-shaped log with 20-item histories. Prints a table and writes
 * JSON (`bench/results/serving-<time>.json`).
 *
 * @module
 */

import { createClient } from "../elasticsearch/client.ts";
import { resolveEsUrl } from "../elasticsearch/connection.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { readEventBatches } from "../events/read.ts";
import { createHandler } from "../http/handler.ts";
import { buildIndicators } from "../indicators/build.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import type { Recommender, RecommendRequest } from "../serving/request.ts";
import { numberFlag, parseFlags, run } from "../cli/common.ts";
import { ensureSynthLog, mulberry32 } from "../generate/retailrocket.ts";

const HELP = `
deno task bench:serving [--scale X] [--queries N]

Builds the indicators of the generated RetailRocket-shaped log (--scale,
default 1 = 2.76M events), then measures 20-item history queries: the
embedded backend single-threaded; with ES_URL, Elasticsearch directly at 1,
8 and 32 concurrent clients and the HTTP service (deno task serve's handler)
over loopback at 8 clients.

  --scale X     size of the generated log (default 1)
  --queries N   queries per measurement (default 2000)
`;

interface Row {
  target: string;
  clients: number;
  queries: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
}

const root = new URL("..", import.meta.url).pathname;

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

async function load(
  target: string,
  clients: number,
  requests: RecommendRequest[],
  call: (r: RecommendRequest) => Promise<unknown>,
): Promise<Row> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const t = performance.now();
        await call(r);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    target,
    clients,
    queries: requests.length,
    qps: Math.round(requests.length / seconds),
    p50Ms: +percentile(latencies, 0.5).toFixed(2),
    p99Ms: +percentile(latencies, 0.99).toFixed(2),
  };
}

await run(async () => {
  const flags = parseFlags({
    scale: { type: "string", default: "1" },
    queries: { type: "string", default: "2000" },
  }, HELP);
  const scale = numberFlag("scale", flags.scale, false)!;
  const n = numberFlag("queries", flags.queries)!;
  const path = await ensureSynthLog(`${root}out`, scale);
  console.error("building indicators ...");
  // Histories: the 20 most recent distinct items of users with >= 20 events.
  const byUser = new Map<string, { item: string; event: string }[]>();
  async function* remember() {
    for await (const batch of readEventBatches(path)) {
      for (const e of batch) {
        const list = byUser.get(e.user);
        if (list) list.push(e);
        else byUser.set(e.user, [e]);
      }
      yield batch;
    }
  }
  const model = await buildIndicators(remember(), {
    primaryEvent: "transaction",
  });
  const rnd = mulberry32(5);
  const heavy = [...byUser.values()].filter((l) =>
    new Set(l.map((e) => e.item)).size >= 20
  );
  const requests: RecommendRequest[] = Array.from({ length: n }, () => {
    const events = heavy[Math.floor(rnd() * heavy.length)];
    const history: Record<string, string[]> = {};
    const seen = new Set<string>();
    for (let i = events.length - 1; i >= 0 && seen.size < 20; i--) {
      const { item, event } = events[i];
      if (seen.has(item)) continue;
      seen.add(item);
      (history[event] ??= []).push(item);
    }
    return { history, num: 10 };
  });
  byUser.clear();
  console.error(`${heavy.length} users with 20-item histories; measuring ...`);
  const rows: Row[] = [];
  const embedded = new EmbeddedRecommender(model);
  for (const r of requests.slice(0, 100)) await embedded.recommend(r); // warm up
  rows.push(await load("embedded", 1, requests, (r) => embedded.recommend(r)));

  const url = resolveEsUrl();
  if (url) {
    const client = createClient({ node: url });
    const alias = "bench-serving";
    await publishIndex(client, alias, model, { keep: 1 });
    const es = new ElasticsearchRecommender(client, alias);
    for (const r of requests.slice(0, 200)) await es.recommend(r); // warm up
    for (const clients of [1, 8, 32]) {
      rows.push(
        await load("elasticsearch", clients, requests, (r) => es.recommend(r)),
      );
    }
    const server = Deno.serve(
      { hostname: "127.0.0.1", port: 0, onListen: () => {} },
      createHandler({
        recommender: es as Recommender,
        backend: "elasticsearch",
        log: () => {},
      }),
    );
    const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
    rows.push(
      await load("http → elasticsearch", 8, requests, async (r) => {
        const res = await fetch(`${base}/recommendations`, {
          method: "POST",
          body: JSON.stringify(r),
        });
        await res.arrayBuffer();
      }),
    );
    await server.shutdown();
    await client.indices.delete({ index: `${alias}_*` });
    await client.close();
  } else {
    console.error("ES_URL unset: Elasticsearch and HTTP rows skipped");
  }
  const header = [
    "target",
    "clients",
    "queries",
    "queries/s",
    "p50 ms",
    "p99 ms",
  ];
  const cells = rows.map((r) =>
    [r.target, r.clients, r.queries, r.qps, r.p50Ms, r.p99Ms].map(String)
  );
  const widths = header.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => c[i].length))
  );
  const line = (c: string[]) =>
    "| " + c.map((x, i) =>
      i ? x.padStart(widths[i]) : x.padEnd(widths[i])
    ).join(" | ") + " |";
  console.log(
    [
      line(header),
      "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
      ...cells.map(line),
    ].join("\n"),
  );
  const file = `${root}bench/results/serving-${
    new Date().toISOString().replace(/[:.]/g, "-")
  }.json`;
  await Deno.mkdir(`${root}bench/results`, { recursive: true });
  await Deno.writeTextFile(
    file,
    JSON.stringify({ date: new Date().toISOString(), scale, rows }, null, 2) +
      "\n",
  );
  console.error(`wrote ${file}`);
});
