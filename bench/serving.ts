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
import { createHandler } from "../http/handler.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import type { Recommender } from "../serving/request.ts";
import { numberFlag, parseFlags, run } from "../cli/common.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";
import { load, modelAndRequests, type Row, table } from "./_load.ts";

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

const root = new URL("..", import.meta.url).pathname;

await run(async () => {
  const flags = parseFlags({
    scale: { type: "string", default: "1" },
    queries: { type: "string", default: "2000" },
  }, HELP);
  const scale = numberFlag("scale", flags.scale, false)!;
  const n = numberFlag("queries", flags.queries)!;
  const path = await ensureSynthLog(`${root}out`, scale);
  console.error("building indicators ...");
  const { model, requests, users } = await modelAndRequests(path, n);
  console.error(`${users} users with 20-item histories; measuring ...`);
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
  console.log(table(
    ["target", "clients", "queries", "queries/s", "p50 ms", "p99 ms"],
    rows.map((r) =>
      [r.target, r.clients, r.queries, r.qps, r.p50Ms, r.p99Ms].map(String)
    ),
  ));
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
