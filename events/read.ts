/**
 * Streaming reader for interaction logs: plain or gzipped delimited text,
 * one event per line, normalised to {@linkcode Event}.
 *
 * The default format is RetailRocket's `events.csv` (header
 * `timestamp,visitorid,event,itemid,transactionid`, unix milliseconds,
 * events `view`, `addtocart`, `transaction`); `format.ts` describes others
 * and names presets for known logs.
 *
 * The reader parses bytes, not strings: {@linkcode readEventColumns} yields
 * {@linkcode EventColumns} batches whose ids are offsets into the
 * decompressed bytes, which is what a build interns (several million events
 * a second on one core). {@linkcode readEvents} and
 * {@linkcode readEventBatches} give event objects on top of it.
 *
 * What the reader accepts, exactly:
 * - **Compression**: gzip when the file starts with the gzip magic bytes,
 *   whatever its name (plain text named `.gz` is read as text).
 *   Concatenated gzip members (`cat a.gz b.gz`) are read as one stream;
 *   corrupt or truncated data is an error naming the line reached. bzip2,
 *   xz, zstd, zip and 7z are refused, naming what they are.
 * - **Text**: UTF-8 anywhere on a line (an invalid byte is an error at its
 *   line, even with `onError: "skip"`: the file is in another encoding);
 *   a leading UTF-8 byte-order mark is skipped; UTF-16 is refused.
 * - **Lines** end with `\n` or `\r\n`; the last line needs no line break
 *   (a `\r` at the very end is a line break too). A carriage return
 *   anywhere else is an error (old Mac files are not read as something
 *   else). An empty line at the end is ignored; one in the middle is an
 *   error (each line of a run is counted when skipped). A line longer than
 *   `maxLineBytes` (default 1 MiB) is an error (or skipped): the reader
 *   never holds more than that of one line, and finds it without
 *   quadratic work.
 * - **Fields** are split at the delimiter. RFC 4180 quotes are accepted
 *   within a line in the header and in columns the reader does not use
 *   (`"a,b"`, `""` for a quote); a quoted field cannot span lines. The
 *   user, item, event and timestamp fields must hold no `"` (`"2"` and `2`
 *   would be two ids); user, item and event must not be empty.
 * - **Timestamps** in unix ms or s are plain decimal numbers:
 *   `-?[0-9]+(\.[0-9]+)?`. `1e3`, `0x10`, ` 12`, `12abc`, `+5`, `1_000`,
 *   `.5`, `5.`, `Infinity`, other digits than ASCII and the empty string
 *   are errors; `-0` is 0. Date-time text is described in `format.ts`.
 * - **Messages** are one line: input shown in them is escaped (control
 *   characters as `\uXXXX`) and cut to about 100 characters.
 *
 * Nothing is silently dropped: a malformed line raises an
 * {@linkcode EventParseError} `file:line: cause`; with `onError: "skip"`
 * malformed data lines are counted instead.
 *
 * @example Read RetailRocket events from text
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEvents } from "./read.ts";
 *
 * const csv = "timestamp,visitorid,event,itemid,transactionid\n" +
 *   "1433221332117,257597,view,355908,\n";
 * for await (const e of parseEvents(csv)) {
 *   assert.deepEqual(e, { user: "257597", item: "355908", event: "view", timestamp: 1433221332117 });
 * }
 * ```
 *
 * @module
 */

import { EventColumns } from "./columns.ts";
import { type Event, type EventFormat, resolveFormat } from "./format.ts";
import {
  ByteParser,
  DEFAULT_MAX_LINE_BYTES,
  EventParseError,
  type SkipReport,
} from "./_parser.ts";
import {
  CHUNK_BYTES,
  fileChunks,
  HEADROOM,
  InputError,
  Passthrough,
  readBuffers,
} from "./_input.ts";

export { DEFAULT_MAX_LINE_BYTES, EventParseError, type SkipReport };

/** What to do with a malformed line. */
export type OnError = "fail" | "skip";

/** Options for reading events. */
export interface ReadOptions {
  /**
   * `"fail"` (default): the first malformed line throws an
   * {@linkcode EventParseError}. `"skip"`: malformed data lines are counted
   * in `skipped` and left out (a missing header or an unreadable file still
   * fails).
   */
  onError?: OnError;
  /** Filled in with the skipped lines when `onError` is `"skip"`. */
  skipped?: SkipReport;
  /**
   * Longest line accepted, in bytes (default
   * {@linkcode DEFAULT_MAX_LINE_BYTES}, 1 MiB).
   */
  maxLineBytes?: number;
  /**
   * Called as the file is read with the bytes of the file read so far
   * (compressed bytes for a gzip file) and its size.
   */
  onProgress?: (read: number, total: number) => void;
  /**
   * {@linkcode readEventColumns} only: read, decompress and parse in a
   * worker thread, so that this thread only consumes the batches (a build
   * interns ids while the next lines are parsed). Default `false`.
   */
  parallel?: boolean;
}

