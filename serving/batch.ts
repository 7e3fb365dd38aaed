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

import { ConfigError, DeadlineError } from "../errors/mod.ts";
import type { Recommender } from "./request.ts";
import {
  answerLines,
  answerRequest,
  type BatchRequest,
  type BatchResult,
  type FromWorker,
  parseRawLine,
} from "./_batch_answer.ts";
import type { BatchWorkerSource } from "./batch_worker.ts";
import { WorkerPool } from "./_worker_pool.ts";

export type {
  BatchLineAnswerer,
  BatchRequest,
  BatchResult,
} from "./_batch_answer.ts";
export { parseBatchLine } from "./_batch_answer.ts";
export type { BatchWorkerSource } from "./batch_worker.ts";

/** Options of {@linkcode recommendBatch} and {@linkcode recommendBatchFile}. */
export interface BatchOptions {
  /**
   * Requests in flight at once (default 1: the embedded backend answers
   * synchronously; raise it for Elasticsearch). Not used with workers.
   */
  concurrency?: number;
  /**
   * Worker threads scoring the batch, for a backend that can fork (a
   * {@linkcode ForkableRecommender}, the embedded one); 1 answers in this
   * thread. Default: for a file ({@linkcode recommendBatchFile}), the
   * number of cores; for requests in memory ({@linkcode recommendBatch}),
   * one less, since this thread copies every request to a worker and every
   * result back (on 2 cores, one thread answers faster than it and two
   * workers); at most 8. Workers start only for a batch of more than one
   * chunk, and the answers are the same bytes either way.
   */
  workers?: number;
  /** Requests per message to a worker (default 1024). */
  chunk?: number;
  /** Bytes of an NDJSON file per message to a worker (default 256 KiB). */
  chunkBytes?: number;
  /** Stops the batch (each request is aborted too). */
  signal?: AbortSignal;
}

/**
 * A backend whose batches can be scored in worker threads: it names the
 * worker module and the state each worker makes its copy from.
 */
export interface ForkableRecommender extends Recommender {
  /**
   * Where batch workers come from.
   *
   * @returns The worker module and the state sent to each worker.
   */
  batchWorker(): BatchWorkerSource;
}

const isForkable = (r: Recommender): r is ForkableRecommender =>
  typeof (r as Partial<ForkableRecommender>).batchWorker === "function";

// the cores, less those kept for this thread, at most 8 (a batch worker
// holds a copy of the index)
const defaultWorkers = (kept: number): number =>
  Math.max(1, Math.min(8, (navigator.hardwareConcurrency || 1) - kept));

function positive(name: string, value: number): number {
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigError(name, `must be a positive integer, got ${value}`);
  }
  return value;
}

// how many workers score the batch: 1 for a backend that cannot fork;
// `kept`: the cores left to this thread by default
function workersOf(
  recommender: Recommender,
  options: BatchOptions,
  kept: number,
): number {
  if (options.workers !== undefined) positive("workers", options.workers);
  if (!isForkable(recommender)) {
    if ((options.workers ?? 1) > 1) {
      throw new ConfigError(
        "workers",
        "needs a backend that answers in worker threads (the embedded one)",
      );
    }
    return 1;
  }
  return options.workers ?? defaultWorkers(kept);
}

// the workers for a batch, or undefined when the default count cannot load
// the worker module (no read or import permission for it): then the batch
// is answered in this thread, as before workers existed
function startPool(
  recommender: ForkableRecommender,
  workers: number,
  options: BatchOptions,
): WorkerPool | undefined {
  const source = recommender.batchWorker();
  if (options.workers === undefined) {
    const url = new URL(source.module);
    const status = url.protocol === "file:"
      ? Deno.permissions.querySync({ name: "read", path: url })
      : Deno.permissions.querySync({ name: "import", host: url.host });
    if (status.state !== "granted") return undefined;
  }
  return new WorkerPool(source, workers);
}

const aborted = (signal: AbortSignal | undefined) => {
  if (signal?.aborted) throw new DeadlineError("the request was aborted");
};

/**
 * Answers every request, in input order. A request the recommender
 * refuses as malformed (a `RequestError`) gives a result with `error` and
 * the batch goes on; any other failure (the cluster gone, the signal
 * fired, a worker failed) ends it. A {@linkcode ForkableRecommender} scores
 * a batch of more than one chunk in worker threads (`options.workers`),
 * with the same results.
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
 * @param options Workers, concurrency and an abort signal.
 * @returns The results, in input order.
 * @throws {ConfigError} For a concurrency, worker count or chunk that is
 * not a positive integer, or workers for a backend that cannot fork.
 * @throws {CcoError} When a worker failed.
 */
