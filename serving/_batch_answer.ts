/**
 * Internal: answering batch requests, the one code that runs both in
 * process and in batch workers, so that both give the same bytes: one
 * request to one result, and a chunk of NDJSON lines to their JSON lines.
 *
 * @module
 */

import { ConfigError, RequestError } from "../errors/mod.ts";
import type { Recommender, RecommendRequest } from "./request.ts";

/** One request of a batch: a request and the user it is for. */
export interface BatchRequest extends Omit<RecommendRequest, "user"> {
  /** Who the request is for: copied to the result. */
  user: string;
}

/** The answer to one {@linkcode BatchRequest}. */
export interface BatchResult {
  /** The request's user. */
  user: string;
  /** Recommended item ids, best first (absent on error). */
  items?: string[];
  /** Their scores (0 for backfill), aligned with `items`. */
  scores?: number[];
  /** Why the request was refused (a {@linkcode RequestError}'s message). */
  error?: string;
}

/**
 * Answers one request; a {@linkcode RequestError} becomes the result's
 * `error`, any other failure is thrown.
 *
 * @param recommender The backend.
 * @param line The request.
 * @param signal Aborts it.
 * @returns The result.
 */
export async function answerRequest(
  recommender: Recommender,
  line: BatchRequest,
  signal?: AbortSignal,
): Promise<BatchResult> {
  const { user, ...request } = line;
  try {
    const recs = await recommender.recommend(
      request as RecommendRequest,
      signal ? { signal } : {},
    );
    const items = new Array<string>(recs.length);
    const scores = new Array<number>(recs.length);
    for (let i = 0; i < recs.length; i++) {
      items[i] = recs[i].id;
      scores[i] = recs[i].score;
    }
    return { user, items, scores };
  } catch (error) {
    if (error instanceof RequestError) return { user, error: error.message };
    throw error;
  }
}

/**
 * Checks one parsed batch line: an object with a non-empty string `user`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseBatchLine } from "./batch.ts";
 *
 * assert.deepEqual(parseBatchLine({ user: "u", history: ["a"] }, "b.ndjson:1"), {
 *   user: "u",
 *   history: ["a"],
 * });
 * assert.throws(
 *   () => parseBatchLine({ history: ["a"] }, "b.ndjson:2"),
 *   /b.ndjson:2: user must be a non-empty string/,
 * );
 * ```
 *
 * @param value A parsed JSON value.
 * @param where `file:line`, for messages.
 * @returns The request.
 * @throws {ConfigError} When the line is not an object with a user.
 */
export function parseBatchLine(value: unknown, where: string): BatchRequest {
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    throw new ConfigError(`${where}:`, "must be a JSON object");
  }
  const user = (value as { user?: unknown }).user;
  if (typeof user !== "string" || user === "") {
    throw new ConfigError(
      `${where}: user`,
      `must be a non-empty string, got ${JSON.stringify(user)}`,
    );
  }
  return value as BatchRequest;
}

/**
 * One raw NDJSON line (without its `\n`) as a request, or `undefined` for a
 * blank line.
 *
 * @param raw The line.
 * @param path The file, for messages.
 * @param line Its number (from 1).
 * @returns The request, or `undefined`.
 * @throws {ConfigError} When the line is not JSON or has no user.
 */
export function parseRawLine(
  raw: string,
  path: string,
  line: number,
): BatchRequest | undefined {
  if (raw.trim() === "") return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(
      `${path}:${line}:`,
      `is not JSON: ${(e as Error).message}`,
    );
  }
  return parseBatchLine(value, `${path}:${line}`);
}

/**
 * A backend that answers the plain lines of an NDJSON batch straight from
 * their bytes: batch files ask it first, and answer a line it declines as
 * for any backend (`JSON.parse`, then `recommend`).
 */
