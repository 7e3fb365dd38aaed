/**
 * Batch scoring: one request per user, answered by any
 * {@linkcode Recommender} with the same request semantics as single
 * requests, results in input order as `{ user, items, scores }`.
 *
 * Batch files are NDJSON, one request per line with the user it is for:
 * `{"user": "u1", "history": {"transaction": ["a"]}, "num": 5}`. `user`
 * labels the line (it is not looked up in an event store); every other key
 * is a request key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recommendBatch } from "./batch.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [
 *   { id: "tent", indicators: ["stove"] },
 *   { id: "stove", indicators: ["tent"] },
 * ];
 * const recommender = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * const out = await Array.fromAsync(recommendBatch(recommender, [
 *   { user: "u1", history: ["stove"], backfill: false },
 *   { user: "u2", history: ["tent"], num: 0 },
 * ]));
 * assert.equal(out[0].user, "u1");
 * assert.deepEqual(out[0].items, ["tent"]);
 * assert.match(out[1].error!, /request.num must be >= 1, got 0/);
 * ```
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

/** Options of {@linkcode recommendBatch}. */
export interface BatchOptions {
  /**
   * Requests in flight at once (default 1: the embedded backend answers
   * synchronously; raise it for Elasticsearch).
   */
  concurrency?: number;
  /** Stops the batch (each request is aborted too). */
  signal?: AbortSignal;
}

/**
 * Answers every request, in input order. A request the recommender
 * refuses as malformed (a {@linkcode RequestError}) gives a result with
 * `error` and the batch goes on; any other failure (the cluster gone, the
 * signal fired) ends it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recommendBatch } from "./batch.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: [] }];
 * const r = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * const [one] = await Array.fromAsync(
 *   recommendBatch(r, [{ user: "x", history: ["b"], num: 1 }], { concurrency: 4 }),
 * );
 * assert.deepEqual(one, { user: "x", items: ["a"], scores: [one.scores![0]] });
 * ```
 *
 * @param recommender Any backend.
 * @param requests The requests, e.g. from {@linkcode readBatch}.
 * @param options Concurrency and an abort signal.
 * @returns The results, in input order.
 * @throws {ConfigError} For a concurrency that is not a positive integer.
 */
export async function* recommendBatch(
  recommender: Recommender,
  requests: Iterable<BatchRequest> | AsyncIterable<BatchRequest>,
  options: BatchOptions = {},
): AsyncGenerator<BatchResult> {
  const concurrency = options.concurrency ?? 1;
  if (!Number.isInteger(concurrency) || concurrency < 1) {
    throw new ConfigError(
      "concurrency",
      `must be a positive integer, got ${concurrency}`,
    );
  }
  const signal = options.signal;
  const answer = async (line: BatchRequest): Promise<BatchResult> => {
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
  };
  if (concurrency === 1) {
    for await (const line of requests) yield await answer(line);
    return;
  }
  const pending: Promise<BatchResult>[] = [];
  for await (const line of requests) {
    pending.push(answer(line));
    if (pending.length >= concurrency) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
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
 * Reads a batch file: NDJSON (plain, or gzip with a `.gz` name), one
 * request per line; blank lines are skipped. Streamed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readBatch } from "./batch.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".ndjson" });
 * await Deno.writeTextFile(path, '{"user":"u","history":["a"]}\n\n{"user":"v"}\n');
 * const lines = await Array.fromAsync(readBatch(path));
 * assert.deepEqual(lines.map((l) => l.user), ["u", "v"]);
 * await Deno.writeTextFile(path, "{oops\n");
 * await assert.rejects(() => Array.fromAsync(readBatch(path)), /:1: is not JSON/);
 * await Deno.remove(path);
 * ```
 *
 * @param path The file.
 * @returns The requests.
 * @throws {ConfigError} When the file cannot be read, or a line is not
 * JSON or has no user (`file:line: cause`).
 */
export async function* readBatch(
  path: string,
): AsyncGenerator<BatchRequest> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw new ConfigError(
      `${path}:`,
      `cannot be read: ${(e as Error).message.split("\n")[0]}`,
    );
  }
  let bytes: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    bytes = bytes.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  const text = bytes.pipeThrough(new TextDecoderStream());
  let line = 0;
  let carry = "";
  const parse = (raw: string): BatchRequest | undefined => {
    line++;
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
  };
  for await (const chunk of text) {
    let start = 0;
    const all = carry + chunk;
    for (let nl = all.indexOf("\n"); nl >= 0; nl = all.indexOf("\n", start)) {
      const request = parse(all.slice(start, nl));
      if (request) yield request;
      start = nl + 1;
    }
    carry = all.slice(start);
  }
  const last = parse(carry);
  if (last) yield last;
}
