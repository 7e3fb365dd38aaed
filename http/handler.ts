/**
 * The HTTP service over any {@linkcode Recommender}: a `fetch`-style
 * handler for `Deno.serve` (see `deno task serve`).
 *
 * | route | body | answer |
 * | --- | --- | --- |
 * | `POST /recommendations` | a {@linkcode RecommendRequest} | `{ recommendations: [...] }` |
 * | `POST /similar-items` | `{ item }` or `{ items }` plus rules | `{ recommendations: [...] }` |
 * | `POST /events` | `{ user, item, event, timestamp? }` | 202 (needs an event store) |
 * | `GET /health` | | backend, index and status; 503 when the backend is down |
 * | `GET /metrics` | | Prometheus metrics (see `metrics.ts`) |
 * | `GET /openapi.json` | | the OpenAPI 3.1 description (see `openapi.ts`) |
 *
 * Errors are JSON `{ error: { status, message } }`: 400 for malformed JSON
 * or an invalid request (unknown fields, wrong types, too many history
 * items, ids over `MAX_ID_LENGTH`, an event type the model lacks), 401
 * without the bearer token when one is set, 404/405 for unknown routes and
 * methods, 413 for a body over the limit, 415 for `POST /events` without
 * `content-type: application/json`, 503 when Elasticsearch is unreachable,
 * 504 past the request timeout. One JSON access-log line per request (see
 * `access_log.ts`); every answer carries `x-request-id`. With `cors`,
 * allowed origins get CORS headers and preflights a 204.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./handler.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const handler = createHandler({
 *   recommender: new EmbeddedRecommender({
 *     manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *     documents,
 *   }),
 *   backend: "embedded",
 *   log: () => {},
 * });
 * const res = await handler(
 *   new Request("http://x/recommendations", {
 *     method: "POST",
 *     headers: { "content-type": "application/json" },
 *     body: JSON.stringify({ history: ["b"], backfill: false }),
 *   }),
 * );
 * const { recommendations } = await res.json();
 * assert.equal(res.status, 200);
 * assert.deepEqual(recommendations.map((r: { id: string }) => r.id), ["a"]);
 * ```
 *
 * @module
 */

import type { Recommender, RecommendRequest } from "../serving/request.ts";
import type { EventStore } from "../serving/event_store.ts";
import {
  CcoError,
  ConfigError,
  DeadlineError,
  messageOf,
} from "../errors/mod.ts";
import { bearerMatches, isJson, parseEvent } from "./_guards.ts";
import { HttpMetrics } from "./metrics.ts";
import { openApiDocument, ROUTES } from "./openapi.ts";
import { accessLogLine, requestIdOf } from "./access_log.ts";
import { corsHeaders, type CorsOrigins, preflight } from "./cors.ts";

/** Options for {@linkcode createHandler}. */
export interface HandlerOptions {
  /** What answers requests. */
  recommender: Recommender;
  /** Backend name for `/health` (e.g. `elasticsearch`, `embedded`). */
  backend: string;
  /** Index or alias served, for `/health`. */
  index?: string;
  /** Checks the backend for `/health`; throw when it is down. */
  healthCheck?: () => Promise<unknown>;
  /** Optional event store for `POST /events`. */
  events?: EventStore;
  /**
   * Require `Authorization: Bearer <token>` on every route but `/health`
   * (compared in constant time). Must not be empty.
   */
  token?: string;
  /** Largest accepted body in bytes (default 64 KiB). */
  maxBodyBytes?: number;
  /** Request timeout in milliseconds (default 5000). */
  timeoutMs?: number;
  /** Access log sink (default: one JSON line on stderr). */
  log?: (line: string) => void;
  /** Metrics served at `/metrics` (default: the handler's own). */
  metrics?: HttpMetrics;
  /** Origins allowed to call from a browser (CORS); default none. */
  cors?: CorsOrigins;
}

class HttpError extends CcoError {
  constructor(override readonly status: number, message: string) {
    super(message);
  }
}

