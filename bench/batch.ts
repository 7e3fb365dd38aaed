/**
 * `deno task bench:batch`: batch scoring speed of the embedded backend on a
 * MovieLens-100k model (every rating one event, the library's default
 * build), each of the 943 users asking with their whole history:
 * `recommendBatch` over requests in memory, and `recommend --batch`'s
 * path (NDJSON file in, JSON lines out to a file). Prints users/s.
 *
 * @module
 */

import { readEventBatches } from "../events/read.ts";
import { PRESETS } from "../events/format.ts";
import { buildIndicators, type BuildOptions } from "../indicators/build.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import {
  type BatchRequest,
  readBatch,
  recommendBatch,
} from "../serving/batch.ts";
import { histories } from "../evaluate/evaluate.ts";
import type { Event } from "../events/format.ts";
import { cpuUsage } from "node:process";
import { numberFlag, parseFlags, run, weightingFlag } from "../cli/common.ts";

const HELP = `
deno task bench:batch [--requests N] [--weights W] [--max-indicators N]

Builds a MovieLens-100k model (../shared/datasets/movielens-100k, every
rating one "like" event, default build settings unless given), then scores
N requests (default 100000: the 943 users' whole histories, repeated)
through recommendBatch in memory and through the NDJSON file path of
recommend --batch. Prints users/s.
`;

// users/s by the wall clock and by the process's CPU time (user + system):
// on a shared machine the second says what the code costs
function report(
  what: string,
  n: number,
  t0: number,
  cpu0: { user: number; system: number },
): void {
  const wall = (performance.now() - t0) / 1000;
  const used = cpuUsage(cpu0);
  const cpu = (used.user + used.system) / 1e6;
  const rate = (s: number) => Math.round(n / s).toLocaleString("en");
  console.log(
    `${what}: ${rate(wall)} users/s wall (${wall.toFixed(2)} s), ${
      rate(cpu)
    } users/s of CPU time (${cpu.toFixed(2)} s)`,
  );
}

async function main(): Promise<void> {
  const flags = parseFlags({
    requests: { type: "string" },
    weights: { type: "string" },
    "max-indicators": { type: "string" },
  }, HELP);
  const total = numberFlag("requests", flags.requests) ?? 100_000;
  const root = new URL("..", import.meta.url).pathname;
  const path = `${root}../shared/datasets/movielens-100k/u.data.gz`;
  const events: Event[] = [];
  for await (const batch of readEventBatches(path, PRESETS.movielens)) {
    for (const e of batch) events.push({ ...e, event: "like" });
  }
  const options: BuildOptions = { primaryEvent: "like" };
  const weights = weightingFlag(flags.weights);
  if (weights) options.weights = weights;
  const k = numberFlag("max-indicators", flags["max-indicators"]);
  if (k !== undefined) options.maxIndicatorsPerItem = k;
  const t0 = performance.now();
  const model = await buildIndicators(events, options);
  console.log(
    `model: ${model.documents.length} documents, ${model.stats.indicatorsKept} indicators (${
      model.manifest.fields[0].weights
    }, top ${model.manifest.fields[0].maxIndicatorsPerItem}), built in ${
      ((performance.now() - t0) / 1000).toFixed(2)
    } s`,
  );
  const recommender = new EmbeddedRecommender(model);
  const users = [...histories(events)].map(([user, h]) => ({
    user,
    history: h.like.slice(0, 1024),
  }));
  const requests: BatchRequest[] = Array.from(
    { length: total },
    (_, i) => users[i % users.length],
  );
  const mean = users.reduce((n, u) => n + u.history.length, 0) / users.length;
  console.log(
    `${total} requests, ${mean.toFixed(0)} history items on average`,
  );
  // warm up, then measure
  for await (const _ of recommendBatch(recommender, requests.slice(0, 2000)));
  let t = performance.now();
  let cpu = cpuUsage();
  let n = 0;
  for await (const _ of recommendBatch(recommender, requests)) n++;
  report("recommendBatch (in memory)", n, t, cpu);
  const dir = await Deno.makeTempDir();
  try {
    const input = `${dir}/users.ndjson`;
    await Deno.writeTextFile(
      input,
      requests.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const output = await Deno.open(`${dir}/out.ndjson`, {
      write: true,
      create: true,
    });
    const encoder = new TextEncoder();
    t = performance.now();
    cpu = cpuUsage();
    n = 0;
    let buffer = "";
    for await (const r of recommendBatch(recommender, readBatch(input))) {
      buffer += JSON.stringify(r) + "\n";
      if (buffer.length >= 1 << 20) {
        await output.write(encoder.encode(buffer));
        buffer = "";
      }
      n++;
    }
    await output.write(encoder.encode(buffer));
    output.close();
    report("NDJSON file in, JSON lines out", n, t, cpu);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) await run(main);
