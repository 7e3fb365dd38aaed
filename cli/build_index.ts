/**
 * `deno task build-index`: read an events file, compute purchase indicators,
 * and index them into Elasticsearch and/or export them as NDJSON.
 *
 * @module
 */

import {
  buildIndicators,
  connect,
  DEFAULT_MAX_HISTORY_PER_USER,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MIN_ROOT_LLR,
  mergeItems,
  publishIndex,
  readEventBatches,
  readItems,
  redactUrl,
  resolveConnection,
  type SkipReport,
  toNdjson,
} from "../mod.ts";
import {
  CliError,
  numberFlag,
  parseFlags,
  progressBar,
  run,
  weightingFlag,
  withProgress,
} from "./common.ts";
import {
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
} from "./_format.ts";

const HELP = `
deno task build-index --events FILE [options]

Reads interaction events, computes item-to-item LLR indicators from the
primary event (purchase) co-occurrences, and indexes one document per item
into Elasticsearch (when ES_URL or --es-url is set) and/or writes them as
NDJSON (--out).

Input:
  --events FILE          events file, plain or .gz (required)
${EVENT_FORMAT_HELP}
  --items FILE           item metadata to merge (CSV with an id/itemid column,
                         or NDJSON; fields category, available, popularity,
                         updated and any of your own)
  --on-error fail|skip   malformed lines: stop with file:line (default), or
                         skip them and report how many

Indicators (fields: indicators = primary × primary, indicators_<S> =
primary × S for each secondary S, similar_<S> = S × S):
  --primary NAME         event type to predict (default: the preset's, e.g.
                         "transaction" for RetailRocket)
  --secondary A,B        secondary event types (default: all others; "" none)
  --similar NAME|none    similar-items type (default: the most common secondary)
  --max-indicators N     indicators kept per item (default ${DEFAULT_MAX_INDICATORS_PER_ITEM})
  --min-llr X            minimum signed root LLR (default ${DEFAULT_MIN_ROOT_LLR};
                         = raw LLR ${DEFAULT_MIN_ROOT_LLR ** 2})
  --history-cap N        most recent items kept per user and event type
                         (default ${DEFAULT_MAX_HISTORY_PER_USER}, Mahout's maxNumInteractions)
  --field-min-llr F=X    threshold for field F only (repeatable)
  --field-max-indicators F=N
                         top-k for field F only (repeatable)
  --weights W            indicator strength: llr-idf (default: root LLR × idf,
                         sparse_vector fields scored by weight), llr (root
                         LLR), none (keyword fields scored by BM25, as the
                         Universal Recommender does)

Output:
  --out FILE             write the documents as NDJSON
  --es-config FILE       JSON connection settings (url, apiKey, username,
                         password, caCert, caFingerprint, requestTimeoutMs);
                         default $CCO_ES_CONFIG; ES_* variables override it
  --es-url URL           Elasticsearch URL (default: $ES_URL)
  --alias NAME           alias queries use (default "cco-items"); each build
                         writes NAME_<timestamp>, verifies it (count and a
                         sample read back) and only then swaps the alias
  --keep N               complete indices kept for rollback, live one
                         included (default 2)
  --flush-bytes N        bulk request size (default 5000000)
  --concurrency N        concurrent bulk requests (default 2)
  --retries N            retries of a bulk request answered 429 (default 3)
  --shards N             primary shards (default: 1 per 200M indicators, see
                         README "Scale-out")
  --replicas N           index replicas (default 0)
  -h, --help             this text
`;

