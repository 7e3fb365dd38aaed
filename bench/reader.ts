/**
 * `deno task bench:reader [SCALE | FILE] [--runs N]`: how fast the events
 * reader parses a log on one core. Reads the file with
 * `readEventColumns` (this thread, no worker) `N` times (default 5) and
 * prints the best run in events per second, beside a plain byte loop
 * counting line breaks over the same bytes in memory (the floor for any
 * JavaScript reader). Default: the generated RetailRocket-shaped log of
 * scale 1 (2.76M events, written to out/ on first use). The file is read
 * once before timing, so that it is in the page cache.
 *
 * @module
 */

import { readEventColumns } from "../events/read.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";

const args = [...Deno.args];
if (args.includes("-h") || args.includes("--help")) {
  console.log(
    "deno task bench:reader [SCALE | FILE] [--runs N]   (default scale 1, 5 runs)",
  );
  Deno.exit(0);
}
let runs = 5;
const r = args.indexOf("--runs");
if (r >= 0) {
  runs = Number(args[r + 1]);
  args.splice(r, 2);
  if (!(Number.isInteger(runs) && runs > 0)) {
    console.error(`error: --runs must be a positive integer`);
    Deno.exit(1);
  }
}
const target = args[0] ?? "1";
let path = target;
if (/^[0-9.]+$/.test(target)) {
  const scale = Number(target);
  if (!(scale > 0)) {
    console.error(`error: SCALE must be a positive number, got "${target}"`);
    Deno.exit(1);
  }
  path = await ensureSynthLog(
    new URL("../out", import.meta.url).pathname,
    scale,
  );
}

const bytes = await Deno.readFile(path);
const lineBreaks = (b: Uint8Array) => {
  let n = 0;
  for (let i = 0; i < b.length; i++) if (b[i] === 10) n++;
  return n;
};
let loopMs = Infinity;
for (let i = 0; i < 3; i++) {
  const t = performance.now();
  lineBreaks(bytes);
  loopMs = Math.min(loopMs, performance.now() - t);
}

let best = Infinity, events = 0;
for (let i = 0; i < runs; i++) {
  const t = performance.now();
  let n = 0;
  for await (const batch of readEventColumns(path)) n += batch.length;
  const ms = performance.now() - t;
  console.error(`run ${i + 1}: ${n} events in ${ms.toFixed(0)} ms`);
  best = Math.min(best, ms);
  events = n;
}
const mb = bytes.length / 1e6;
console.log(
  "| file | MB | events | best of | read ms | M events/s | byte loop ms |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- |");
console.log(
  `| ${path.split("/").pop()} | ${mb.toFixed(0)} | ${events} | ${runs} | ${
    best.toFixed(0)
  } | ${(events / best / 1000).toFixed(2)} | ${loopMs.toFixed(0)} |`,
);
