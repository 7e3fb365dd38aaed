/**
 * `cco recommend` (`deno task recommend`): recommendations for one history
 * or request, from an exported model, a model built from events, or
 * Elasticsearch (see `_backend.ts` for the order).
 *
 * @module
 */

import { ConfigError, messageOf } from "../errors/mod.ts";
import type { RecommendRequest } from "../serving/request.ts";
import { loadSettings } from "../config/settings.ts";
import { numberFlag, parseFlags, run } from "./common.ts";
import { EVENT_FORMAT_FLAGS, EVENT_FORMAT_HELP } from "./_format.ts";
import { BUILD_FLAGS } from "./_build_options.ts";
import { openBackend, servingOptionsOf } from "./_backend.ts";

const HELP = `
deno task recommend --history ITEM[,ITEM...] [options]
deno task recommend --request '{"history":{"transaction":["1"],"view":["2"]},
  "filters":[{"field":"available","value":true}],"num":5,"explain":true}'

Prints the items recommended for a history of the model's primary event
(most recent item first), or for a full request (per-event-type history,
item/items, filters, boosts, exclude, excludeSeen, dateRange, from, num,
backfill, explain: see README).

Backend, the first that applies:
  --indicators FILE|DIR   embedded, over an exported model (build-index --out)
  --events FILE           embedded, a model built from this events file now
                          (format flags below; build flags as build-index)
  --es-url URL / $ES_URL  Elasticsearch (or the settings' elasticsearch.url),
                          alias --alias (default "cco-items")

Options (flags override the settings file):
  --config FILE           settings file (default $CCO_CONFIG)
  --history LIST          comma-separated item ids of the primary event
  --request JSON          a whole request object instead of --history
  --num N                 number of results (default 10)
  --json                  print JSON instead of a table
  --es-config FILE        JSON connection settings (url, apiKey, username,
                          password, caCert, caFingerprint, requestTimeoutMs);
                          default $CCO_ES_CONFIG; ES_* variables override it
  --max-query-events N    history items used per event type
${EVENT_FORMAT_HELP}  -h, --help              this text
`;

const FLAGS = {
  config: { type: "string" },
  history: { type: "string" },
  request: { type: "string" },
  num: { type: "string" },
  json: { type: "boolean", default: false },
  "es-url": { type: "string" },
  "es-config": { type: "string" },
  alias: { type: "string" },
  indicators: { type: "string" },
  events: { type: "string" },
  items: { type: "string" },
  "max-query-events": { type: "string" },
  ...EVENT_FORMAT_FLAGS,
  ...BUILD_FLAGS,
} as const;

/**
 * Runs `recommend` with command-line arguments.
 *
 * @param args The arguments after the command name.
 */
export async function recommendCommand(args: string[]): Promise<void> {
  const flags = parseFlags(FLAGS, HELP, args);
  const settings = await loadSettings(flags.config);
  let request: RecommendRequest;
  if (flags.request) {
    if (flags.history) {
      throw new ConfigError("--history", "and --request are exclusive");
    }
    try {
      request = JSON.parse(flags.request);
    } catch (error) {
      throw new ConfigError("--request", `is not JSON: ${messageOf(error)}`);
    }
  } else if (flags.history) {
    request = {
      history: flags.history.split(",").map((s) => s.trim()).filter(Boolean),
    };
  } else {
    throw new ConfigError(
      "--history",
      "ITEM[,ITEM...] or --request JSON is required (see --help)",
    );
  }
  const serving = servingOptionsOf(settings, {
    num: numberFlag("num", flags.num),
    maxQueryEvents: numberFlag("max-query-events", flags["max-query-events"]),
  });
  const backend = await openBackend(flags, settings, serving);
  try {
    const recs = await backend.recommender.recommend(request);
    if (flags.json) {
      console.log(JSON.stringify(recs));
      return;
    }
    const manifest = await backend.recommender.manifest();
    console.log(
      `backend: ${backend.label}; primary "${manifest.primaryEvent}"; request: ${
        JSON.stringify(request)
      }`,
    );
    if (recs.length === 0) console.log("(no item's indicators match)");
    recs.forEach((r, i) =>
      console.log(
        `${String(i + 1).padStart(3)}. ${r.id.padEnd(20)} ${
          r.backfill ? "backfill (popular)" : r.score.toFixed(4)
        }${
          r.because
            ? `  because ${
              r.because.map((b) => `${b.field}:${b.item}`).join(" ")
            }`
            : ""
        }`,
      )
    );
  } finally {
    await backend.close();
  }
}

if (import.meta.main) await run(() => recommendCommand(Deno.args));