// the request's fault (4xx) says why; a backend failure (503, 504) too; a
// defect (500) says only that it happened: its message may hold internals
function statusOf(error: unknown): { status: number; message: string } {
  if (error instanceof CcoError) {
    const status = error.status;
    const message = status === 503
      ? `backend unavailable: ${error.message}`
      : error.message;
    return { status, message };
  }
  return { status: 500, message: messageOf(error) };
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json" },
  });
}

async function readBody(request: Request, limit: number): Promise<unknown> {
  const declared = Number(request.headers.get("content-length") ?? "0");
  if (declared > limit) throw new HttpError(413, `body over ${limit} bytes`);
  const reader = request.body?.getReader();
  const chunks: Uint8Array[] = [];
  let size = 0;
  while (reader) {
    const { done, value } = await reader.read();
    if (done) break;
    size += value.length;
    if (size > limit) {
      await reader.cancel();
      throw new HttpError(413, `body over ${limit} bytes`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(size);
  let at = 0;
  for (const c of chunks) {
    bytes.set(c, at);
    at += c.length;
  }
  const text = new TextDecoder().decode(bytes);
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `body is not JSON: ${(error as Error).message}`);
  }
}

function object(body: unknown): Record<string, unknown> {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    throw new HttpError(400, "body must be a JSON object");
  }
  return body as Record<string, unknown>;
}

/**
 * Checks the handler's options: a token that is set must be one (an empty
 * token would silently turn authentication off), and the limits must be
 * positive integers.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkHandlerOptions } from "./handler.ts";
 *
 * assert.throws(() => checkHandlerOptions({ token: "" }), /token is empty/);
 * assert.throws(() => checkHandlerOptions({ timeoutMs: 0 }), /timeoutMs must be an integer >= 1, got 0/);
 * ```
 *
 * @param options The options (only `token`, `maxBodyBytes` and `timeoutMs` are checked).
 * @param names How to call each option in messages (e.g. a flag name).
 * @throws {ConfigError} Naming the option.
 */
export function checkHandlerOptions(
  options: Pick<HandlerOptions, "token" | "maxBodyBytes" | "timeoutMs">,
  names: { token?: string; maxBodyBytes?: string; timeoutMs?: string } = {},
): void {
  const { token } = options;
  if (token !== undefined) {
    if (token.trim() === "") {
      throw new ConfigError(
        names.token ?? "token",
        "is empty: an empty token would turn authentication off; set one, or leave it unset to serve without",
      );
    }
    if (!/^[\x21-\x7e]+$/.test(token)) {
      throw new ConfigError(
        names.token ?? "token",
        "must be printable ASCII without spaces (it travels in a header)",
      );
    }
  }
  for (const key of ["maxBodyBytes", "timeoutMs"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new ConfigError(
        names[key] ?? key,
        `must be an integer >= 1, got ${v}`,
      );
    }
  }
}

/**
 * Creates the request handler.
 *
 * @example
 * ```ts ignore
 * import { createHandler } from "./handler.ts";
 *
 * Deno.serve({ port: 8000 }, createHandler({ recommender, backend: "embedded" }));
 * ```
 *
 * @param options Backend, auth, limits and logging.
 * @returns A handler for `Deno.serve`.
 */