/** Input to the parsers: bytes, text chunks, or one whole text. */
export type EventSource =
  | ReadableStream<Uint8Array>
  | Uint8Array
  | Iterable<string>
  | AsyncIterable<string>
  | string;

/**
 * Streams the events of a file as column batches (the fast path: no
 * string per event). Gzip is known by the file's first bytes, whatever
 * its name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEventColumns } from "./read.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "timestamp,visitorid,event,itemid,transactionid\n1,u,view,i,\n");
 * let n = 0;
 * for await (const batch of readEventColumns(path)) n += batch.length;
 * assert.equal(n, 1);
 * await Deno.remove(path);
 * ```
 *
 * @param path File path.
 * @param format Format or preset name (default RetailRocket).
 * @param options Error handling, line limit, progress.
 * @returns Batches of events, in file order.
 * @throws {EventParseError} On the first malformed line (by default), or
 * when the file cannot be opened, read or decompressed.
 */
export function readEventColumns(
  path: string,
  format?: EventFormat | string,
  options: ReadOptions = {},
): AsyncGenerator<EventColumns> {
  const resolved = resolveFormat(format);
  const parser = new ByteParser(resolved, path, options);
  if (options.parallel) return parallelColumns(path, resolved, options);
  return columnsOf(fileChunks(path, options.onProgress), parser, path);
}

interface FromWorker {
  batch?: Omit<ConstructorParameters<typeof EventColumns>[0], "eventTypes">;
  eventTypes?: string[];
  read?: number;
  total?: number;
  done?: boolean;
  skipped?: SkipReportMessage;
  error?: { file?: string; line?: number; reason?: string; message?: string };
}

interface SkipReportMessage {
  count: number;
  first: { file: string; line: number; reason: string }[];
}

// readEventColumns in a worker: batches arrive with their buffers
// transferred; at most a few are in flight (the worker waits for credit)
async function* parallelColumns(
  path: string,
  format: EventFormat,
  options: ReadOptions,
): AsyncGenerator<EventColumns> {
  const worker = new Worker(new URL("./_read_worker.ts", import.meta.url), {
    type: "module",
  });
  const queue: FromWorker[] = [];
  let notify: (() => void) | undefined;
  worker.onmessage = (event: MessageEvent<FromWorker>) => {
    queue.push(event.data);
    notify?.();
  };
  worker.onerror = (event: ErrorEvent) => {
    event.preventDefault();
    queue.push({ error: { message: event.message } });
    notify?.();
  };
  worker.postMessage({
    path,
    format,
    options: { onError: options.onError, maxLineBytes: options.maxLineBytes },
  });
  worker.postMessage({ credit: 4 });
  const eventTypes: string[] = [];
  try {
    for (;;) {
      while (queue.length === 0) {
        await new Promise<void>((resolve) => notify = resolve);
      }
      const m = queue.shift()!;
      if (m.error) {
        const e = m.error;
        throw e.reason !== undefined
          ? new EventParseError(e.file!, e.line!, e.reason)
          : new EventParseError(path, 0, `cannot read: ${e.message}`);
      }
      if (m.read !== undefined) options.onProgress?.(m.read, m.total!);
      if (m.done) {
        if (options.skipped && m.skipped) {
          options.skipped.count += m.skipped.count;
          for (const e of m.skipped.first) {
            if (options.skipped.first.length < 5) {
              options.skipped.first.push(
                new EventParseError(e.file, e.line, e.reason),
              );
            }
          }
        }
        return;
      }
      for (let i = eventTypes.length; i < (m.eventTypes?.length ?? 0); i++) {
        eventTypes.push(m.eventTypes![i]);
      }
      yield new EventColumns({ ...m.batch!, eventTypes });
      worker.postMessage({ credit: 1 });
    }
  } finally {
    worker.terminate();
  }
}

