/**
 * `deno task recommend`: recommendations for one history, from
 * Elasticsearch (when ES_URL or --es-url is set) or from the embedded
 * backend over an NDJSON export or an events file.
 *
 * @module
 */

import {
  buildIndicators,
  connect,
  ElasticsearchRecommender,
  EmbeddedRecommender,
  parseIndicatorDocuments,
  readEvents,
  type Recommender,
  type RecommendRequest,
  resolveConnection,
} from "../mod.ts";
import { CliError, numberFlag, parseFlags, run } from "./common.ts";
import {
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
} from "./_format.ts";

const HELP = `
deno task recommend --history ITEM[,ITEM...] [options]
deno task recommend --request '{"history":{"transaction":["1"],"view":["2"]},
  "filters":[{"field":"available","value":true}],"num":5,"explain":true}'

Prints the items recommended for a history (most recent item first), or for
a full request (per-event-type history, item/items, filters, boosts,
exclude, excludeSeen, dateRange, from, num, backfill, explain: see README).

Backend, in order of precedence:
  --es-config FILE       JSON connection settings (url, apiKey, username,
                         password, caCert, caFingerprint, requestTimeoutMs);
                         default $CCO_ES_CONFIG; ES_* variables override it
  --es-url URL / $ES_URL  query Elasticsearch, index --index (default "cco-items")
  --indicators FILE       embedded backend over an NDJSON export of build-index
  --events FILE           embedded backend, indicators built from this events
                          file first (format flags below; default settings)

Options:
  --history LIST          comma-separated item ids of the primary event
  --request JSON          a whole request object instead of --history
  --num N                 number of results (default 10)
  --json                  print JSON instead of a table
  --embedded              ignore $ES_URL and use the embedded backend
${EVENT_FORMAT_HELP}  -h, --help              this text
`;

await run(async () => {
  const flags = parseFlags({
    history: { type: "string" },
    request: { type: "string" },
    num: { type: "string", default: "10" },
    json: { type: "boolean", default: false },
    "es-url": { type: "string" },
    "es-config": { type: "string" },
    index: { type: "string", default: "cco-items" },
    indicators: { type: "string" },
    events: { type: "string" },
    embedded: { type: "boolean", default: false },
    ...EVENT_FORMAT_FLAGS,
  }, HELP);
  let request: RecommendRequest;
  if (flags.request) {
    if (flags.history) {
      throw new CliError("--history and --request are exclusive");
    }
    try {
      request = JSON.parse(flags.request);
    } catch (error) {
      throw new CliError(`--request is not JSON: ${(error as Error).message}`);
    }
  } else if (flags.history) {
    request = {
      history: flags.history.split(",").map((s) => s.trim()).filter(Boolean),
    };
  } else {
    throw new CliError(
      "--history ITEM[,ITEM...] or --request JSON is required (see --help)",
    );
  }
  const num = numberFlag("num", flags.num);
  const esUrl = flags.embedded
    ? undefined
    : resolveConnection({ url: flags["es-url"] }, flags["es-config"]).url;

  let recommender: Recommender;
  let close = async () => {};
  let backend: string;
  if (esUrl) {
    const client = await connect({
      url: esUrl,
      configFile: flags["es-config"],
    });
    close = () => client.close();
    recommender = new ElasticsearchRecommender(client, flags.index!);
    backend = `elasticsearch index "${flags.index}"`;
  } else if (flags.indicators) {
    const text = await Deno.readTextFile(flags.indicators);
    recommender = new EmbeddedRecommender(
      parseIndicatorDocuments(text, flags.indicators),
    );
    backend = `embedded (${flags.indicators})`;
  } else if (flags.events) {
    const { format, primaryEvent } = eventFormat(flags);
    const { documents } = await buildIndicators(
      readEvents(flags.events, format),
      { primaryEvent },
    );
    recommender = new EmbeddedRecommender(documents);
    backend = `embedded (built from ${flags.events})`;
  } else {
    throw new CliError(
      "no backend: set ES_URL (or --es-url), or pass --indicators FILE or --events FILE",
    );
  }
  try {
    const recs = await recommender.recommend({
      ...request,
      num: request.num ?? num,
    });
    if (flags.json) {
      console.log(JSON.stringify(recs));
      return;
    }
    console.log(`backend: ${backend}; request: ${JSON.stringify(request)}`);
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
    await close();
  }
});