export async function* recommendBatch(
  recommender: Recommender,
  requests: Iterable<BatchRequest> | AsyncIterable<BatchRequest>,
  options: BatchOptions = {},
): AsyncGenerator<BatchResult> {
  const concurrency = positive("concurrency", options.concurrency ?? 1);
  const workers = workersOf(recommender, options, 1);
  const chunk = positive("chunk", options.chunk ?? 1024);
  const signal = options.signal;
  if (workers > 1) {
    yield* inWorkers(
      recommender as ForkableRecommender,
      requests,
      workers,
      chunk,
      options,
    );
    return;
  }
  if (concurrency === 1) {
    for await (const line of requests) {
      yield await answerRequest(recommender, line, signal);
    }
    return;
  }
  const pending: Promise<BatchResult>[] = [];
  for await (const line of requests) {
    pending.push(answerRequest(recommender, line, signal));
    if (pending.length >= concurrency) yield await pending.shift()!;
  }
  while (pending.length > 0) yield await pending.shift()!;
}

// chunks of requests to workers, two in flight per worker; a batch of one
// chunk is answered here
async function* inWorkers(
  recommender: ForkableRecommender,
  requests: Iterable<BatchRequest> | AsyncIterable<BatchRequest>,
  workers: number,
  size: number,
  options: BatchOptions,
): AsyncGenerator<BatchResult> {
  const signal = options.signal;
  let pool: WorkerPool | undefined;
  // no workers could start: every request is answered here
  let here = false;
  const inFlight: Promise<FromWorker>[] = [];
  const send = (chunk: BatchRequest[]) => {
    aborted(signal);
    inFlight.push(pool!.run({ kind: "requests", requests: chunk }));
  };
  try {
    // workers start with the second chunk: a batch of one is answered here
    let held: BatchRequest[] | undefined;
    let chunk: BatchRequest[] = [];
    for await (const line of requests) {
      if (here) {
        yield await answerRequest(recommender, line, signal);
        continue;
      }
      if (held) {
        aborted(signal);
        pool = startPool(recommender, workers, options);
        if (!pool) {
          here = true;
          for (const r of [...held, line]) {
            yield await answerRequest(recommender, r, signal);
          }
          held = undefined;
          continue;
        }
        send(held);
        held = undefined;
      }
      chunk.push(line);
      if (chunk.length < size) continue;
      if (pool) send(chunk);
      else held = chunk;
      chunk = [];
      if (inFlight.length >= 2 * workers) {
        const answer = await inFlight.shift()!;
        if (answer.kind === "requests") yield* answer.results;
        aborted(signal);
      }
    }
    if (here) return;
    if (!pool) {
      for (const line of held ?? chunk) {
        yield await answerRequest(recommender, line, signal);
      }
      return;
    }
    if (chunk.length > 0) send(chunk);
    while (inFlight.length > 0) {
      const answer = await inFlight.shift()!;
      if (answer.kind === "requests") yield* answer.results;
      aborted(signal);
    }
  } finally {
    pool?.close();
  }
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
  const bytes = await openBytes(path);
  const text = bytes.pipeThrough(new TextDecoderStream());
  let line = 0;
  let carry = "";
  for await (const chunk of text) {
    let start = 0;
    const all = carry + chunk;
    for (let nl = all.indexOf("\n"); nl >= 0; nl = all.indexOf("\n", start)) {
      const request = parseRawLine(all.slice(start, nl), path, ++line);
      if (request) yield request;
      start = nl + 1;
    }
    carry = all.slice(start);
  }
  const last = parseRawLine(carry, path, ++line);
  if (last) yield last;
}

// the file's bytes, gunzipped for a .gz name
async function openBytes(path: string): Promise<ReadableStream<Uint8Array>> {
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
  return bytes;
}

// whole lines of about `size` bytes (at least one line), with the number
// of their first line
async function* lineChunks(
  bytes: ReadableStream<Uint8Array>,
  size: number,
): AsyncGenerator<{ bytes: Uint8Array; line: number; first: boolean }> {
  let pieces: Uint8Array[] = [];
  let held = 0;
  let line = 1;
  let first = true;
  const take = (all: Uint8Array, end: number) => {
    const chunk = all.subarray(0, end);
    let lines = 0;
    for (let at = chunk.indexOf(10); at >= 0; at = chunk.indexOf(10, at + 1)) {
      lines++;
    }
    const out = { bytes: chunk, line, first };
    line += lines;
    first = false;
    return out;
  };
  // one fresh buffer: it may be moved to a worker
  const joined = () => {
    const all = new Uint8Array(held);
    let at = 0;
    for (const p of pieces) {
      all.set(p, at);
      at += p.length;
    }
    return all;
  };
  for await (const piece of bytes) {
    pieces.push(piece);
    held += piece.length;
    if (held < size) continue;
    const all = joined();
    const nl = all.lastIndexOf(10);
    if (nl < 0) {
      pieces = [all];
      continue;
    }
    // the rest, copied first: the chunk's buffer may be sent to a worker
    const rest = all.slice(nl + 1);
    yield take(all, nl + 1);
    pieces = rest.length > 0 ? [rest] : [];
    held = rest.length;
  }
  if (held > 0) yield take(joined(), held);
}

/** A run of a batch's output: JSON lines, one per request, in order. */
export interface BatchOutput {
  /** The lines, UTF-8, each ending in `\n`. */
  bytes: Uint8Array;
  /** How many results (lines). */
  results: number;
  /** How many of them are refused requests (`error`). */
  failed: number;
}

