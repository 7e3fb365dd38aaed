/**
 * Streaming reader for interaction logs: plain or gzipped delimited text,
 * one event per line, normalised to {@linkcode Event}.
 *
 * The default format is RetailRocket's `events.csv` (header
 * `timestamp,visitorid,event,itemid,transactionid`, unix milliseconds,
 * events `view`, `addtocart`, `transaction`); `format.ts` describes others
 * and names presets for known logs.
 *
 * Nothing is silently dropped: a malformed line raises an
 * {@linkcode EventParseError} naming the file, the line and the cause. Only
 * an empty last line (a trailing newline) is skipped; `\r\n` line endings are
 * accepted, a carriage return anywhere else is an error (old Mac files would
 * otherwise read as one line). Quoted fields are not supported: a user,
 * item, event or timestamp field holding `"` is an error (none of the
 * supported logs quote). Timestamps are decimal numbers only (not
 * `0x10`, `1e3` or ` 12`); text must be UTF-8 (a UTF-8 BOM is dropped);
 * a line over {@linkcode MAX_LINE_LENGTH} characters is an error, found
 * without reading it whole. A file is gzip-decompressed when its content is
 * gzip, whatever its name, all members of it; bzip2, xz, zstd, zip, 7z and
 * UTF-16 files are refused with what they are.
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

import { CcoError } from "../errors/mod.ts";
import { Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import {
  type Event,
  type EventFormat,
  resolveFormat,
  type TimestampUnit,
} from "./format.ts";

/** A malformed events file: `file:line: reason`. */
export class EventParseError extends CcoError {
  /** The HTTP status: 400 (the input is at fault). */
  override readonly status: number = 400;
  /** File (or source) name. */
  readonly file: string;
  /** 1-based line number. */
  readonly line: number;
  /** What is wrong. */
  readonly reason: string;

  /**
   * Creates the error.
   *
   * @param file File name.
   * @param line 1-based line.
   * @param reason The cause.
   */
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
    this.name = "EventParseError";
    this.file = file;
    this.line = line;
    this.reason = reason;
  }
}

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
}

/** Lines left out under `onError: "skip"`. */
export interface SkipReport {
  /** How many lines were skipped. */
  count: number;
  /** The first few errors (at most 5), for the report. */
  first: EventParseError[];
}

/** Input to the parsers: bytes, text chunks, or one whole text. */
export type EventSource =
  | ReadableStream<Uint8Array>
  | Iterable<string>
  | AsyncIterable<string>
  | string;

/**
 * Streams the events of a file, plain or gzip-compressed (by `.gz` suffix).
 *
 * @example
 * ```ts ignore
 * import { readEvents } from "./read.ts";
 *
 * for await (const e of readEvents("events.csv.gz")) console.log(e.user);
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
  for await (const batch of readEventBatches(path, format, options)) {
    yield* batch;
  }
}

/**
 * Like {@linkcode readEvents}, but yields the events in batches (one per
 * chunk read): much less per-event overhead, the fast path for large logs.
 * {@linkcode buildIndicators} accepts batches directly.
 *
 * @example
 * ```ts ignore
 * import { readEventBatches } from "./read.ts";
 *
 * let n = 0;
 * for await (const batch of readEventBatches("events.csv")) n += batch.length;
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
  const resolved = resolveFormat(format);
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new EventParseError(
      path,
      0,
      `cannot open: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  // the content says what the file is, not its name: gzip is read
  // whatever the name (and with several members, as `cat a.gz b.gz`
  // makes); other compressions and UTF-16 are refused by name
  let kind: string | undefined;
  try {
    const head = new Uint8Array(6);
    const n = await file.read(head) ?? 0;
    await file.seek(0, Deno.SeekMode.Start);
    kind = sniff(head.subarray(0, n));
  } catch (error) {
    file.close();
    throw new EventParseError(
      path,
      0,
      `cannot read: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (kind !== undefined && kind !== "gzip") {
    file.close();
    throw new EventParseError(
      path,
      1,
      kind === "UTF-16"
        ? "is UTF-16 text: convert it to UTF-8"
        : `is ${kind}-compressed: decompress it first (gzip is read as it is)`,
    );
  }
  const stream = kind === "gzip" ? gunzip(file.readable) : file.readable;
  yield* parseEventBatches(stream, resolved, path, options);
}

// what the first bytes of a file say it is
function sniff(head: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return "gzip";
  if (starts(0x42, 0x5a, 0x68)) return "bzip2";
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "zip";
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return "7z";
  if (starts(0xff, 0xfe) || starts(0xfe, 0xff)) return "UTF-16";
  return undefined;
}

// gzip, every member of it (the web DecompressionStream stops after the
// first with "failed to write whole buffer"); a consumer that stops early
// (a malformed line) ends the decompression too
function gunzip(
  stream: ReadableStream<Uint8Array>,
): ReadableStream<Uint8Array> {
  const source = Readable.fromWeb(
    stream as Parameters<typeof Readable.fromWeb>[0],
  );
  const inflate = source.pipe(createGunzip());
  source.on("error", (error) => inflate.destroy(error));
  async function* bytes() {
    try {
      for await (const chunk of inflate) {
        yield new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.byteLength);
      }
    } finally {
      inflate.destroy();
      source.destroy();
    }
  }
  return ReadableStream.from(bytes());
}

/** Longest line read, in characters: longer ones are not events. */
export const MAX_LINE_LENGTH = 1 << 20;

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
    const batch of parseEventBatches(source, format, sourceName, options)
  ) {
    yield* batch;
  }
}

