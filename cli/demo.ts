/**
 * `deno task demo`: the whole pipeline on the bundled shop log, with the
 * embedded backend (no server needed). Reads `fixtures/demo_events.csv`,
 * computes purchase indicators with the default settings, and prints a few
 * visitors' purchases next to what cco-es recommends them.
 *
 * @module
 */

// Imports lib modules directly (not mod.ts) so the demo does not load the
// Elasticsearch client: it needs no server and no permission beyond reading.
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEvents } from "../events/read.ts";
import {
  buildIndicators,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MIN_ROOT_LLR,
} from "../indicators/build.ts";
import { parseFlags, run } from "./common.ts";
import { PRESETS } from "../events/format.ts";

const HELP = `
deno task demo [--users N]

Builds purchase-based LLR indicators from the bundled shop log
(fixtures/demo_events.csv, RetailRocket format) and prints recommendations
for a few visitors with the embedded backend. No server needed.

  --users N   how many visitors to show (default 3)
  -h, --help  this text
`;

const fixture = (name: string) =>
  new URL(`../fixtures/${name}`, import.meta.url).pathname;

/**
 * Runs `demo` with command-line arguments.
 *
 * @param args The arguments after the command name.
 */
export async function demoCommand(args: string[]): Promise<void> {
  const flags = parseFlags(
    { users: { type: "string", default: "3" } },
    HELP,
    args,
  );
  const show = Number(flags.users);
  const names = new Map<string, string>();
  for (
    const line of (await Deno.readTextFile(fixture("demo_items.csv")))
      .trim().split("\n").slice(1)
  ) {
    const [id, name] = line.split(",");
    names.set(id, name);
  }
  const label = (id: string) => `${names.get(id) ?? "?"} (${id})`;

  const eventsPath = fixture("demo_events.csv");
  console.log(`Reading ${eventsPath.split("/").slice(-2).join("/")} ...`);
  const purchases = new Map<string, { item: string; timestamp: number }[]>();
  async function* remember() {
    for await (const e of readEvents(eventsPath)) {
      if (e.event === PRESETS.retailrocket.primaryEvent) {
        const list = purchases.get(e.user) ?? [];
        list.push({ item: e.item, timestamp: e.timestamp });
        purchases.set(e.user, list);
      }
      yield e;
    }
  }
  const primaryEvent = PRESETS.retailrocket.primaryEvent;
  const model = await buildIndicators(remember(), { primaryEvent });
  const { documents, stats, fields } = model;
  const bought = stats.fields.indicators;
  const counts = Object.entries(stats.eventsRead)
    .map(([type, n]) => `${n.toLocaleString("en")} ${type}`).join(", ");
  console.log(
    `  ${counts}; ${stats.users} visitors, ${stats.items} items`,
  );
  console.log(
    `Purchase indicators (LLR, top ${DEFAULT_MAX_INDICATORS_PER_ITEM} per item, root LLR >= ${DEFAULT_MIN_ROOT_LLR}): ` +
      `${bought.pairsScored} co-purchased pairs scored, ${bought.indicatorsKept} kept`,
  );
  console.log(
    `All fields (${
      (stats.millis.read + stats.millis.indicators).toFixed(0)
    } ms): ` +
      fields.map((f) => `${f} ${stats.fields[f].indicatorsKept}`).join(", "),
  );

  const strongest = documents
    .filter((d) => d.indicators.length > 0)
    .sort((a, b) => b.scores.indicators[0] - a.scores.indicators[0])
    .slice(0, 3);
  console.log("\nStrongest indicators (bought together far more than chance):");
  for (const d of strongest) {
    const top = d.indicators.slice(0, 3).map((id, i) =>
      `${label(id)} ${d.scores.indicators[i].toFixed(1)}`
    );
    console.log(`  ${label(d.id)} -> ${top.join(", ")}`);
  }

  const recommender = new EmbeddedRecommender(model);
  const visitors = [...purchases.entries()]
    .filter(([, list]) => new Set(list.map((p) => p.item)).size >= 2)
    .sort(([a], [b]) => Number(a) - Number(b))
    .slice(0, show);
  console.log(
    "\nRecommendations from each visitor's purchase history (embedded backend):",
  );
  for (const [visitor, list] of visitors) {
    const history = list.sort((a, b) => b.timestamp - a.timestamp)
      .map((p) => p.item);
    const recs = await recommender.recommend({ history, num: 5 });
    console.log(
      `\n  visitor ${visitor} bought: ${
        [...new Set(history)].map(label).join(", ")
      }`,
    );
    if (recs.length === 0) console.log("    (no indicator matches)");
    recs.forEach((r, i) =>
      console.log(
        `    ${i + 1}. ${label(r.id).padEnd(30)} ${
          r.backfill ? "(popular: backfill)" : `score ${r.score.toFixed(3)}`
        }`,
      )
    );
  }
  console.log(
    "\nNext: `deno task build-index --events <file>` indexes into Elasticsearch (ES_URL);",
  );
  console.log("see README.md.");
}

if (import.meta.main) await run(() => demoCommand(Deno.args));
