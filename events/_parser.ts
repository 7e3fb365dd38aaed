/**
 * Internal: the byte-level line parser behind every reader. It scans the
 * decompressed bytes once, splitting fields at the delimiter byte and lines
 * at `\n` (or `\r\n`), and writes {@linkcode EventColumns}: no string is
 * made per line or per field on the fast path.
 *
 * Rules (documented in read.ts), each checked in the same byte loop (a table
 * of byte classes: only a delimiter, `\n`, `\r`, `"` or a byte >= 0x80 leaves
 * the plain path): a UTF-8 BOM is skipped; UTF-16 and other compressions are
 * refused; a line with a byte >= 0x80 is checked to be UTF-8 (an error for
 * the whole input); a `\r` not before the `\n` is an error; lines longer
 * than `maxLineBytes` fail (or are skipped) without holding more than that
 * in memory; a line with `"` takes the slow path: RFC 4180 quotes within a
 * line elsewhere, none in the key fields; unix timestamps must be plain
 * decimal numbers (read digit by digit while scanning).
 *
 * Runs of plain lines are read by the fast loop in `_fast_lines.ts`, which
 * takes a line only when these rules accept it as it is and leaves any
 * other to the per-line path here (`fastLines: false` turns it off: the
 * oracle its tests compare with).
 *
 * @module
 */

import { CcoError } from "../errors/mod.ts";
import { EventColumns } from "./columns.ts";
import type { EventFormat, TimestampUnit } from "./format.ts";
import {
  type BatchColumns,
  byteClasses,
  END,
  EventNames,
  fastLines,
  FastRules,
  fastState,
  isUtf8,
  NON_ASCII,
  QUOTE_BYTE,
} from "./_fast_lines.ts";

