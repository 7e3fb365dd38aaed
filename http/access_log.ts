/**
 * Request ids and the JSON access log: one line per request, with the id
 * the answer carries in `x-request-id` (the caller's, when it sent a
 * usable one, so a request can be followed across services).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accessLogLine, requestIdOf } from "./access_log.ts";
 *
 * const id = requestIdOf(new Request("http://x/", { headers: { "x-request-id": "abc-1" } }));
 * assert.equal(id, "abc-1");
 * const line = JSON.parse(accessLogLine({
 *   requestId: id, method: "POST", path: "/recommendations", route: "/recommendations",
 *   status: 200, ms: 1.25,
 * }, new Date(0)));
 * assert.deepEqual(line, {
 *   time: "1970-01-01T00:00:00.000Z", level: "info", msg: "request", requestId: "abc-1",
 *   method: "POST", path: "/recommendations", route: "/recommendations", status: 200, ms: 1.25,
 * });
 * ```
 *
 * @module
 */

const USABLE_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request's id: its `x-request-id` when that is 1 to 128 letters,
 * digits or `._:-`, else a new random UUID.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { requestIdOf } from "./access_log.ts";
 *
 * const id = requestIdOf(new Request("http://x/", { headers: { "x-request-id": "a b\n" } }));
 * assert.match(id, /^[0-9a-f-]{36}$/);
 * ```
 *
 * @param request The request.
 * @returns The id.
 */
export function requestIdOf(request: Request): string {
  const given = request.headers.get("x-request-id");
  return given !== null && USABLE_ID.test(given) ? given : crypto.randomUUID();
}

/** What one access-log line tells. */
export interface AccessLogEntry {
  /** The request's id. */
  requestId: string;
  /** HTTP method. */
  method: string;
  /** The path asked for. */
  path: string;
  /** The route it matched, or `other`. */
  route: string;
  /** The answer's status. */
  status: number;
  /** Milliseconds to answer. */
  ms: number;
  /** For an error answer: its message (for a 500, the internal cause). */
  error?: string;
}

/**
 * One JSON line of the access log: `time`, `level` (`info`, `warn` for a
 * 4xx, `error` for a 5xx), `msg: "request"`, then the entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { accessLogLine } from "./access_log.ts";
 *
 * const line = JSON.parse(accessLogLine({
 *   requestId: "r", method: "GET", path: "/x", route: "other", status: 404, ms: 0, error: "no route /x",
 * }));
 * assert.equal(line.level, "warn");
 * ```
 *
 * @param entry The entry.
 * @param now When (default now).
 * @returns The line, without a newline.
 */
export function accessLogLine(
  entry: AccessLogEntry,
  now: Date = new Date(),
): string {
  const level = entry.status >= 500
    ? "error"
    : entry.status >= 400
    ? "warn"
    : "info";
  return JSON.stringify({
    time: now.toISOString(),
    level,
    msg: "request",
    ...entry,
  });
}
