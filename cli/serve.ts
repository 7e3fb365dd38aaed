/**
 * `deno task serve`: the HTTP recommendation service (see `lib/http.ts`),
 * over Elasticsearch (ES_URL) or the embedded backend.
 *
 * @module
 */

import {
  buildIndicators,
  connect,
  createHandler,
  ElasticsearchEventStore,
  ElasticsearchRecommender,
  EmbeddedRecommender,
  type HistoryStore,
  MemoryEventStore,
  mergeItems,
  parseIndicatorDocuments,
  readEventBatches,
  readItems,
  type Recommender,
  redactUrl,
  resolveConnection,
  withUserHistory,
} from "../mod.ts";
import { CliError, numberFlag, parseFlags, run } from "./common.ts";
import { EVENT_FORMAT_FLAGS, eventFormat } from "./_format.ts";

const HELP = `
deno task serve [options]

Serves POST /recommendations, POST /similar-items, GET /health (and
POST /events when an event store is configured) on 127.0.0.1.

Backend, in order of precedence:
  --es-url URL / $ES_URL  Elasticsearch, alias --alias (default "cco-items")
  --indicators FILE       embedded, over an NDJSON export of build-index
  --events FILE           embedded, indicators built from this events file

Options:
  --port N                port (default 8000; 0 picks a free one)
  --hostname H            interface (default 127.0.0.1)
  --token T               require "Authorization: Bearer T" (or $CCO_SERVE_TOKEN)
  --max-body N            largest request body in bytes (default 65536)
  --timeout MS            request timeout (default 5000)
  --items FILE            item metadata for the embedded backend
  --event-store KIND      enable POST /events and {"user": ...} requests:
                          "memory", or "elasticsearch" (index --events-index,
                          default cco-events; needs ES_URL)
  --events-index NAME     event index for --event-store elasticsearch
  --primary NAME          primary event type (default transaction)
  --max-query-events N    history items used per event type (default 100)
  --es-config FILE        JSON connection settings (see README)
  -h, --help              this text
`;

await run(async () => {
  const flags = parseFlags({
    port: { type: "string", default: "8000" },
    hostname: { type: "string", default: "127.0.0.1" },
    token: { type: "string" },
    "max-body": { type: "string" },
    timeout: { type: "string" },
    "es-url": { type: "string" },
    "es-config": { type: "string" },
    alias: { type: "string", default: "cco-items" },
    indicators: { type: "string" },
    events: { type: "string" },
    items: { type: "string" },
    primary: { type: "string" },
    "max-query-events": { type: "string" },
    "event-store": { type: "string" },
    "events-index": { type: "string", default: "cco-events" },
    ...EVENT_FORMAT_FLAGS,
  }, HELP);
  const esUrl = flags.indicators || flags.events
    ? undefined
    : resolveConnection({ url: flags["es-url"] }, flags["es-config"]).url;
  let recommender: Recommender;
  let backend: string;
  let index: string | undefined;
  let healthCheck: (() => Promise<unknown>) | undefined;
  let client: Awaited<ReturnType<typeof connect>> | undefined;
  const options = {
    primaryEvent: flags.primary,
    maxQueryEvents: numberFlag("max-query-events", flags["max-query-events"]),
  };
  if (esUrl) {
    const client = await connect({
      url: esUrl,
      configFile: flags["es-config"],
    });
    recommender = new ElasticsearchRecommender(client, flags.alias!, options);
    backend = `elasticsearch ${redactUrl(esUrl)}`;
    index = flags.alias;
    healthCheck = () =>
      (client as unknown as { count(p: { index: string }): Promise<unknown> })
        .count({ index: flags.alias! });
  } else if (flags.indicators || flags.events) {
    const documents = flags.indicators
      ? parseIndicatorDocuments(
        await Deno.readTextFile(flags.indicators),
        flags.indicators,
      )
      : (await buildIndicators(
        readEventBatches(flags.events!, eventFormat(flags).format),
        { primaryEvent: flags.primary ?? eventFormat(flags).primaryEvent },
      )).documents;
    if (flags.items) mergeItems(documents, await readItems(flags.items));
    recommender = new EmbeddedRecommender(documents, options);
    backend = "embedded";
    index = flags.indicators ?? flags.events;
  } else {
    throw new CliError(
      "no backend: set ES_URL (or --es-url), or pass --indicators FILE or --events FILE",
    );
  }
  let events: HistoryStore | undefined;
  if (flags["event-store"] === "memory") events = new MemoryEventStore();
  else if (flags["event-store"] === "elasticsearch") {
    if (!client) throw new CliError("--event-store elasticsearch needs ES_URL");
    const store = new ElasticsearchEventStore(client, flags["events-index"]);
    await store.ensureIndex();
    events = store;
  } else if (flags["event-store"] !== undefined) {
    throw new CliError(
      `--event-store must be memory or elasticsearch, got "${
        flags["event-store"]
      }"`,
    );
  }
  if (events) {
    recommender = withUserHistory(recommender, events, {
      primaryEvent: flags.primary,
    });
  }
  const handler = createHandler({
    events,
    recommender,
    backend,
    index,
    healthCheck,
    token: flags.token ?? (Deno.env.get("CCO_SERVE_TOKEN") || undefined),
    maxBodyBytes: numberFlag("max-body", flags["max-body"]),
    timeoutMs: numberFlag("timeout", flags.timeout),
  });
  const server = Deno.serve({
    hostname: flags.hostname,
    port: numberFlag("port", flags.port),
    onListen: ({ hostname, port }) =>
      console.log(`serving ${backend} on http://${hostname}:${port}`),
  }, handler);
  await server.finished;
});
