/**
 * The Elasticsearch client cco-es speaks through (the official
 * `npm:@elastic/elasticsearch` 8.x, imported here and nowhere else, by its
 * full specifier, so this package imports without an import map), and the
 * translation of its failures into cco-es's errors:
 *
 * | client failure | cco-es error |
 * | --- | --- |
 * | no connection, no living node, 5xx, 429 | `UnavailableError` (503) |
 * | request timeout, aborted by the caller's signal | `DeadlineError` (504) |
 * | 400 caused by the request (a bad value for a field type, a term too long) | `RequestError` (400) |
 * | anything else (e.g. 404 on the alias) | `CcoError` (500) |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Client, clientError } from "./client.ts";
 * import { UnavailableError } from "../errors/mod.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9", maxRetries: 0, requestTimeout: 2000 });
 * const error = await client.count({ index: "x" }).catch((e) => clientError(e, "counting"));
 * assert.ok(error instanceof UnavailableError);
 * assert.match(error.message, /^counting: Elasticsearch is unreachable/);
 * await client.close();
 * ```
 *
 * @module
 */

import {
  CcoError,
  DeadlineError,
  RequestError,
  UnavailableError,
} from "../errors/mod.ts";
import { Client, errors } from "npm:@elastic/elasticsearch@8.19.2";

export { Client, errors };

/**
 * The cco-es error for a failure of the client (see the module
 * documentation); a `CcoError` passes through unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientError, errors } from "./client.ts";
 *
 * const e = clientError(new errors.TimeoutError("Request timed out"), "searching");
 * assert.equal(e.name, "DeadlineError");
 * assert.equal(e.message, "searching: Elasticsearch did not answer in time (Request timed out)");
 * ```
 *
 * @param error What the client threw.
 * @param what What was being done, for the message (e.g. `searching "cco-items"`).
 * @returns The error to throw.
 */
export function clientError(error: unknown, what: string): CcoError {
  if (error instanceof CcoError) return error;
  const message = (error instanceof Error ? error.message : String(error))
    .split("\n")[0];
  if (
    error instanceof errors.RequestAbortedError ||
    (error instanceof Error && error.name === "AbortError")
  ) {
    return new DeadlineError(`${what}: the request was aborted`, {
      cause: error,
    });
  }
  if (error instanceof errors.TimeoutError) {
    return new DeadlineError(
      `${what}: Elasticsearch did not answer in time (${message})`,
      { cause: error },
    );
  }
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.NoLivingConnectionsError
  ) {
    return new UnavailableError(
      `${what}: Elasticsearch is unreachable (${message})`,
      { cause: error },
    );
  }
  if (error instanceof errors.ResponseError) {
    const status = error.meta.statusCode ?? 0;
    const reason = rootCause(error.meta.body) ?? message;
    if (status >= 500 || status === 429) {
      return new UnavailableError(
        `${what}: Elasticsearch answered ${status} (${reason})`,
        { cause: error },
      );
    }
    if (status === 400) {
      return new RequestError(
        "request",
        `was rejected by Elasticsearch: ${reason}`,
        { cause: error },
      );
    }
    return new CcoError(`${what}: Elasticsearch answered ${status} (${reason})`, {
      cause: error,
    });
  }
  return new CcoError(`${what}: ${message}`, { cause: error });
}

function rootCause(body: unknown): string | undefined {
  const e = (body as { error?: unknown })?.error;
  if (typeof e === "string") return e;
  const error = e as {
    type?: string;
    reason?: string;
    root_cause?: { type?: string; reason?: string }[];
    caused_by?: { type?: string; reason?: string };
  } | undefined;
  if (!error) return undefined;
  const deepest = error.caused_by ?? error.root_cause?.[0] ?? error;
  return `${deepest.type ?? error.type}: ${deepest.reason ?? error.reason}`
    .split("\n")[0].slice(0, 300);
}
