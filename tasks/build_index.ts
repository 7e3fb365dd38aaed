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
  indexDocuments,
  readEvents,
  redactUrl,
  resolveEsUrl,
  toNdjson,
} from "../mod.ts";
import { CliError, numberFlag, parseFlags, run, withProgress } from "./_cli.ts";
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
Indicators:
  --primary NAME         event type to predict (default: the preset's, e.g.
                         "transaction" for RetailRocket)
  --max-indicators N     indicators kept per item (default ${DEFAULT_MAX_INDICATORS_PER_ITEM})
  --min-llr X            minimum signed root LLR (default ${DEFAULT_MIN_ROOT_LLR};
                         = raw LLR ${DEFAULT_MIN_ROOT_LLR ** 2})
  --history-cap N        most recent items kept per user and event type
                         (default ${DEFAULT_MAX_HISTORY_PER_USER}, Mahout's maxNumInteractions)

Output:
  --out FILE             write the documents as NDJSON
  --es-url URL           Elasticsearch URL (default: $ES_URL)
  --index NAME           index name (default "cco-items")
  --replace              replace an existing index of that name
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
    out: { type: "string" },
    "es-url": { type: "string" },
    index: { type: "string", default: "cco-items" },
    replace: { type: "boolean", default: false },
  }, HELP);
  if (!flags.events) {
    throw new CliError("--events FILE is required (see --help)");
  }
  const esUrl = resolveEsUrl(flags["es-url"]);
  if (!esUrl && !flags.out) {
    throw new CliError(
      "nothing to write: set ES_URL (or --es-url) to index, and/or --out FILE",
    );
  }
  const { format, primaryEvent } = eventFormat(flags);
  // Connect first: fail fast before a long build if the cluster is down.
  const client = esUrl ? await connect({ url: esUrl }) : undefined;
  try {
    console.error(`reading ${flags.events}`);
    const { documents, fields, stats } = await buildIndicators(
      withProgress(readEvents(flags.events, format), "events"),
      {
        primaryEvent: flags.primary ?? primaryEvent,
        maxIndicatorsPerItem: numberFlag(
          "max-indicators",
          flags["max-indicators"],
        ),
        minRootLlr: numberFlag("min-llr", flags["min-llr"], false),
        maxHistoryPerUser: numberFlag("history-cap", flags["history-cap"]),
      },
    );
    console.error(
      `events per type: ${JSON.stringify(stats.eventsRead)}; ` +
        `${stats.users} users, ${stats.items} items; ` +
        `${stats.pairsScored} pairs scored, ${stats.indicatorsKept} indicators kept; ` +
        `read ${ms(stats.millis.read)}, indicators ${
          ms(stats.millis.indicators)
        }`,
    );
    if (flags.out) {
      await Deno.writeTextFile(flags.out, toNdjson(documents));
      console.error(`wrote ${documents.length} documents to ${flags.out}`);
    }
    if (client) {
      const index = flags.index!;
      const result = await indexDocuments(
        client,
        index,
        withProgress(documents, "documents indexed"),
        { replace: flags.replace, fields },
      );
      console.error(
        `indexed ${result.documents} documents into "${index}" at ${
          redactUrl(esUrl!)
        } in ${ms(result.millis)}`,
      );
    }
  } finally {
    await client?.close();
  }
});

function ms(millis: number): string {
  return millis < 1000
    ? `${millis.toFixed(0)} ms`
    : `${(millis / 1000).toFixed(2)} s`;
}
