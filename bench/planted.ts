/**
 * `deno task bench:planted`: does the build recover the structure planted
 * in the generated RetailRocket-shaped log? For each indicator field, the
 * share of indicators in the same latent category as their item, against
 * the share two random items would have by chance.
 *
 * @module
 */

import { readEventBatches } from "../lib/events.ts";
import { buildIndicators } from "../lib/indicators.ts";
import { ensureSynthLog, SynthLog } from "./retailrocket_synth.ts";

const scale = Number(Deno.args[0] ?? 1);
if (Deno.args.includes("-h") || Deno.args.includes("--help")) {
  console.log("deno task bench:planted [SCALE]   (default 1: 2.76M events)");
  Deno.exit(0);
}
if (!(scale > 0)) {
  console.error(
    `error: SCALE must be a positive number, got "${Deno.args[0]}"`,
  );
  Deno.exit(1);
}
const out = new URL("../out", import.meta.url).pathname;
const path = await ensureSynthLog(out, scale);
const log = new SynthLog({ scale });
console.error(`building indicators of ${path} ...`);
const { documents, fields } = await buildIndicators(readEventBatches(path));
const sizes = new Map<number, number>();
for (const d of documents) {
  const k = log.categoryOf(+d.id);
  sizes.set(k, (sizes.get(k) ?? 0) + 1);
}
const n = documents.length;
let chance = 0;
for (const s of sizes.values()) chance += s * (s - 1) / (n * (n - 1));
console.log("| field | indicators | same category | × chance |");
console.log("| --- | --- | --- | --- |");
for (const field of fields) {
  let kept = 0, same = 0;
  for (const d of documents) {
    for (const other of (d as unknown as Record<string, string[]>)[field]) {
      kept++;
      if (log.categoryOf(+d.id) === log.categoryOf(+other)) same++;
    }
  }
  const share = kept ? same / kept : 0;
  console.log(
    `| ${field} | ${kept} | ${(share * 100).toFixed(1)}% | ${
      (share / chance).toFixed(0)
    } |`,
  );
}
console.log(
  `\nchance that two random items share a category: ${
    (chance * 100).toFixed(2)
  }%`,
);