/**
 * Answers a batch file (see {@linkcode readBatch}) as JSON lines, the
 * `JSON.stringify` of each {@linkcode BatchResult} in input order, as
 * `recommend --batch` writes them. A {@linkcode ForkableRecommender} (the
 * embedded backend) reads, answers and formats whole chunks of lines in
 * worker threads (`options.workers`, the same bytes as in this thread);
 * another backend answers `options.concurrency` requests at a time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recommendBatchFile } from "./batch.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: [] }];
 * const r = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * const path = await Deno.makeTempFile({ suffix: ".ndjson" });
 * await Deno.writeTextFile(path, '{"user":"x","history":["b"],"num":1}\n{"user":"y","num":0}\n');
 * let text = "";
 * for await (const out of recommendBatchFile(r, path)) {
 *   text += new TextDecoder().decode(out.bytes);
 *   assert.deepEqual([out.results, out.failed], [2, 1]);
 * }
 * const [x, y] = text.trim().split("\n").map((l) => JSON.parse(l));
 * assert.deepEqual(x.items, ["a"]);
 * assert.match(y.error, /request.num must be >= 1/);
 * await Deno.remove(path);
 * ```
 *
 * @param recommender Any backend.
 * @param path The NDJSON file (`.gz` for gzip).
 * @param options Workers, chunk size, concurrency and an abort signal.
 * @returns The output, in runs of lines.
 * @throws {ConfigError} When the file cannot be read, or a line is not
 * JSON or has no user (`file:line: cause`; the lines before it are
 * answered first), or for an invalid option.
 * @throws {CcoError} When a worker failed.
 */
export async function* recommendBatchFile(
  recommender: Recommender,
  path: string,
  options: BatchOptions = {},
): AsyncGenerator<BatchOutput> {
  positive("concurrency", options.concurrency ?? 1);
  let workers = workersOf(recommender, options, 0);
  const size = positive("chunkBytes", options.chunkBytes ?? 1 << 18);
  const signal = options.signal;
  const encoder = new TextEncoder();
  if (!isForkable(recommender)) {
    // a malformed line ends the requests read: those before it are
    // answered (those in flight too) and written, then its error thrown
    let stop: ConfigError | undefined;
    const untilMalformed = async function* () {
      try {
        yield* readBatch(path);
      } catch (error) {
        if (!(error instanceof ConfigError)) throw error;
        stop = error;
      }
    };
    let text = "";
    let results = 0, failed = 0;
    for await (
      const r of recommendBatch(recommender, untilMalformed(), options)
    ) {
      text += JSON.stringify(r) + "\n";
      results++;
      if (r.error !== undefined) failed++;
      if (text.length >= size) {
        yield { bytes: encoder.encode(text), results, failed };
        text = "";
        results = failed = 0;
      }
    }
    if (results > 0) yield { bytes: encoder.encode(text), results, failed };
    if (stop) throw stop;
    return;
  }
  let pool: WorkerPool | undefined;
  const inFlight: Promise<FromWorker>[] = [];
  // one chunk's answer, in order; a malformed line ends the batch after
  // the lines before it
  function* output(answer: FromWorker): Generator<BatchOutput> {
    if (answer.kind !== "lines") return;
    const { bytes, results, failed } = answer;
    if (results > 0) yield { bytes, results, failed };
    if (answer.stop) {
      throw new ConfigError(answer.stop.path, answer.stop.reason);
    }
    aborted(signal);
  }
  const here = async (
    chunk: { bytes: Uint8Array; line: number; first: boolean },
  ): Promise<FromWorker> => {
    aborted(signal);
    const a = await answerLines(
      recommender,
      chunk.bytes,
      chunk.first,
      path,
      chunk.line,
    );
    return { kind: "lines", id: 0, ...a, bytes: encoder.encode(a.text) };
  };
  try {
    let held: { bytes: Uint8Array; line: number; first: boolean } | undefined;
    for await (const chunk of lineChunks(await openBytes(path), size)) {
      if (workers === 1) {
        yield* output(await here(chunk));
        continue;
      }
      // workers start at the second chunk: a small batch is answered here
      if (held === undefined && pool === undefined) {
        held = chunk;
        continue;
      }
      aborted(signal);
      pool ??= startPool(recommender, workers, options);
      if (!pool) {
        workers = 1;
        for (const c of [held!, chunk]) yield* output(await here(c));
        held = undefined;
        continue;
      }
      for (const c of held ? [held, chunk] : [chunk]) {
        inFlight.push(pool.run({ kind: "lines", path, ...c }, [
          c.bytes.buffer as ArrayBuffer,
        ]));
      }
      held = undefined;
      while (inFlight.length >= 2 * workers) {
        yield* output(await inFlight.shift()!);
      }
    }
    if (held) yield* output(await here(held));
    while (inFlight.length > 0) yield* output(await inFlight.shift()!);
  } finally {
    pool?.close();
  }
}