export function createHandler(
  options: HandlerOptions,
): (request: Request) => Promise<Response> {
  const limit = options.maxBodyBytes ?? 64 * 1024;
  const timeoutMs = options.timeoutMs ?? 5000;
  checkHandlerOptions(options);
  const log = options.log ?? ((line: string) => console.error(line));
  const metrics = options.metrics ?? new HttpMetrics();
  // the backend's kind, for metrics: "elasticsearch", "embedded"
  const backendKind = options.backend.split(/\s/)[0];
  let openapi: string | undefined;

  async function route(
    request: Request,
    signal: AbortSignal,
  ): Promise<Response> {
    const { pathname } = new URL(request.url);
    const method = Object.hasOwn(ROUTES, pathname)
      ? ROUTES[pathname].method
      : undefined;
    if (!method) throw new HttpError(404, `no route ${pathname}`);
    if (request.method !== method) {
      throw new HttpError(405, `${pathname} takes ${method}`);
    }
    if (pathname === "/openapi.json") {
      openapi ??= JSON.stringify(openApiDocument());
      return new Response(openapi, {
        headers: { "content-type": "application/json" },
      });
    }
    if (pathname === "/health") {
      try {
        await options.healthCheck?.();
      } catch (error) {
        return json(503, {
          status: "unavailable",
          backend: options.backend,
          index: options.index,
          error: statusOf(error).message,
        });
      }
      return json(200, {
        status: "ok",
        backend: options.backend,
        index: options.index,
      });
    }
    if (options.token !== undefined) {
      if (!bearerMatches(request.headers.get("authorization"), options.token)) {
        throw new HttpError(401, "missing or wrong bearer token");
      }
    }
    // a body that changes state must say it is JSON: browsers post plain
    // text and forms cross-site without asking
    if (
      pathname === "/events" && !isJson(request.headers.get("content-type"))
    ) {
      throw new HttpError(
        415,
        "POST /events takes content-type application/json",
      );
    }
    if (pathname === "/metrics") {
      return new Response(metrics.render(), {
        headers: { "content-type": "text/plain; version=0.0.4" },
      });
    }
    const body = object(await readBody(request, limit));
    if (pathname === "/events") {
      if (!options.events) {
        throw new HttpError(501, "no event store configured");
      }
      const event = parseEvent(body, await options.recommender.manifest());
      await options.events.recordEvent(event);
      return json(202, { recorded: true });
    }
    if (pathname === "/similar-items") {
      if (body.history !== undefined) {
        throw new HttpError(
          400,
          "/similar-items takes item or items, not history",
        );
      }
      if (body.item === undefined && body.items === undefined) {
        throw new HttpError(400, "/similar-items needs item or items");
      }
    }
    const t0 = performance.now();
    let outcome = "ok";
    try {
      const recommendations = await options.recommender.recommend(
        body as RecommendRequest,
        { signal },
      );
      return json(200, { recommendations });
    } catch (error) {
      outcome = error instanceof Error ? error.name : "Error";
      throw error;
    } finally {
      metrics.backend(backendKind, outcome, (performance.now() - t0) / 1000);
    }
  }

  return async (request: Request): Promise<Response> => {
    const t0 = performance.now();
    const requestId = requestIdOf(request);
    const { pathname } = new URL(request.url);
    const origin = request.headers.get("origin");
    metrics.started();
    let response: Response;
    let timer: ReturnType<typeof setTimeout> | undefined;
    // the deadline aborts the backend's work too (e.g. the search request)
    const deadline = new AbortController();
    let error: string | undefined;
    try {
      if (options.cors && request.method === "OPTIONS") {
        response = preflight(origin, options.cors);
      } else {
        response = await Promise.race([
          route(request, deadline.signal),
          new Promise<never>((_, reject) => {
            timer = setTimeout(() => {
              const error = new DeadlineError(
                `no answer within ${timeoutMs} ms`,
              );
              reject(error);
              deadline.abort(error);
            }, timeoutMs);
          }),
        ]);
      }
    } catch (caught) {
      const { status, message } = statusOf(caught);
      // the log keeps a defect's cause for the operator; the caller gets none
      error = status === 500 ? messageOf(caught) : message;
      response = json(status, {
        error: { status, message: status === 500 ? "internal error" : message },
      });
    } finally {
      clearTimeout(timer);
    }
    response.headers.set("x-request-id", requestId);
    if (options.cors && response.status !== 204) {
      for (
        const [k, v] of Object.entries(corsHeaders(origin, options.cors) ?? {})
      ) {
        response.headers.set(k, v);
      }
    }
    const routeName = Object.hasOwn(ROUTES, pathname) ? pathname : "other";
    const ms = performance.now() - t0;
    metrics.request(routeName, request.method, response.status, ms / 1000);
    metrics.finished();
    log(accessLogLine({
      requestId,
      method: request.method,
      path: pathname,
      route: routeName,
      status: response.status,
      ms: Math.round(ms * 100) / 100,
      ...(error !== undefined ? { error } : {}),
    }));
    return response;
  };
}
