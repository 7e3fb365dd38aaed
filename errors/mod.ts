/**
 * The errors cco-es throws: one base class, {@linkcode CcoError}, and a
 * named subclass per kind of failure, each with the HTTP status it maps to.
 * Catch `CcoError` for "anything cco-es reports"; `instanceof` a subclass
 * to tell the request's fault (400) from the backend's (503, 504) and from
 * a defect (500).
 *
 * | class | status | when |
 * | --- | --- | --- |
 * | {@linkcode RequestError} | 400 | a request, event or flag is invalid; `path` names the part |
 * | {@linkcode ConfigError} | 400 | a settings file or flag is invalid; `path` names the key |
 * | {@linkcode ModelError} | 500 | a model (export, manifest, index) is missing or malformed |
 * | {@linkcode UnavailableError} | 503 | the backend cannot be reached or refuses to work |
 * | {@linkcode DeadlineError} | 504 | the work did not finish in time, or was aborted |
 *
 * Messages are one line, without secrets.
 *
 * @example Tell the caller's fault from the backend's
 * ```ts
 * import assert from "node:assert/strict";
 * import { CcoError, RequestError, statusOf } from "./mod.ts";
 *
 * const error = new RequestError("request.num", "must be an integer from 1 to 1000, got 0");
 * assert.ok(error instanceof CcoError);
 * assert.equal(error.message, "request.num must be an integer from 1 to 1000, got 0");
 * assert.equal(statusOf(error), 400);
 * assert.equal(statusOf(new Error("a defect")), 500);
 * ```
 *
 * @module
 */

/** The base class of every error cco-es throws on purpose. */
export class CcoError extends Error {
  /** The HTTP status the error maps to. */
  readonly status: number = 500;

  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(firstLine(message), options);
    this.name = "CcoError";
  }
}

/**
 * Something the caller sent is invalid: a request, an event, a flag. `path`
 * names the offending part (`request.filters[0].value`, `event.item`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RequestError } from "./mod.ts";
 *
 * const e = new RequestError("request.history.like[0]", "must be a non-empty string");
 * assert.equal(e.path, "request.history.like[0]");
 * assert.equal(e.status, 400);
 * ```
 */
export class RequestError extends CcoError {
  /** The HTTP status: 400. */
  override readonly status: number = 400;
  /** JSON path of the invalid part, e.g. `request.num`. */
  readonly path: string;

  /**
   * Creates the error; the message is `path reason`.
   *
   * @param path JSON path of the invalid part.
   * @param reason What is wrong with it.
   * @param options The underlying error, if any.
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(path ? `${path} ${reason}` : reason, options);
    this.name = "RequestError";
    this.path = path;
  }
}

/**
 * A settings file, setting or flag is invalid; `path` names it
 * (`cco.json: serving.num`, `--alias`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ConfigError } from "./mod.ts";
 *
 * const e = new ConfigError("--alias", 'must be lower-case letters, digits, _ and -, got "A"');
 * assert.equal(e.message, '--alias must be lower-case letters, digits, _ and -, got "A"');
 * ```
 */
export class ConfigError extends CcoError {
  /** The HTTP status: 400. */
  override readonly status: number = 400;
  /** The setting or flag at fault. */
  readonly path: string;

  /**
   * Creates the error; the message is `path reason`.
   *
   * @param path The setting or flag, e.g. `cco.json: serving.num`.
   * @param reason What is wrong with it.
   * @param options The underlying error, if any.
   */
  constructor(path: string, reason: string, options?: ErrorOptions) {
    super(path ? `${path} ${reason}` : reason, options);
    this.name = "ConfigError";
    this.path = path;
  }
}

/**
 * A model is missing, malformed, or does not fit the request: an export
 * without a manifest, an index without one, documents that disagree with it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ModelError } from "./mod.ts";
 *
 * assert.equal(new ModelError("x.ndjson:1: no manifest").status, 500);
 * ```
 */
export class ModelError extends CcoError {
  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ModelError";
  }
}

/**
 * The backend (an Elasticsearch cluster) cannot be reached, refuses the
 * credentials, or cannot serve right now.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnavailableError } from "./mod.ts";
 *
 * assert.equal(new UnavailableError("Elasticsearch at http://127.0.0.1:1/ is unreachable").status, 503);
 * ```
 */
export class UnavailableError extends CcoError {
  /** The HTTP status: 503. */
  override readonly status: number = 503;

  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "UnavailableError";
  }
}

/**
 * The work did not finish before its deadline, or its `AbortSignal` fired.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlineError } from "./mod.ts";
 *
 * assert.equal(new DeadlineError("no answer within 5000 ms").status, 504);
 * ```
 */
export class DeadlineError extends CcoError {
  /** The HTTP status: 504. */
  override readonly status: number = 504;

  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param options The underlying error, if any.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "DeadlineError";
  }
}

/**
 * The HTTP status an error maps to: its `status` for a {@linkcode CcoError},
 * 500 for anything else (a defect, never blamed on the caller).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DeadlineError, statusOf } from "./mod.ts";
 *
 * assert.equal(statusOf(new DeadlineError("late")), 504);
 * assert.equal(statusOf(new TypeError("x is not a function")), 500);
 * ```
 *
 * @param error Anything thrown.
 * @returns The status.
 */
export function statusOf(error: unknown): number {
  return error instanceof CcoError ? error.status : 500;
}

/**
 * The first line of an error's message (or of any thrown value), for
 * one-line reports.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { messageOf } from "./mod.ts";
 *
 * assert.equal(messageOf(new Error("first\nsecond")), "first");
 * assert.equal(messageOf("plain"), "plain");
 * ```
 *
 * @param error Anything thrown.
 * @returns One line.
 */
export function messageOf(error: unknown): string {
  return firstLine(error instanceof Error ? error.message : String(error));
}

function firstLine(text: string): string {
  const nl = text.indexOf("\n");
  return nl < 0 ? text : text.slice(0, nl);
}
