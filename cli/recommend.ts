/**
 * `cco recommend` (`deno task recommend`): recommendations for one history
 * or request, from an exported model, a model built from events, or
 * Elasticsearch (see `_backend.ts` for the order).
 *
 * @module
 */

import { ConfigError, messageOf, RequestError } from "../errors/mod.ts";
import type { RecommendRequest } from "../serving/request.ts";
import { type BatchOutput, recommendBatchFile } from "../serving/batch.ts";
import { loadSettings } from "../config/settings.ts";
import { numberFlag, parseFlags, run } from "./common.ts";
import { EVENT_FORMAT_FLAGS, EVENT_FORMAT_HELP } from "./_format.ts";
import { BUILD_FLAGS } from "./_build_options.ts";
import { openBackend, servingOptionsOf } from "./_backend.ts";

const HELP = `
deno task recommend --history ITEM[,ITEM...] [options]
deno task recommend --request '{"history":{"transaction":["1"],"view":["2"]},
  "filters":[{"field":"available","value":true}],"num":5,"explain":true}'
deno task recommend --batch users.ndjson [--out results.ndjson]

Prints the items recommended for a history of the model's primary event
(most recent item first), or for a full request (per-event-type history,
item/items, filters, boosts, exclude, excludeSeen, dateRange, from, num,
backfill, explain: see README). With --batch, answers one request per
line of an NDJSON file ({"user": "u1", "history": {...}, ...request keys})
in one process and writes one JSON line per request, in input order:
{"user": "u1", "items": [...], "scores": [...]}, or {"user", "error"} for a
request refused as malformed (the batch goes on; the exit status is 1).

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
  --batch FILE            NDJSON requests, one per line with a "user" (.gz ok)
  --out FILE              --batch: write the results here (default stdout)
  --concurrency N         --batch: requests in flight (Elasticsearch;
                          default 16)
  --workers N             --batch: threads scoring (embedded; default the
                          cores, at most 8; 1 = this thread)
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
  batch: { type: "string" },
  out: { type: "string" },
  concurrency: { type: "string" },
  workers: { type: "string" },
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
  let request: RecommendRequest | undefined;
  const exclusive = [
    ["--request", flags.request],
    ["--history", flags.history],
    ["--batch", flags.batch],
  ].filter(([, v]) => v !== undefined).map(([k]) => k);
  if (exclusive.length > 1) {
    throw new ConfigError(exclusive[0]!, `and ${exclusive[1]} are exclusive`);
  }
  if (flags.batch === undefined) {
    for (const flag of ["out", "concurrency", "workers"] as const) {
      if (flags[flag] !== undefined) {
        throw new ConfigError(`--${flag}`, "needs --batch");
      }
    }
  }
  const concurrency = numberFlag("concurrency", flags.concurrency);
  if (concurrency !== undefined && concurrency < 1) {
    throw new ConfigError("--concurrency", "must be at least 1");
  }
  const workers = numberFlag("workers", flags.workers);
  if (workers !== undefined && workers < 1) {
    throw new ConfigError("--workers", "must be at least 1");
  }
  if (flags.batch !== undefined) {
    await Deno.stat(flags.batch).catch((e) => {
      throw new ConfigError("--batch", `${flags.batch}: ${messageOf(e)}`);
    });
  } else if (flags.request) {
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
      "ITEM[,ITEM...], --request JSON or --batch FILE is required (see --help)",
    );
  }
  const serving = servingOptionsOf(settings, {
    num: numberFlag("num", flags.num),
    maxQueryEvents: numberFlag("max-query-events", flags["max-query-events"]),
  });
  const backend = await openBackend(flags, settings, serving);
  try {
    if (flags.batch !== undefined) {
      if (workers !== undefined && backend.client) {
        throw new ConfigError("--workers", "needs the embedded backend");
      }
      const failed = await writeBatch(
        recommendBatchFile(backend.recommender, flags.batch, {
          concurrency: concurrency ?? (backend.client ? 16 : 1),
          ...(workers !== undefined ? { workers } : {}),
        }),
        flags.out,
      );
      if (failed > 0) {
        throw new RequestError(
          "",
          `${failed} request(s) of ${flags.batch} were refused (see their "error")`,
        );
      }
      return;
    }
    const recs = await backend.recommender.recommend(request!);
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

/**
 * Writes batch output (JSON lines) to `out` (default stdout), to a
 * temporary name renamed when complete.
 *
 * @param output The output.
 * @param out The file, or undefined for stdout.
 * @returns How many results were errors.
 */
async function writeBatch(
  output: AsyncIterable<BatchOutput>,
  out: string | undefined,
): Promise<number> {
  const temp = out === undefined ? undefined : `${out}.tmp-${Deno.pid}`;
  const file = temp === undefined ? undefined : await Deno.open(temp, {
    write: true,
    create: true,
    truncate: true,
  });
  const sink = file ?? Deno.stdout;
  let failed = 0;
  try {
    for await (const { bytes, failed: refused } of output) {
      failed += refused;
      for (let at = 0; at < bytes.length;) {
        at += await sink.write(bytes.subarray(at));
      }
    }
  } catch (error) {
    file?.close();
    if (temp) await Deno.remove(temp).catch(() => {});
    throw error;
  }
  if (file && temp && out) {
    file.close();
    await Deno.rename(temp, out);
  }
  return failed;
}

if (import.meta.main) await run(() => recommendCommand(Deno.args));