export interface BatchLineAnswerer {
  /**
   * Answers one line as the general path would (parse, then `recommend`
   * with the line's `user` taken out), or declines it.
   *
   * @param bytes UTF-8 lines.
   * @param start The line's first byte.
   * @param end Its end (exclusive, before its `\n`).
   * @returns The line's result, or `undefined` to leave the line to the
   * general path (any line it does not read, any refused request).
   */
  answerBatchLine(
    bytes: Uint8Array,
    start: number,
    end: number,
  ): BatchResult | undefined;
}

const answersLines = (
  r: Recommender,
): r is Recommender & BatchLineAnswerer =>
  typeof (r as Partial<BatchLineAnswerer>).answerBatchLine === "function";

/** The JSON lines answering a chunk of NDJSON lines. */
export interface LinesAnswer {
  /** One JSON line (with `\n`) per request, in order. */
  text: string;
  /** Requests answered. */
  results: number;
  /** Of which refused (`error`). */
  failed: number;
  /**
   * The line that ended the chunk early (not JSON, no user): the
   * {@linkcode ConfigError}'s path and reason; `text` holds the lines
   * before it.
   */
  stop?: { path: string; reason: string };
}

/**
 * Answers the NDJSON lines of `bytes` (whole UTF-8 lines; the last may lack
 * its `\n`), as JSON lines: each line as the backend's
 * {@linkcode BatchLineAnswerer} answers it, else decoded (as one stream
 * over the file decodes it: a BOM is dropped only at the start of the
 * file), parsed and answered by `recommend`.
 *
 * @param recommender The backend.
 * @param bytes The lines.
 * @param first Whether they start the file.
 * @param path The file, for messages.
 * @param firstLine The number of the first line (from 1).
 * @returns Their answers, or those before a malformed line and its error.
 */
export async function answerLines(
  recommender: Recommender,
  bytes: Uint8Array,
  first: boolean,
  path: string,
  firstLine: number,
): Promise<LinesAnswer> {
  const lines = answersLines(recommender) ? recommender : undefined;
  let out = "";
  let results = 0, failed = 0;
  let line = firstLine;
  for (let start = 0; start < bytes.length; line++) {
    let nl = bytes.indexOf(10, start);
    if (nl < 0) nl = bytes.length;
    const at = start;
    start = nl + 1;
    const fast = lines?.answerBatchLine(bytes, at, nl);
    if (fast !== undefined) {
      results++;
      out += JSON.stringify(fast) + "\n";
      continue;
    }
    const raw = (first && at === 0 ? withBom : noBom).decode(
      bytes.subarray(at, nl),
    );
    let request: BatchRequest | undefined;
    try {
      request = parseRawLine(raw, path, line);
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      // ConfigError's message is `path reason`
      const reason = error.message.slice(error.path.length + 1);
      return { text: out, results, failed, stop: { path: error.path, reason } };
    }
    if (request === undefined) continue;
    const result = await answerRequest(recommender, request);
    if (result.error !== undefined) failed++;
    results++;
    out += JSON.stringify(result) + "\n";
  }
  return { text: out, results, failed };
}

// a line decoded as a stream over the whole file decodes it: the file's
// first line drops a BOM, the others keep it (U+FEFF)
const withBom = new TextDecoder("utf-8");
const noBom = new TextDecoder("utf-8", { ignoreBOM: true });

/** A message to a batch worker. */
export type ToWorker =
  | { kind: "init"; state: unknown }
  | { kind: "requests"; id: number; requests: BatchRequest[] }
  | {
    kind: "lines";
    id: number;
    /** Whole UTF-8 lines. */
    bytes: Uint8Array;
    path: string;
    /** The number of the first line. */
    line: number;
    /** Whether the bytes start the file (a BOM there is dropped). */
    first: boolean;
  };

/** A batch worker's answer. */
export type FromWorker =
  | { kind: "ready" }
  | { kind: "requests"; id: number; results: BatchResult[] }
  | {
    kind: "lines";
    id: number;
    /** The JSON lines, UTF-8. */
    bytes: Uint8Array;
    results: number;
    failed: number;
    stop?: { path: string; reason: string };
  }
  | { kind: "failed"; message: string };