/**
 * Parses events from bytes, text chunks or a whole text, as column
 * batches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEventColumns } from "./read.ts";
 *
 * const batches = await Array.fromAsync(parseEventColumns(["1,2,3,pv,", "10\n"], "taobao"));
 * assert.deepEqual(batches[0].toEvents(), [{ user: "1", item: "2", event: "view", timestamp: 10000 }]);
 * ```
 *
 * @param source Bytes, text chunks (not necessarily whole lines), or text.
 * @param format Format or preset name (default RetailRocket).
 * @param sourceName Name used in error messages (default `"<input>"`).
 * @param options Error handling and line limit.
 * @returns Batches of events, in order.
 * @throws {EventParseError} On the first malformed line (by default).
 */
export function parseEventColumns(
  source: EventSource,
  format?: EventFormat | string,
  sourceName = "<input>",
  options: ReadOptions = {},
): AsyncGenerator<EventColumns> {
  const parser = new ByteParser(resolveFormat(format), sourceName, options);
  return columnsOf(byteChunks(source), parser, sourceName);
}

/**
 * Streams the events of a file, plain or gzip-compressed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEvents } from "./read.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "timestamp,visitorid,event,itemid,transactionid\n1,u,view,i,\n");
 * const events = await Array.fromAsync(readEvents(path));
 * assert.deepEqual(events, [{ user: "u", item: "i", event: "view", timestamp: 1 }]);
 * await Deno.remove(path);
 * ```
 *
 * @param path File path.
 * @param format Format or preset name (default RetailRocket).
 * @param options Error handling.
 * @returns The events, in file order.
 * @throws {EventParseError} On the first malformed line (by default).
 */
export async function* readEvents(
  path: string,
  format?: EventFormat | string,
  options: ReadOptions = {},
): AsyncGenerator<Event> {
  for await (const batch of readEventColumns(path, format, options)) {
    yield* batch.toEvents();
  }
}

/**
 * Like {@linkcode readEvents}, but yields the events in arrays, one per
 * chunk read. (A build is faster still on {@linkcode readEventColumns}.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readEventBatches } from "./read.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "timestamp,visitorid,event,itemid,transactionid\n1,u,view,i,\n");
 * let n = 0;
 * for await (const batch of readEventBatches(path)) n += batch.length;
 * assert.equal(n, 1);
 * await Deno.remove(path);
 * ```
 *
 * @param path File path.
 * @param format Format or preset name (default RetailRocket).
 * @param options Error handling.
 * @returns Arrays of events, in file order.
 * @throws {EventParseError} On the first malformed line (by default).
 */
export async function* readEventBatches(
  path: string,
  format?: EventFormat | string,
  options: ReadOptions = {},
): AsyncGenerator<Event[]> {
  for await (const batch of readEventColumns(path, format, options)) {
    yield batch.toEvents();
  }
}

/**
 * Parses events from a byte stream, text chunks, or a whole text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEvents } from "./read.ts";
 *
 * const lines = ["1,2,3,buy,1511658000"];
 * const events = await Array.fromAsync(parseEvents(lines, "taobao"));
 * assert.deepEqual(events, [
 *   { user: "1", item: "2", event: "transaction", timestamp: 1511658000000 },
 * ]);
 * ```
 *
 * @param source Bytes, text chunks (not necessarily whole lines), or text.
 * @param format Format or preset name (default RetailRocket).
 * @param sourceName Name used in error messages (default `"<input>"`).
 * @param options Error handling.
 * @returns The events in order.
 * @throws {EventParseError} On the first malformed line (by default).
 */
export async function* parseEvents(
  source: EventSource,
  format?: EventFormat | string,
  sourceName = "<input>",
  options: ReadOptions = {},
): AsyncGenerator<Event> {
  for await (
    const batch of parseEventColumns(source, format, sourceName, options)
  ) {
    yield* batch.toEvents();
  }
}

/**
 * Parses events in arrays, one per chunk of input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEventBatches } from "./read.ts";
 *
 * const text = "timestamp,visitorid,event,itemid,transactionid\n1,2,view,3,\n";
 * const batches = await Array.fromAsync(parseEventBatches(text));
 * assert.deepEqual(batches.map((b) => b.length), [1]);
 * ```
 *
 * @param source Bytes, text chunks (not necessarily whole lines), or text.
 * @param format Format or preset name (default RetailRocket).
 * @param sourceName Name used in error messages (default `"<input>"`).
 * @param options Error handling.
 * @returns Arrays of events, in order.
 * @throws {EventParseError} On the first malformed line (by default).
 */
