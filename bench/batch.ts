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
  recommendBatch,
  recommendBatchFile,
} from "../serving/batch.ts";
import { histories } from "../evaluate/evaluate.ts";
import type { Event } from "../events/format.ts";
import { cpuUsage } from "node:process";
import { numberFlag, parseFlags, run, weightingFlag } from "../cli/common.ts";

const HELP = `
deno task bench:batch [--requests N] [--weights W] [--max-indicators N]
  [--workers N]

Builds a MovieLens-100k model (../shared/datasets/movielens-100k, every
rating one "like" event, default build settings unless given), then scores
N requests (default 100000: the 943 users' whole histories, repeated)
through recommendBatch in memory and through the NDJSON file path of
recommend --batch (recommendBatchFile), each with 1 worker (this thread)
and with --workers (default: the cores, at most 8). Prints users/s by the
wall clock and by the process's CPU time.
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
    } users/s of CPU time (${cpu.toFixed(2)} s, ${
      (cpu * 1e6 / n).toFixed(0)
    } µs a user)`,
  );
}

async function main(): Promise<void> {
  const flags = parseFlags({
    requests: { type: "string" },
    weights: { type: "string" },
    "max-indicators": { type: "string" },
    workers: { type: "string" },
  }, HELP);
  const workers = numberFlag("workers", flags.workers) ??
    Math.min(8, navigator.hardwareConcurrency);
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
  const cores = navigator.hardwareConcurrency;
  const counts = [1, ...(workers === 1 ? [] : [workers])];
  // warm up, then measure
  for await (
    const _ of recommendBatch(recommender, requests.slice(0, 2000), {
      workers: 1,
    })
  );
  for (const w of counts) {
    const t = performance.now();
    const cpu = cpuUsage();
    let n = 0;
    for await (
      const _ of recommendBatch(recommender, requests, { workers: w })
    ) n++;
    report(`recommendBatch (in memory), ${w} worker(s)`, n, t, cpu);
  }
  const dir = await Deno.makeTempDir();
  try {
    const input = `${dir}/users.ndjson`;
    await Deno.writeTextFile(
      input,
      requests.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    for (const w of counts) {
      const output = await Deno.open(`${dir}/out.ndjson`, {
        write: true,
        create: true,
        truncate: true,
      });
      const t = performance.now();
      const cpu = cpuUsage();
      let n = 0;
      for await (
        const out of recommendBatchFile(recommender, input, { workers: w })
      ) {
        for (let at = 0; at < out.bytes.length;) {
          at += await output.write(out.bytes.subarray(at));
        }
        n += out.results;
      }
      output.close();
      report(`NDJSON file in, JSON lines out, ${w} worker(s)`, n, t, cpu);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
  console.log(`(${cores} cores; CPU time counts every thread of the process)`);
}

if (import.meta.main) await run(main);
