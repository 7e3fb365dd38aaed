/**
 * `cco serve` (`deno task serve`): the HTTP recommendation service (see
 * `http/handler.ts`) over Elasticsearch or the embedded backend.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { checkHandlerOptions, createHandler } from "../http/handler.ts";
import {
  checkServerOptions,
  serve,
  type ServerOptions,
} from "../http/server.ts";
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
import { stopSignal } from "./_process.ts";

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
  --port N                port (default $PORT, else 8000; 0 picks a free one)
  --hostname H            interface (default $HOST, else 127.0.0.1)
  --token T               require "Authorization: Bearer T" (or
                          $CCO_SERVE_TOKEN); an empty token is refused
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

Connections (settings http.maxConnections, .headersTimeoutMs, .idleTimeoutMs):
at most three quarters of the open-file limit by default; the longest idle
one is closed to make room, and when all are busy new ones get 503. SIGTERM
or SIGINT (or the launcher exiting, e.g. npx killed) stops accepting and
answers the requests in progress first; a second signal exits at once.
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
 * Runs `serve` with command-line arguments; resolves when the server stops
 * (SIGTERM, SIGINT, or the launcher gone: see `_process.ts`), after the
 * requests in progress are answered.
 *
 * @param args The arguments after the command name.
 */
export async function serveCommand(args: string[]): Promise<void> {
  const flags = parseFlags(FLAGS, HELP, args);
  const settings = await loadSettings(flags.config);
  const http = settings.http ?? {};
  // every setting checked before the backend opens
  const envPort = env("PORT");
  const port = numberFlag("port", flags.port) ??
    (envPort !== undefined ? envNumber("PORT", envPort) : undefined) ??
    http.port ?? 8000;
  const hostname = flags.hostname ?? env("HOST") ?? http.hostname ??
    "127.0.0.1";
  const tokenFromEnv = Deno.env.has("CCO_SERVE_TOKEN");
  const token = flags.token ??
    (tokenFromEnv ? Deno.env.get("CCO_SERVE_TOKEN") : undefined);
  const maxBodyBytes = numberFlag("max-body", flags["max-body"]) ??
    http.maxBodyBytes ?? 64 * 1024;
  const timeoutMs = numberFlag("timeout", flags.timeout) ?? http.timeoutMs;
  checkHandlerOptions({ token, maxBodyBytes, timeoutMs }, {
    token: flags.token !== undefined ? "--token" : "CCO_SERVE_TOKEN",
    maxBodyBytes: "--max-body",
    timeoutMs: "--timeout",
  });
  const server: ServerOptions = {
    hostname,
    port,
    maxBodyBytes,
    maxConnections: http.maxConnections,
    headersTimeoutMs: http.headersTimeoutMs,
    idleTimeoutMs: http.idleTimeoutMs,
  };
  checkServerOptions(server, {
    port: flags.port !== undefined
      ? "--port"
      : envPort !== undefined
      ? "PORT"
      : "http.port",
    hostname: flags.hostname !== undefined
      ? "--hostname"
      : env("HOST") !== undefined
      ? "HOST"
      : "http.hostname",
    maxBodyBytes: "--max-body",
    maxConnections: "http.maxConnections",
  });
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
  const eventsIndex = flags["events-index"] ?? http.eventsIndex ??
    "cco-events";
  if (!/^[a-z0-9][a-z0-9_-]*$/.test(eventsIndex)) {
    throw new ConfigError(
      "--events-index",
      `must be lower-case letters, digits, _ and -, got "${eventsIndex}"`,
    );
  }
  const memory = storeKind === "memory"
    ? new MemoryEventStore({
      maxUsers: http.eventStoreMaxUsers,
      maxAgeMs: http.eventStoreMaxAgeMs,
    })
    : undefined;
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
  let serving;
  try {
    serving = servingOptionsOf(settings, {
      maxQueryEvents: numberFlag("max-query-events", flags["max-query-events"]),
    });
  } catch (error) {
    // the flag, by its name
    if (!(error instanceof ConfigError) || error.path !== "maxQueryEvents") {
      throw error;
    }
    throw new ConfigError(
      "--max-query-events",
      error.message.slice(error.path.length + 1),
    );
  }

  const backend = await openBackend(flags, settings, serving);
  let closeBackend = true;
  try {
    let events: HistoryStore | undefined = memory;
    if (storeKind === "elasticsearch") {
      if (!backend.client) {
        throw new ConfigError(
          "--event-store",
          "elasticsearch needs the Elasticsearch backend (ES_URL or --es-url), not an embedded model",
        );
      }
      const { ElasticsearchEventStore } = await import(
        "../elasticsearch/event_store.ts"
      );
      const store = new ElasticsearchEventStore(backend.client, eventsIndex);
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
      token,
      maxBodyBytes,
      timeoutMs,
      cors,
    });
    const stop = stopSignal();
    const running = serve(handler, {
      ...server,
      signal: stop.signal,
      onListen: ({ hostname, port }) =>
        console.log(
          `serving ${backend.label} on http://${
            hostname.includes(":") ? `[${hostname}]` : hostname
          }:${port}`,
        ),
    });
    stop.signal.addEventListener("abort", () => {
      console.error(
        `stopping (${stop.signal.reason}): answering the requests in progress`,
      );
    });
    closeBackend = false;
    try {
      await running.finished;
      const n = running.stats();
      console.error(
        `stopped: ${n.requests} requests; connections ${n.accepted} accepted, ${n.evicted} closed idle to make room, ${n.refused} refused busy, ${n.timedOut} timed out`,
      );
    } finally {
      stop.dispose();
      await backend.close();
    }
  } finally {
    if (closeBackend) await backend.close();
  }
}

function env(name: string): string | undefined {
  return Deno.env.get(name) || undefined;
}

function envNumber(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === "" || !Number.isInteger(n)) {
    throw new ConfigError(name, `must be an integer, got "${value}"`);
  }
  return n;
}

if (import.meta.main) await run(() => serveCommand(Deno.args));