/**
 * Parses events in batches, one per chunk of input.
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
  const f = resolveFormat(format);
  const parser = new LineParser(f, sourceName, options);
  // the current line's pieces, joined once it ends: concatenating each
  // chunk to a long partial line and searching it again was quadratic
  let pending: string[] = [];
  let pendingLength = 0;
  let discarding = false; // the rest of an over-long line, already counted
  let first = true;
  try {
    for await (let chunk of chunks(source)) {
      if (first && chunk !== "") {
        first = false;
        if (chunk.charCodeAt(0) === 0xfeff) chunk = chunk.slice(1); // BOM
      }
      const batch: Event[] = [];
      let start = 0;
      let nl = chunk.indexOf("\n");
      while (nl !== -1) {
        if (discarding) discarding = false;
        else {
          let line = chunk.slice(start, nl);
          if (pending.length > 0) {
            line = pending.join("") + line;
            pending = [];
            pendingLength = 0;
          }
          if (line.length > MAX_LINE_LENGTH + 1) parser.tooLong();
          else {
            const event = parser.parse(
              line.endsWith("\r") ? line.slice(0, -1) : line,
            );
            if (event) batch.push(event);
          }
        }
        start = nl + 1;
        nl = chunk.indexOf("\n", start);
      }
      if (!discarding && start < chunk.length) {
        const tail = chunk.slice(start);
        pending.push(tail);
        pendingLength += tail.length;
        if (pendingLength > MAX_LINE_LENGTH + 1) {
          parser.tooLong();
          pending = [];
          pendingLength = 0;
          discarding = true;
        }
      }
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    if (error instanceof EventParseError) throw error;
    if (error instanceof NotUtf8) {
      const newlines = error.before.split("\n").length - 1;
      throw new EventParseError(
        sourceName,
        parser.line + 1 + newlines,
        "is not UTF-8 text (an invalid byte on this line)",
      );
    }
    throw new EventParseError(
      sourceName,
      parser.line + 1,
      `cannot read: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  // The last line has no newline; an empty last line is the trailing newline.
  const rest = discarding ? "" : pending.join("");
  if (rest !== "") {
    const event = parser.parse(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
    if (event) yield [event];
  }
  parser.finish();
}

class NotUtf8 extends Error {
  constructor(readonly before: string) {
    super("not UTF-8");
  }
}

async function* chunks(source: EventSource): AsyncGenerator<string> {
  if (typeof source === "string") {
    yield source;
  } else if (source instanceof ReadableStream) {
    // invalid UTF-8 is an error: replacement characters would merge
    // distinct ids silently
    const decoder = new TextDecoder("utf-8", { fatal: true });
    const decode = (bytes?: Uint8Array) => {
      try {
        return bytes
          ? decoder.decode(bytes, { stream: true })
          : decoder.decode();
      } catch {
        // where: the text before the first invalid byte
        const text = new TextDecoder().decode(bytes ?? new Uint8Array());
        throw new NotUtf8(text.slice(0, Math.max(0, text.indexOf("\ufffd"))));
      }
    };
    for await (const bytes of source) yield decode(bytes);
    const rest = decode();
    if (rest) yield rest;
  } else {
    yield* source;
  }
}

class LineParser {
  #f: EventFormat;
  #file: string;
  #delimiter: string;
  line = 0;
  #columns = -1;
  #userCol = -1;
  #itemCol = -1;
  #eventCol = -1;
  #timeCol = -1;
  #unit: TimestampUnit;
  #aliases: Map<string, string>;
  #accepted?: Set<string>;
  #pendingBlank = 0;
  #skip?: SkipReport;

  constructor(f: EventFormat, file: string, options: ReadOptions = {}) {
    this.#f = f;
    this.#file = file;
    if (options.onError === "skip") {
      this.#skip = options.skipped ?? { count: 0, first: [] };
    } else if (options.onError !== undefined && options.onError !== "fail") {
      throw new TypeError(
        `onError must be "fail" or "skip", got "${options.onError}"`,
      );
    }
    this.#delimiter = f.delimiter ?? ",";
    this.#unit = f.timestampUnit ?? "ms";
    this.#aliases = new Map(Object.entries(f.eventAliases ?? {}));
    if (f.events) this.#accepted = new Set(f.events);
    if (f.header === false) this.#resolveIndexes();
  }

  #error(reason: string, line = this.line): never {
    throw new EventParseError(this.#file, line, reason);
  }

  parse(line: string): Event | undefined {
    const header = this.line === 0 && this.#f.header !== false;
    if (!this.#skip || header) return this.#parse(line);
    try {
      return this.#parse(line);
    } catch (error) {
      if (!(error instanceof EventParseError)) throw error;
      this.#skipped(error);
      return undefined;
    }
  }

  // a line over MAX_LINE_LENGTH: an error, or a skipped line
  tooLong() {
    this.parse(`\u0000too long`);
  }

  #skipped(error: EventParseError) {
    this.#skip!.count++;
    if (this.#skip!.first.length < 5) this.#skip!.first.push(error);
  }

  #resolveIndexes(names?: string[]) {
    const f = this.#f;
    const find = (key: "user" | "item" | "event" | "timestamp") => {
      const col = f[key];
      if (col === undefined) return -1;
      if (typeof col === "number") return col;
      const i = names ? names.indexOf(col) : -1;
      return i;
    };
    if (names) {
      const wanted = (["user", "item", "event", "timestamp"] as const)
        .map((k) => f[k])
        .filter((c): c is string => typeof c === "string");
      const missing = wanted.filter((c) => !names.includes(c));
      if (missing.length > 0) {
        this.#error(
          `missing header: expected column${missing.length > 1 ? "s" : ""} ${
            missing.map((m) => `"${m}"`).join(", ")
          }, found ${shown(names.join(this.#delimiter))}`,
        );
      }
      this.#columns = names.length;
    } else if (f.columns !== undefined) {
      this.#columns = f.columns;
    }
    this.#userCol = find("user");
    this.#itemCol = find("item");
    this.#eventCol = find("event");
    this.#timeCol = find("timestamp");
    const maxCol = Math.max(
      this.#userCol,
      this.#itemCol,
      this.#eventCol,
      this.#timeCol,
    );
    if (this.#columns !== -1 && maxCol >= this.#columns) {
      this.#error(
        `column index ${maxCol} is out of range for ${this.#columns} columns`,
      );
    }
    if (this.#columns === -1) this.#columns = -(maxCol + 1); // minimum count
  }

  #parse(line: string): Event | undefined {
    this.line++;
    if (line === "") {
      this.#pendingBlank = this.#pendingBlank || this.line;
      return undefined;
    }
    if (this.#pendingBlank) {
      const blank = this.#pendingBlank;
      this.#pendingBlank = 0;
      const reason = "blank line in the middle of the file";
      if (!this.#skip) this.#error(reason, blank);
      // each blank line of a run is a line skipped
      for (let b = blank; b < this.line; b++) {
        this.#skipped(new EventParseError(this.#file, b, reason));
      }
    }
    if (line === "\u0000too long") {
      this.#error(
        `line longer than ${MAX_LINE_LENGTH} characters (is this an events file?)`,
      );
    }
    if (line.includes("\r")) {
      this.#error(
        "carriage return inside a line (a file with old Mac line endings?)",
      );
    }
    if (this.line === 1 && this.#f.header !== false) {
      this.#resolveIndexes(line.split(this.#delimiter).map((s) => s.trim()));
      return undefined;
    }
    const fields = line.split(this.#delimiter);
    const n = fields.length;
    if (this.#columns >= 0 ? n !== this.#columns : n < -this.#columns) {
      const expected = this.#columns >= 0
        ? `${this.#columns}`
        : `at least ${-this.#columns}`;
      this.#error(`expected ${expected} columns, got ${n}`);
    }
    for (
      const col of [this.#userCol, this.#itemCol, this.#eventCol, this.#timeCol]
    ) {
      if (col >= 0 && fields[col].includes('"')) {
        this.#error(
          `quoted field ${shown(fields[col])}: quoted fields are not supported`,
        );
      }
    }
    const user = fields[this.#userCol];
    if (user === "") this.#error("empty user id");
    const item = fields[this.#itemCol];
    if (item === "") this.#error("empty item id");
    let event: string;
    if (this.#eventCol >= 0) {
      const raw = fields[this.#eventCol];
      event = this.#aliases.get(raw) ?? raw;
    } else {
      event = this.#f.fixedEvent!;
    }
    if (this.#accepted && !this.#accepted.has(event)) {
      this.#error(
        `unknown event ${shown(event)}; accepted: ${
          [...new Set([...this.#accepted, ...this.#aliases.keys()])].join(", ")
        }`,
      );
    }
    if (event === "") this.#error("empty event name");
    return {
      user,
      item,
      event,
      // no timestamp column: file order is time
      timestamp: this.#timeCol < 0
        ? this.line
        : this.#timestamp(fields[this.#timeCol]),
    };
  }

  #timestamp(raw: string): number {
    let ms: number;
    if (this.#unit === "datetime") {
      ms = parseDateTime(raw);
    } else {
      // decimal digits only: Number() also reads "0x10", "1e3", " 12"
      const n = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : NaN;
      ms = this.#unit === "s" ? n * 1000 : n;
    }
    if (!Number.isFinite(ms)) {
      this.#error(
        `timestamp ${shown(raw)} is not ${
          this.#unit === "datetime"
            ? "a date-time"
            : `a number (unix ${this.#unit})`
        }`,
      );
    }
    return ms;
  }

  finish() {
    if (this.line === 0 || (this.line === 1 && this.#pendingBlank)) {
      this.#error("empty file: no events", 1);
    }
    if (this.line === 1 && this.#f.header !== false) {
      // header only: valid, zero events
    }
  }
}

// input quoted for a message: control and unprintable characters escaped,
// at most 100 characters
// deno-lint-ignore no-control-regex
const UNPRINTABLE = /[\x00-\x1f\x7f-\x9f\ufffd"\\]/g;
function shown(text: string): string {
  const escaped = text.slice(0, 200).replace(
    UNPRINTABLE,
    (c) =>
      c === '"' || c === "\\"
        ? `\\${c}`
        : `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`,
  );
  return `"${
    escaped.length > 100 || text.length > 200
      ? `${escaped.slice(0, 100)}...`
      : escaped
  }"`;
}

/**
 * Parses `YYYY-MM-DD HH`, `YYYY-MM-DD HH:MM[:SS]` or ISO 8601 text as UTC
 * (unless it has an offset). Returns NaN when unparseable.
 */
function parseDateTime(raw: string): number {
  const m =
    /^(\d{4}-\d{2}-\d{2})[ T](\d{2})(?::(\d{2})(?::(\d{2}(?:\.\d+)?))?)?(Z|[+-]\d{2}:?\d{2})?$/
      .exec(raw.trim());
  if (m) {
    const [, date, hh, mm = "00", ss = "00", zone = "Z"] = m;
    return Date.parse(`${date}T${hh}:${mm}:${ss}${zone}`);
  }
  if (/^\d{4}-\d{2}-\d{2}$/.test(raw.trim())) return Date.parse(raw.trim());
  return NaN;
}