export async function* parseEventBatches(
  source: EventSource,
  format?: EventFormat | string,
  sourceName = "<input>",
  options: ReadOptions = {},
): AsyncGenerator<Event[]> {
  for await (
    const batch of parseEventColumns(source, format, sourceName, options)
  ) {
    yield batch.toEvents();
  }
}

async function* columnsOf(
  chunks: AsyncIterable<Uint8Array>,
  parser: ByteParser,
  sourceName: string,
): AsyncGenerator<EventColumns> {
  let carry: Uint8Array | undefined;
  // chunks held back while a partial line is carried: it is parsed again
  // only once as many new bytes came as it has, so that a long line in
  // small chunks costs linear time, not quadratic
  const held: Uint8Array[] = [];
  let heldSize = 0;
  try {
    for await (const chunk of ahead(chunks)) {
      if (carry && heldSize + chunk.length < carry.length) {
        held.push(chunk);
        heldSize += chunk.length;
        continue;
      }
      held.push(chunk);
      const buf = !carry && held.length === 1
        ? chunk
        : carry && held.length === 1 && readBuffers.has(chunk.buffer) &&
            chunk.byteOffset === HEADROOM && carry.length <= HEADROOM
        ? prepend(carry, chunk)
        : concat(carry, held);
      held.length = 0;
      heldSize = 0;
      const { columns, rest } = parser.parse(buf, false);
      // a copy: the batch (and its buffer) may be handed to another thread
      carry = rest < buf.length ? buf.slice(rest) : undefined;
      if (columns) yield columns;
    }
    if (held.length > 0) carry = concat(carry, held);
  } catch (error) {
    if (error instanceof Passthrough) throw error.error;
    if (error instanceof InputError) {
      throw new EventParseError(
        sourceName,
        error.wholeFile ? 0 : parser.line + 1,
        error.reason,
      );
    }
    if (error instanceof EventParseError) throw error;
    throw new EventParseError(
      sourceName,
      parser.line + 1,
      `cannot read: ${
        String((error as Error)?.message ?? error).split("\n")[0]
      }`,
    );
  }
  const { columns } = parser.parse(carry ?? new Uint8Array(0), true);
  if (columns) yield columns;
  parser.finish();
}

// the chunks, each next one asked for before this one is used: the file is
// read (off this thread) while the parser works
async function* ahead<T>(source: AsyncIterable<T>): AsyncGenerator<T> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      next.catch(() => {}); // awaited next turn, or dropped if we stop
      yield r.value;
    }
  } finally {
    await it.return?.();
  }
}

// the carried bytes written into the free bytes before a chunk: one buffer
// without copying the chunk
function prepend(carry: Uint8Array, chunk: Uint8Array): Uint8Array {
  const buf = new Uint8Array(
    chunk.buffer,
    chunk.byteOffset - carry.length,
    carry.length + chunk.length,
  );
  buf.set(carry);
  return buf;
}

function concat(first: Uint8Array | undefined, more: Uint8Array[]): Uint8Array {
  let size = first?.length ?? 0;
  for (const part of more) size += part.length;
  const out = new Uint8Array(size);
  let at = 0;
  if (first) {
    out.set(first);
    at = first.length;
  }
  for (const part of more) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

async function* byteChunks(source: EventSource): AsyncGenerator<Uint8Array> {
  const encoder = new TextEncoder();
  if (typeof source === "string") {
    yield encoder.encode(source);
    return;
  }
  if (source instanceof Uint8Array) {
    yield source;
    return;
  }
  if (source instanceof ReadableStream) {
    // gather small stream chunks into parser-sized ones
    const parts: Uint8Array[] = [];
    let size = 0;
    for await (const bytes of source) {
      parts.push(bytes);
      size += bytes.length;
      if (size >= CHUNK_BYTES) {
        yield parts.length === 1 ? parts[0] : concatAll(parts, size);
        parts.length = 0;
        size = 0;
      }
    }
    if (size > 0) yield concatAll(parts, size);
    return;
  }
  // text chunks: a surrogate pair split across chunks is joined first
  let pending = "";
  for await (const chunk of source as AsyncIterable<string>) {
    let text = pending + chunk;
    pending = "";
    const last = text.charCodeAt(text.length - 1);
    if (last >= 0xd800 && last <= 0xdbff) {
      pending = text.slice(-1);
      text = text.slice(0, -1);
    }
    if (text) yield encoder.encode(text);
  }
  if (pending) yield encoder.encode(pending);
}

function concatAll(parts: Uint8Array[], size: number): Uint8Array {
  const out = new Uint8Array(size);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
