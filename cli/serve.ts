/**
 * `cco serve` (`deno task serve`): the HTTP recommendation service (see
 * `http/handler.ts`) over Elasticsearch or the embedded backend.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { createHandler } from "../http/handler.ts";
import {
  type HistoryStore,
  MemoryEventStore,
  withUserHistory,
} from "../serving/event_store.ts";
import { loadSettings } from "../config/settings.ts";
import { numberFlag, parseFlags, run } from "./common.ts";
import { EVENT_FORMAT_FLAGS } from "./_format.ts";
import { BUILD_FLAGS } from "./_build_options.ts";
import { openBackend, servingOptionsOf } from "./_backend.ts";

const HELP = `
deno task serve [options]

Serves POST /recommendations, POST /similar-items, GET /health (and
POST /events when an event store is configured).

Backend, the first that applies:
  --indicators FILE|DIR   embedded, over an exported model (build-index --out)
  --events FILE           embedded, a model built from this events file now
                          (format and build flags as for build-index)
  --es-url URL / $ES_URL  Elasticsearch (or the settings' elasticsearch.url),
                          alias --alias (default "cco-items")
The model's manifest says what its primary event and fields are.

Options (flags override the settings file):
  --config FILE           settings file (default $CCO_CONFIG)
  --port N                port (default 8000; 0 picks a free one)
  --hostname H            interface (default 127.0.0.1)
  --token T               require "Authorization: Bearer T" (or $CCO_SERVE_TOKEN)
  --max-body N            largest request body in bytes (default 65536)
  --timeout MS            request timeout (default 5000)
  --items FILE            item metadata for the embedded backend
  --event-store KIND      enable POST /events and {"user": ...} requests:
                          "memory", or "elasticsearch" (index --events-index,
                          default cco-events; needs Elasticsearch)
  --events-index NAME     event index for --event-store elasticsearch
  --cors ORIGINS          origins allowed to call from a browser: "*" or a
                          comma-separated list (https://shop.example,...)
  --max-query-events N    history items used per event type (default: the
                          model's, else 100)
  --es-config FILE        JSON connection settings (see README)
  -h, --help              this text
`;

const FLAGS = {
  config: { type: "string" },
  port: { type: "string" },
  hostname: { type: "string" },
  token: { type: "string" },
  "max-body": { type: "string" },
  timeout: { type: "string" },
  "es-url": { type: "string" },
  "es-config": { type: "string" },
  alias: { type: "string" },
  indicators: { type: "string" },
  events: { type: "string" },
  items: { type: "string" },
  "max-query-events": { type: "string" },
  "event-store": { type: "string" },
  "events-index": { type: "string" },
  cors: { type: "string" },
  ...EVENT_FORMAT_FLAGS,
  ...BUILD_FLAGS,
} as const;

/**
 * Runs `serve` with command-line arguments; resolves when the server stops.
 *
 * @param args The arguments after the command name.
 */
export async function serveCommand(args: string[]): Promise<void> {
  const flags = parseFlags(FLAGS, HELP, args);
  const settings = await loadSettings(flags.config);
  const http = settings.http ?? {};
  // every setting checked before the backend opens
  const port = numberFlag("port", flags.port) ?? http.port ?? 8000;
  if (port < 0 || port > 65535) {
    throw new ConfigError("--port", `must be from 0 to 65535, got ${port}`);
  }
  const storeKind = flags["event-store"] ?? http.eventStore;
  if (
    storeKind !== undefined && storeKind !== "memory" &&
    storeKind !== "elasticsearch"
  ) {
    throw new ConfigError(
      "--event-store",
      `must be memory or elasticsearch, got "${storeKind}"`,
    );
  }
  const cors = flags.cors === undefined
    ? http.cors
    : flags.cors.trim() === "*"
    ? "*"
    : flags.cors.split(",").map((o) => o.trim()).filter(Boolean);
  if (Array.isArray(cors)) {
    const bad = cors.find((o) => !/^https?:\/\/[^/]+$/.test(o));
    if (bad !== undefined || cors.length === 0) {
      throw new ConfigError(
        "--cors",
        `must be "*" or origins such as https://shop.example, got "${flags.cors}"`,
      );
    }
  }
  const serving = servingOptionsOf(settings, {
    maxQueryEvents: numberFlag("max-query-events", flags["max-query-events"]),
  });
  const backend = await openBackend(flags, settings, serving);
  let events: HistoryStore | undefined;
  if (storeKind === "memory") events = new MemoryEventStore();
  else if (storeKind === "elasticsearch") {
    if (!backend.client) {
      throw new ConfigError(
        "--event-store",
        "elasticsearch needs the Elasticsearch backend (ES_URL or --es-url), not an embedded model",
      );
    }
    const { ElasticsearchEventStore } = await import(
      "../elasticsearch/event_store.ts"
    );
    const store = new ElasticsearchEventStore(
      backend.client,
      flags["events-index"] ?? http.eventsIndex ?? "cco-events",
    );
    await store.ensureIndex();
    events = store;
  }
  const recommender = events
    ? withUserHistory(backend.recommender, events)
    : backend.recommender;
  const handler = createHandler({
    events,
    recommender,
    backend: backend.label,
    index: backend.index,
    healthCheck: backend.healthCheck,
    token: flags.token ?? (Deno.env.get("CCO_SERVE_TOKEN") || undefined),
    maxBodyBytes: numberFlag("max-body", flags["max-body"]) ??
      http.maxBodyBytes,
    timeoutMs: numberFlag("timeout", flags.timeout) ?? http.timeoutMs,
    cors,
  });
  const server = Deno.serve({
    hostname: flags.hostname ?? http.hostname ?? "127.0.0.1",
    port,
    onListen: ({ hostname, port }) =>
      console.log(`serving ${backend.label} on http://${hostname}:${port}`),
  }, handler);
  try {
    await server.finished;
  } finally {
    await backend.close();
  }
}

if (import.meta.main) await run(() => serveCommand(Deno.args));