/** A malformed events file: `file:line: reason`. */
export class EventParseError extends CcoError {
  /** The HTTP status: 400 (the input is at fault). */
  override readonly status: number = 400;
  /** File (or source) name. */
  readonly file: string;
  /** 1-based line number (0: the file as a whole). */
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

/** Lines left out under `onError: "skip"`. */
export interface SkipReport {
  /** How many lines were skipped. */
  count: number;
  /** The first few errors (at most 5), for the report. */
  first: EventParseError[];
}

/** Default longest line accepted, in bytes (1 MiB). */
export const DEFAULT_MAX_LINE_BYTES = 1 << 20;

/** Parser options. */
export interface ParserOptions {
  /** `"fail"` (default) or `"skip"`. */
  onError?: "fail" | "skip";
  /** Filled in with skipped lines under `"skip"`. */
  skipped?: SkipReport;
  /** Longest line accepted (default {@linkcode DEFAULT_MAX_LINE_BYTES}). */
  maxLineBytes?: number;
  /**
   * Whether plain lines take the fast path (default `true`; `false` reads
   * every line by the per-line path, the oracle the tests compare with).
   */
  fastLines?: boolean;
}

const lenient = new TextDecoder();
const encoder = new TextEncoder();

// thrown inside the parser for one bad line; turned into an error or a skip
class LineError {
  constructor(readonly reason: string, readonly line: number) {}
}

/**
 * Splits one line at `delimiter`, honouring RFC 4180 quotes within the
 * line. Throws a string reason for an unterminated quote. With `raw`, the
 * fields as written (quotes included) are pushed onto it.
 */
export function splitLine(
  text: string,
  delimiter: string,
  raw?: string[],
): string[] {
  if (!text.includes('"')) {
    const fields = text.split(delimiter);
    raw?.push(...fields);
    return fields;
  }
  const out: string[] = [];
  let i = 0;
  const n = text.length;
  for (;;) {
    if (text[i] === '"') {
      let value = "";
      let j = i + 1;
      for (;;) {
        const q = text.indexOf('"', j);
        if (q < 0) {
          throw "unterminated quoted field (quoted line breaks are not supported)";
        }
        value += text.slice(j, q);
        if (text[q + 1] === '"') {
          value += '"';
          j = q + 2;
          continue;
        }
        j = q + 1;
        break;
      }
      out.push(value);
      raw?.push(text.slice(i, j));
      if (j === n) return out;
      if (!text.startsWith(delimiter, j)) {
        throw "a quoted field must be followed by the delimiter or the line end";
      }
      i = j + delimiter.length;
    } else {
      const d = text.indexOf(delimiter, i);
      const field = text.slice(i, d < 0 ? n : d);
      out.push(field);
      raw?.push(field);
      if (d < 0) return out;
      i = d + delimiter.length;
    }
  }
}

/**
 * Input quoted for a message: one line, control and unprintable characters
 * escaped, at most about 100 characters (cut with `...`).
 */
export function shown(text: string): string {
  let out = "";
  for (const c of text) {
    const code = c.charCodeAt(0);
    const escaped = c === '"' || c === "\\"
      ? `\\${c}`
      : code < 0x20 || (code >= 0x7f && code <= 0x9f) || code === 0x2028 ||
          code === 0x2029 || code === 0xfffd ||
          (c.length === 1 && code >= 0xd800 && code <= 0xdfff)
      ? `\\u${code.toString(16).padStart(4, "0")}`
      : c;
    if (out.length + escaped.length > 100) return `"${out}..."`;
    out += escaped;
  }
  return `"${out}"`;
}

/**
 * Parses `YYYY-MM-DD HH`, `YYYY-MM-DD HH:MM[:SS]` or ISO 8601 text as UTC
 * (unless it has an offset). Returns NaN when unparseable.
 */
export function parseDateTime(raw: string): number {
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

// scanLine's results, by slot
const US = 0, UE = 1, IS = 2, IE = 3, ES = 4, EE = 5, TS = 6, TE = 7;
const FIELD = 8, FLAGS = 9;
const scan = new Int32Array(10);
const tFastOf = new Float64Array(1);

// what a line held besides plain fields (scan[FLAGS])
const QUOTE = 1; // a `"` somewhere (or a delimiter of several bytes)
const CR = 2; // a carriage return not just before the line feed
const HIGH = 4; // a byte >= 0x80 (the line is checked to be UTF-8)

/**
 * Scans one line from `pos`: records the used fields' offsets in `out`
 * (and the timestamp, when plain digits, in tFastOf[0], else -1), and what
 * else the line held (out[FLAGS]), and returns the offset of the line break
 * (`\n`, or the `\r` of `\r\n` or of a `\r` at the end of `buf`), or `end`.
 */
function scanLine(
  buf: Uint8Array,
  pos: number,
  end: number,
  cls: Uint8Array,
  uc: number,
  ic: number,
  ec: number,
  tc: number,
  fastTime: boolean,
  out: Int32Array,
): number {
  let field = 0;
  let fieldStart = pos;
  let uS = -1, uE = -1, iS = -1, iE = -1, eS = -1, eE = -1, tS = -1, tE = -1;
  let tFast = -1, digitsEnd = -1;
  let flags = 0;
  let b = 0;
  // field by field; the timestamp's digits are read while scanning
  for (;;) {
    fieldStart = pos;
    if (field === tc && fastTime) {
      let v = 0;
      while (pos < end) {
        b = buf[pos];
        const d = b - 48;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        pos++;
      }
      if (pos - fieldStart <= 15 && pos > fieldStart) tFast = v;
      digitsEnd = pos;
    }
    // (the rest of a timestamp: anything there sends it to the strict
    // slow path)
    for (; pos < end; pos++) {
      b = buf[pos];
      const k = cls[b];
      if (k === 0) continue;
      if (k === END) break;
      if (k === NON_ASCII) flags |= HIGH;
      else if (k === QUOTE_BYTE) flags |= QUOTE;
      else if (pos + 1 < end && buf[pos + 1] !== 10) flags |= CR;
      else break; // \r\n, or a \r at the end: the caller decides
    }
    if (field === uc) (uS = fieldStart), (uE = pos);
    else if (field === ic) (iS = fieldStart), (iE = pos);
    else if (field === ec) (eS = fieldStart), (eE = pos);
    else if (field === tc) {
      tS = fieldStart;
      tE = pos;
      // more than digits: the strict slow path reads it
      if (pos !== digitsEnd) tFast = -1;
    }
    if (pos === end || b === 10 || b === 13) break;
    pos++;
    field++;
  }
  out[US] = uS;
  out[UE] = uE;
  out[IS] = iS;
  out[IE] = iE;
  out[ES] = eS;
  out[EE] = eE;
  out[TS] = tS;
  out[TE] = tE;
  out[FIELD] = field;
  out[FLAGS] = flags;
  tFastOf[0] = tFast;
  return pos;
}

// a batch's columns with room for `cap` events
function newColumns(cap: number): BatchColumns {
  return {
    userStart: new Uint32Array(cap),
    userEnd: new Uint32Array(cap),
    itemStart: new Uint32Array(cap),
    itemEnd: new Uint32Array(cap),
    type: new Uint8Array(cap),
    time: new Float64Array(cap),
  };
}

// twice the room, the events so far kept
function growColumns(cols: BatchColumns) {
  const bigger = newColumns(cols.type.length * 2);
  bigger.userStart.set(cols.userStart);
  bigger.userEnd.set(cols.userEnd);
  bigger.itemStart.set(cols.itemStart);
  bigger.itemEnd.set(cols.itemEnd);
  bigger.type.set(cols.type);
  bigger.time.set(cols.time);
  Object.assign(cols, bigger);
}

/** Result of parsing one buffer. */
export interface ParsedChunk {
  /** The events of the complete lines (undefined when none). */
  columns?: EventColumns;
  /** Offset of the first byte not consumed (an incomplete last line). */
  rest: number;
}

// what the first bytes of an input say it is, when it is not text
function compression(buf: Uint8Array): string | undefined {
  const starts = (...bytes: number[]) => bytes.every((b, i) => buf[i] === b);
  // "BZh" and a block size digit
  if (starts(0x42, 0x5a, 0x68) && buf[3] >= 0x31 && buf[3] <= 0x39) {
    return "bzip2";
  }
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return "xz";
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return "zstd";
  if (starts(0x50, 0x4b, 0x03, 0x04)) return "zip";
  if (starts(0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c)) return "7z";
  return undefined;
}

const CR_INSIDE =
  "carriage return inside a line (a file with old Mac line endings?)";
const NOT_UTF8 = "is not UTF-8 text (an invalid byte on this line)";
const BLANK = "blank line in the middle of the file";

/**
 * The parser's state across buffers of one input: line count, header,
 * event type codes, pending blank lines.
 */
export class ByteParser {
  /** Lines consumed so far (the number of the last one). */
  line = 0;
  readonly #f: EventFormat;
  readonly #file: string;
  readonly #delimiter: string;
  readonly #delim: number; // the delimiter byte, or -1 for the slow path
  readonly #cls: Uint8Array; // byte classes for scanLine
  readonly #unit: TimestampUnit;
  readonly #aliases: Map<string, string>;
  readonly #accepted?: Set<string>;
  readonly #maxLine: number;
  readonly #skip?: SkipReport;
  #columns = -1; // exact count, or -(minimum) when any count >= it goes
  #userCol = -1;
  #itemCol = -1;
  #eventCol = -1;
  #timeCol = -1;
  #needHeader: boolean;
  #started = false;
  #pendingBlank = 0; // first line of a run of blank lines not yet reported
  #skippingLongLine = false;
  #sawContent = false;
  /** Canonical event type names by code (shared by every batch). */
  readonly eventTypes: string[] = [];
  // raw event name bytes -> code (-1: not accepted)
  #names = new EventNames();
  #bytesPerEvent = 16; // bytes per event in the last buffer (room estimate)
  #fixedCode = -1;
  // the fast path's rules, once the columns are known (null: not usable)
  #fast: FastRules | null | undefined;

  /**
   * Creates a parser.
   *
   * @param f The resolved format.
   * @param file Source name for messages.
   * @param options Error handling and the line limit.
   */
  constructor(f: EventFormat, file: string, options: ParserOptions = {}) {
    this.#f = f;
    this.#file = file;
    if (options.onError === "skip") {
      this.#skip = options.skipped ?? { count: 0, first: [] };
    } else if (options.onError !== undefined && options.onError !== "fail") {
      throw new TypeError(
        `onError must be "fail" or "skip", got "${options.onError}"`,
      );
    }
    this.#maxLine = options.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES;
    if (!(Number.isInteger(this.#maxLine) && this.#maxLine > 0)) {
      throw new TypeError(
        `maxLineBytes must be a positive integer, got ${options.maxLineBytes}`,
      );
    }
    this.#delimiter = f.delimiter ?? ",";
    const d = encoder.encode(this.#delimiter);
    this.#delim = d.length === 1 && d[0] !== 34 && d[0] !== 10 && d[0] !== 13
      ? d[0]
      : -1;
    this.#cls = byteClasses(this.#delim);
    this.#unit = f.timestampUnit ?? "ms";
    this.#aliases = new Map(Object.entries(f.eventAliases ?? {}));
    if (f.events) this.#accepted = new Set(f.events);
    this.#needHeader = f.header !== false;
    if (!this.#needHeader) this.#resolveIndexes();
    if (f.event === undefined) this.#fixedCode = this.#code(f.fixedEvent!);
    if (options.fastLines === false) this.#fast = null;
  }

  // the fast path's rules (after the header): one-byte delimiter, unix
  // timestamps, distinct columns
  #fastRules(): FastRules | null {
    if (this.#fast !== undefined) return this.#fast;
    const rules = new FastRules(
      this.#cls,
      this.#delim,
      this.#userCol,
      this.#itemCol,
      this.#eventCol,
      this.#timeCol,
      this.#columns,
      this.#maxLine,
      this.#unit === "s" ? 1000 : 1,
      this.#fixedCode,
    );
    this.#fast = this.#delim >= 0 && this.#unit !== "datetime" &&
        rules.usable()
      ? rules
      : null;
    return this.#fast;
  }

  #code(name: string): number {
    let code = this.eventTypes.indexOf(name);
    if (code < 0) {
      code = this.eventTypes.length;
      if (code > 255) {
        throw new EventParseError(
          this.#file,
          this.line,
          "more than 256 event types",
        );
      }
      this.eventTypes.push(name);
    }
    return code;
  }

  // a malformed line: thrown to the line's loop
  #fail(reason: string, line = this.line): never {
    throw new LineError(reason, line);
  }

  // wrong for the whole input (or the header): an error even under "skip"
  #fatal(reason: string, line = this.line): never {
    throw new EventParseError(this.#file, line, reason);
  }

  // a malformed line: an error, or counted under "skip"
  #report(reason: string, line: number) {
    if (!this.#skip) throw new EventParseError(this.#file, line, reason);
    this.#skip.count++;
    if (this.#skip.first.length < 5) {
      this.#skip.first.push(new EventParseError(this.#file, line, reason));
    }
  }

  #resolveIndexes(names?: string[]) {
    const f = this.#f;
    const find = (key: "user" | "item" | "event" | "timestamp") => {
      const col = f[key];
      if (col === undefined) return -1;
      if (typeof col === "number") return col;
      return names ? names.indexOf(col) : -1;
    };
    if (names) {
      const wanted = (["user", "item", "event", "timestamp"] as const)
        .map((k) => f[k])
        .filter((c): c is string => typeof c === "string");
      const missing = wanted.filter((c) => !names.includes(c));
      if (missing.length > 0) {
        this.#fatal(
          `missing header: expected column${missing.length > 1 ? "s" : ""} ${
            missing.map((m) => shown(m)).join(", ")
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
      this.#fatal(
        `column index ${maxCol} is out of range for ${this.#columns} columns`,
      );
    }
    if (this.#columns === -1) this.#columns = -(maxCol + 1);
  }

  // the code of a raw event name; -1 when not accepted (the caller fails)
  #eventCode(buf: Uint8Array, s: number, e: number): number {
    const j = this.#names.find(buf, s, e);
    if (j >= 0) return this.#names.codes[j];
    const len = e - s;
    if (len === 0) this.#fail("empty event name");
    // (the line was checked to be UTF-8)
    return this.#learn(lenient.decode(buf.subarray(s, e)), buf.slice(s, e));
  }

  #learn(raw: string, bytes: Uint8Array): number {
    const event = this.#aliases.get(raw) ?? raw;
    let code: number;
    if (this.#accepted && !this.#accepted.has(event)) {
      code = -1;
    } else if (event === "") {
      code = -2;
    } else {
      code = this.#code(event);
    }
    this.#names.add(bytes, code);
    return code;
  }

  #unknownEvent(raw: string): never {
    const event = this.#aliases.get(raw) ?? raw;
    if (event === "") this.#fail("empty event name");
    return this.#fail(
      `unknown event ${shown(event)}; accepted: ${
        [...new Set([...this.#accepted!, ...this.#aliases.keys()])].join(", ")
      }`,
    );
  }

  // unix timestamp bytes -> ms, strictly: -?digits(.digits)?
  #timestamp(buf: Uint8Array, s: number, e: number): number {
    if (this.#unit === "datetime") {
      const raw = lenient.decode(buf.subarray(s, e));
      const ms = parseDateTime(raw);
      if (!Number.isFinite(ms)) {
        this.#fail(`timestamp ${shown(raw)} is not a date-time`);
      }
      return ms;
    }
    let i = s;
    const neg = i < e && buf[i] === 45;
    if (neg) i++;
    let v = 0;
    const first = i;
    while (i < e) {
      const d = buf[i] - 48;
      if (d < 0 || d > 9) break;
      v = v * 10 + d;
      i++;
    }
    const digits = i - first;
    let exact = digits > 0 && digits <= 15;
    if (digits > 0 && i < e && buf[i] === 46) {
      const dot = ++i;
      while (i < e && buf[i] >= 48 && buf[i] <= 57) i++;
      if (i === dot) i = -1; // "12." is not plain
      exact = false;
    }
    if (digits === 0 || i !== e) {
      this.#fail(
        `timestamp ${
          shown(lenient.decode(buf.subarray(s, e)))
        } is not a plain decimal number (unix ${this.#unit})`,
      );
    }
    if (!exact) v = Math.abs(Number(lenient.decode(buf.subarray(first, e))));
    let ms = neg ? 0 - v : v;
    if (this.#unit === "s") ms *= 1000;
    if (!Number.isFinite(ms)) {
      this.#fail(
        `timestamp ${
          shown(lenient.decode(buf.subarray(s, e)))
        } is out of range`,
      );
    }
    return ms === 0 ? 0 : ms;
  }

  /**
   * Parses the complete lines of `buf`. With `final`, the last line needs
   * no terminator.
   *
   * @param buf Bytes (a partial line from the previous call first).
   * @param final Whether this is the end of the input.
   * @returns The events and the offset of the unconsumed rest.
   */
  parse(buf: Uint8Array, final: boolean): ParsedChunk {
    let pos = 0;
    const end = buf.length;
    if (!this.#started) {
      if (end < 6 && !final) return { rest: 0 };
      this.#started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
      else if (
        (buf[0] === 0xff && buf[1] === 0xfe) ||
        (buf[0] === 0xfe && buf[1] === 0xff)
      ) {
        this.#fatal(
          "UTF-16 text is not supported: convert the file to UTF-8",
          1,
        );
      } else {
        const kind = compression(buf);
        if (kind) {
          this.#fatal(
            `is ${kind}-compressed: decompress it first (gzip is read as it is)`,
            1,
          );
        }
      }
    }
    if (this.#skippingLongLine) {
      // the rest of a line already reported as too long
      const nl = buf.indexOf(10, pos);
      if (nl < 0) return { rest: end };
      this.#skippingLongLine = false;
      pos = nl + 1;
    }
    // room for the events the bytes likely hold (by the lines so far; the
    // columns grow when they hold more): zeroed memory costs time too
    const first = pos;
    const cols = newColumns(
      Math.max(16, Math.ceil((end - pos) / this.#bytesPerEvent * 1.1) + 16),
    );
    let n = 0;
    let extra: Uint8Array[] | undefined; // id bytes of slow-path lines
    let extraSize = 0;
    const cls = this.#cls;
    const slowAlways = this.#delim < 0;
    const maxLine = this.#maxLine;
    const fastTime = this.#unit !== "datetime";
    let uc = this.#userCol, ic = this.#itemCol;
    let ec = this.#eventCol, tc = this.#timeCol;
    let rest = end;
    // the fast path reads the complete lines, up to the last \n
    let fast = this.#needHeader ? undefined : this.#fastRules();
    const fastEnd = this.#fast !== null ? buf.lastIndexOf(10, end - 1) + 1 : 0;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let misses = 0;
    while (pos < end) {
      if (fast && pos < fastEnd && this.#pendingBlank === 0) {
        if (n === cols.type.length) growColumns(cols);
        const line = this.line;
        n = fastLines(
          buf,
          view,
          pos,
          fastEnd,
          fast,
          this.#names,
          cols,
          n,
          line,
        );
        pos = fastState[0];
        if (fastState[1] > 0) {
          this.line = line + fastState[1];
          this.#sawContent = true;
          misses = 0;
        } else if (++misses === 8) {
          fast = null; // lines it cannot take, one after another: not here
        }
        if (pos === end) break;
        if (n === cols.type.length) continue;
      }
      const lineStart = pos;
      pos = scanLine(buf, pos, end, cls, uc, ic, ec, tc, fastTime, scan);
      const flags = scan[FLAGS];
      const uS = scan[US], uE = scan[UE], iS = scan[IS], iE = scan[IE];
      const eS = scan[ES], eE = scan[EE], tS = scan[TS], tE = scan[TE];
      const tFast = tFastOf[0];
      const lineEnd = pos;
      if (lineEnd - lineStart > maxLine) {
        // too long: reported once, then bytes dropped up to the next \n
        // (found without holding or scanning the line again)
        this.line++;
        this.#sawContent = true;
        this.#flushBlank();
        const reason = `line longer than ${maxLine} bytes${
          flags & CR ? " (a file with old Mac line endings?)" : ""
        }`;
        if (this.#needHeader) this.#fatal(reason);
        this.#report(reason, this.line);
        const nl = buf.indexOf(10, pos);
        if (nl < 0) {
          if (!final) this.#skippingLongLine = true;
          rest = end;
          break;
        }
        pos = nl + 1;
        continue;
      }
      // the line break: \n, \r\n, or a \r at the very end of the input
      if (pos === end) {
        if (!final) {
          rest = lineStart;
          break;
        }
      } else if (buf[pos] === 10) pos++;
      else if (pos + 1 < end) pos += 2;
      else if (final) pos++;
      else {
        rest = lineStart; // a \r last in buf: is a \n next?
        break;
      }
      this.line++;
      if (lineEnd === lineStart) {
        this.#pendingBlank ||= this.line;
        continue;
      }
      this.#sawContent = true;
      if (this.#pendingBlank) this.#flushBlank();
      if (flags !== 0) {
        // invalid UTF-8 says the file is not UTF-8 text: never skipped
        if (flags & HIGH && !isUtf8(buf, lineStart, lineEnd)) {
          this.#fatal(NOT_UTF8);
        }
        if (flags & CR) {
          if (this.#needHeader) this.#fatal(CR_INSIDE);
          this.#report(CR_INSIDE, this.line);
          continue;
        }
      }
      if (this.#needHeader) {
        this.#header(buf, lineStart, lineEnd);
        uc = this.#userCol;
        ic = this.#itemCol;
        ec = this.#eventCol;
        tc = this.#timeCol;
        fast = this.#fastRules();
        continue;
      }
      if (n === cols.type.length) growColumns(cols);
      try {
        if (flags & QUOTE || slowAlways) {
          const parsed = this.#slowLine(buf, lineStart, lineEnd);
          if (!extra) extra = [];
          const base = end + extraSize;
          const u = encoder.encode(parsed.user);
          const it = encoder.encode(parsed.item);
          extra.push(u, it);
          cols.userStart[n] = base;
          cols.userEnd[n] = base + u.length;
          cols.itemStart[n] = base + u.length;
          cols.itemEnd[n] = base + u.length + it.length;
          extraSize += u.length + it.length;
          cols.type[n] = parsed.code;
          cols.time[n] = parsed.time;
          n++;
          continue;
        }
        const fields = scan[FIELD] + 1;
        const columns = this.#columns;
        if (columns >= 0 ? fields !== columns : fields < -columns) {
          this.#fail(
            `expected ${
              columns >= 0 ? columns : `at least ${-columns}`
            } columns, got ${fields}`,
          );
        }
        if (uS === uE) this.#fail("empty user id");
        if (iS === iE) this.#fail("empty item id");
        let code = this.#fixedCode;
        if (ec >= 0) {
          code = this.#eventCode(buf, eS, eE);
          if (code < 0) {
            this.#unknownEvent(lenient.decode(buf.subarray(eS, eE)));
          }
        }
        cols.time[n] = tc < 0
          ? this.line
          : tFast >= 0
          ? (this.#unit === "s" ? tFast * 1000 : tFast)
          : this.#timestamp(buf, tS, tE);
        cols.userStart[n] = uS;
        cols.userEnd[n] = uE;
        cols.itemStart[n] = iS;
        cols.itemEnd[n] = iE;
        cols.type[n] = code;
        n++;
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        this.#report(error.reason, error.line);
      }
    }
    if (n > 1000) {
      this.#bytesPerEvent = Math.max(8, (rest - first) / n);
    }
    if (n === 0) return { rest };
    let bytes = buf;
    if (extra) {
      bytes = new Uint8Array(end + extraSize);
      bytes.set(buf);
      let at = end;
      for (const part of extra) {
        bytes.set(part, at);
        at += part.length;
      }
    }
    return {
      columns: new EventColumns({
        length: n,
        bytes,
        userStart: cols.userStart,
        userEnd: cols.userEnd,
        itemStart: cols.itemStart,
        itemEnd: cols.itemEnd,
        type: cols.type,
        time: cols.time,
        eventTypes: this.eventTypes,
      }),
      rest,
    };
  }

  // the run of blank lines before this line: each one a malformed line
  #flushBlank() {
    const first = this.#pendingBlank;
    if (!first) return;
    this.#pendingBlank = 0;
    for (let line = first; line < this.line; line++) this.#report(BLANK, line);
  }

  #split(text: string, raw?: string[]): string[] {
    try {
      return splitLine(text, this.#delimiter, raw);
    } catch (reason) {
      if (typeof reason === "string") return this.#fail(reason);
      throw reason;
    }
  }

  #header(buf: Uint8Array, s: number, e: number) {
    this.#needHeader = false;
    let names: string[];
    try {
      // (header names may be quoted: they are no data)
      names = this.#split(lenient.decode(buf.subarray(s, e))).map((x) =>
        x.trim()
      );
    } catch (error) {
      if (error instanceof LineError) this.#fatal(error.reason, error.line);
      throw error;
    }
    this.#resolveIndexes(names);
  }

  // a line with quotes (or a delimiter of several bytes), as strings
  #slowLine(buf: Uint8Array, s: number, e: number) {
    const raw: string[] = [];
    const fields = this.#split(lenient.decode(buf.subarray(s, e)), raw);
    const n = fields.length;
    const columns = this.#columns;
    if (columns >= 0 ? n !== columns : n < -columns) {
      this.#fail(
        `expected ${
          columns >= 0 ? columns : `at least ${-columns}`
        } columns, got ${n}`,
      );
    }
    // quotes are read in other columns; in these, `"2"` and `2` would be
    // two ids, or a quote part of one: refused
    for (
      const col of [this.#userCol, this.#itemCol, this.#eventCol, this.#timeCol]
    ) {
      if (col >= 0 && raw[col].includes('"')) {
        this.#fail(
          `quoted field ${
            shown(raw[col])
          }: quotes are not supported in the user, item, event and timestamp columns`,
        );
      }
    }
    const user = fields[this.#userCol];
    if (user === "") this.#fail("empty user id");
    const item = fields[this.#itemCol];
    if (item === "") this.#fail("empty item id");
    let code = this.#fixedCode;
    if (this.#eventCol >= 0) {
      const raw = fields[this.#eventCol];
      const bytes = encoder.encode(raw);
      code = this.#eventCode(bytes, 0, bytes.length);
      if (code < 0) this.#unknownEvent(raw);
    }
    let time = this.line;
    if (this.#timeCol >= 0) {
      const t = encoder.encode(fields[this.#timeCol]);
      time = this.#timestamp(t, 0, t.length);
    }
    return { user, item, code, time };
  }

  /**
   * Ends the input: an input without any non-blank line is an error.
   *
   * @throws {EventParseError} For an empty file.
   */
  finish(): void {
    if (!this.#sawContent) {
      throw new EventParseError(this.#file, 1, "empty file: no events");
    }
  }
}