await run(async () => {
  const flags = parseFlags({
    events: { type: "string" },
    ...EVENT_FORMAT_FLAGS,
    primary: { type: "string" },
    "max-indicators": { type: "string" },
    "min-llr": { type: "string" },
    "history-cap": { type: "string" },
    "on-error": { type: "string", default: "fail" },
    items: { type: "string" },
    secondary: { type: "string" },
    similar: { type: "string" },
    "field-min-llr": { type: "string", multiple: true },
    "field-max-indicators": { type: "string", multiple: true },
    weights: { type: "string" },
    out: { type: "string" },
    "es-url": { type: "string" },
    "es-config": { type: "string" },
    alias: { type: "string", default: "cco-items" },
    keep: { type: "string", default: "2" },
    "flush-bytes": { type: "string" },
    concurrency: { type: "string" },
    retries: { type: "string" },
    shards: { type: "string" },
    replicas: { type: "string" },
  }, HELP);
  if (!flags.events) {
    throw new CliError("--events FILE is required (see --help)");
  }
  const esUrl =
    resolveConnection({ url: flags["es-url"] }, flags["es-config"]).url;
  if (!esUrl && !flags.out) {
    throw new CliError(
      "nothing to write: set ES_URL (or --es-url) to index, and/or --out FILE",
    );
  }
  const { format, primaryEvent } = eventFormat(flags);
  // Connect first: fail fast before a long build if the cluster is down.
  const client = esUrl
    ? await connect({ url: esUrl, configFile: flags["es-config"] })
    : undefined;
  try {
    console.error(`reading ${flags.events}`);
    const onError = flags["on-error"];
    if (onError !== "fail" && onError !== "skip") {
      throw new CliError(`--on-error must be fail or skip, got "${onError}"`);
    }
    const skipped: SkipReport = { count: 0, first: [] };
    const { documents, fields, stats } = await buildIndicators(
      withProgress(
        readEventBatches(flags.events, format, { onError, skipped }),
        "events",
      ),
      {
        primaryEvent: flags.primary ?? primaryEvent,
        secondaryEvents: flags.secondary === undefined
          ? undefined
          : flags.secondary.split(",").map((t) => t.trim()).filter(Boolean),
        similarEvent: flags.similar === "none" ? null : flags.similar,
        maxIndicatorsPerItem: numberFlag(
          "max-indicators",
          flags["max-indicators"],
        ),
        minRootLlr: numberFlag("min-llr", flags["min-llr"], false),
        maxHistoryPerUser: numberFlag("history-cap", flags["history-cap"]),
        fields: fieldOptions(
          flags["field-min-llr"] ?? [],
          flags["field-max-indicators"] ?? [],
        ),
        weights: weightingFlag(flags.weights),
      },
    );
    if (flags.items) {
      const { matched, added } = mergeItems(
        documents,
        await readItems(flags.items),
      );
      console.error(
        `merged metadata of ${flags.items}: ${matched} items with events, ${added} without (added with empty indicators)`,
      );
    }
    if (skipped.count > 0) {
      console.error(
        `skipped ${skipped.count} malformed lines, e.g. ${
          skipped.first.map((e) => e.message).join("; ")
        }`,
      );
    }
    console.error(
      `events per type: ${JSON.stringify(stats.eventsRead)}; ` +
        `${stats.users} users, ${stats.items} items; read ${
          ms(stats.millis.read)
        }, ` +
        `indicators ${ms(stats.millis.indicators)}`,
    );
    for (const field of fields) {
      const f = stats.fields[field];
      console.error(
        `  ${
          field.padEnd(24)
        } ${f.rows} × ${f.columns}: ${f.pairsScored} pairs scored, ` +
          `${f.indicatorsKept} kept, ${ms(f.millis)}`,
      );
    }
    if (flags.out) {
      await Deno.writeTextFile(flags.out, toNdjson(documents));
      console.error(`wrote ${documents.length} documents to ${flags.out}`);
    }
    if (client) {
      const progress = progressBar("indexed", documents.length);
      const result = await publishIndex(client, flags.alias!, documents, {
        fields,
        keep: numberFlag("keep", flags.keep),
        flushBytes: numberFlag("flush-bytes", flags["flush-bytes"]),
        concurrency: numberFlag("concurrency", flags.concurrency),
        retries: numberFlag("retries", flags.retries),
        shards: numberFlag("shards", flags.shards),
        replicas: numberFlag("replicas", flags.replicas),
        onProgress: progress.update,
      });
      progress.done();
      console.error(
        `published ${result.documents} documents as "${result.index}" ` +
          `(alias "${result.alias}"${
            result.previous ? `, was "${result.previous}"` : ""
          }) at ${redactUrl(esUrl!)} in ${ms(result.millis)}` +
          (result.deleted.length
            ? `; deleted ${result.deleted.join(", ")}`
            : ""),
      );
    }
  } finally {
    await client?.close();
  }
});

function fieldOptions(
  minLlr: string[],
  maxIndicators: string[],
): Record<string, { minRootLlr?: number; maxIndicatorsPerItem?: number }> {
  const out: Record<
    string,
    { minRootLlr?: number; maxIndicatorsPerItem?: number }
  > = {};
  const parse = (flag: string, value: string, integer: boolean) => {
    const eq = value.indexOf("=");
    if (eq <= 0) {
      throw new CliError(
        `--${flag} must look like FIELD=VALUE, got "${value}"`,
      );
    }
    const field = value.slice(0, eq);
    return [field, numberFlag(flag, value.slice(eq + 1), integer)!] as const;
  };
  for (const v of minLlr) {
    const [field, n] = parse("field-min-llr", v, false);
    (out[field] ??= {}).minRootLlr = n;
  }
  for (const v of maxIndicators) {
    const [field, n] = parse("field-max-indicators", v, true);
    (out[field] ??= {}).maxIndicatorsPerItem = n;
  }
  return out;
}

function ms(millis: number): string {
  return millis < 1000
    ? `${millis.toFixed(0)} ms`
    : `${(millis / 1000).toFixed(2)} s`;
}
