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
 * accepted. Quoted fields are not supported: a delimiter inside quotes splits
 * the field (none of the supported logs quote).
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
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  yield* parseEventBatches(stream, resolved, path, options);
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
  let rest = "";
  try {
    for await (const chunk of chunks(source)) {
      const text = rest + chunk;
      const batch: Event[] = [];
      let start = 0;
      let nl = text.indexOf("\n", start);
      while (nl !== -1) {
        const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
        const event = parser.parse(text.slice(start, end));
        if (event) batch.push(event);
        start = nl + 1;
        nl = text.indexOf("\n", start);
      }
      rest = text.slice(start);
      if (batch.length > 0) yield batch;
    }
  } catch (error) {
    if (error instanceof EventParseError) throw error;
    throw new EventParseError(
      sourceName,
      parser.line,
      `cannot read: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  // The last line has no newline; an empty last line is the trailing newline.
  if (rest !== "") {
    const event = parser.parse(rest.endsWith("\r") ? rest.slice(0, -1) : rest);
    if (event) yield [event];
  }
  parser.finish();
}

async function* chunks(source: EventSource): AsyncGenerator<string> {
  if (typeof source === "string") {
    yield source;
  } else if (source instanceof ReadableStream) {
    const decoder = new TextDecoder("utf-8", { fatal: false });
    for await (const bytes of source) {
      yield decoder.decode(bytes, { stream: true });
    }
    const rest = decoder.decode();
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
          }, found "${names.join(this.#delimiter)}"`,
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
      this.#skipped(new EventParseError(this.#file, blank, reason));
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
        `unknown event "${event}"; accepted: ${
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
      const n = raw === "" ? NaN : Number(raw);
      ms = this.#unit === "s" ? n * 1000 : n;
    }
    if (!Number.isFinite(ms)) {
      this.#error(
        `timestamp "${raw}" is not ${
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
