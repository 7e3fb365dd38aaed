/**
 * `deno task bench:planted`: does the build recover the structure planted
 * in the generated RetailRocket-shaped log? For each indicator field, the
 * share of indicators in the same latent category as their item, against
 * the share two random items would have by chance.
 *
 * @module
 */

import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import {
  ensureSynthLog,
  plantedRecovery,
  SynthLog,
} from "../generate/retailrocket.ts";

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
const { documents, fields } = await buildIndicators(readEventBatches(path), {
  primaryEvent: "transaction",
});
console.log("| field | indicators | same category | × chance |");
console.log("| --- | --- | --- | --- |");
let chance = 0;
for (const field of fields) {
  const r = plantedRecovery(log, documents, field);
  chance = r.chance;
  const share = r.kept ? r.same / r.kept : 0;
  console.log(
    `| ${field} | ${r.kept} | ${(share * 100).toFixed(1)}% | ${
      (share / r.chance).toFixed(0)
    } |`,
  );
}
console.log(
  `\nchance that two random items share a category: ${
    (chance * 100).toFixed(2)
  }%`,
);
