/**
 * Internal: the byte-level line parser behind every reader. It scans the
 * decompressed bytes once, splitting fields at the delimiter byte and lines
 * at `\n`, `\r\n` or a lone `\r`, and writes {@linkcode EventColumns}:
 * no string is made per line or per field on the fast path.
 *
 * Rules (documented in read.ts): a UTF-8 BOM is skipped; UTF-16 is
 * refused; lines longer than `maxLineBytes` fail (or are skipped) without
 * holding more than that in memory; RFC 4180 quotes are accepted within a
 * line (a quoted field may hold the delimiter and `""`), not across lines;
 * ids must be valid UTF-8; unix timestamps must be plain decimal numbers.
 *
 * @module
 */

import { CcoError } from "../errors/mod.ts";
import { EventColumns } from "./columns.ts";
import type { EventFormat, TimestampUnit } from "./format.ts";

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
}

const fatal = new TextDecoder("utf-8", { fatal: true });
const lenient = new TextDecoder();
const encoder = new TextEncoder();

// thrown inside the parser for one bad line; turned into an error or a skip
class LineError {
  constructor(readonly reason: string, readonly line: number) {}
}

/**
 * Splits one line at `delimiter`, honouring RFC 4180 quotes within the
 * line. Throws a string reason for an unterminated quote.
 */
export function splitLine(text: string, delimiter: string): string[] {
  if (!text.includes('"')) return text.split(delimiter);
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
      if (j === n) return out;
      if (!text.startsWith(delimiter, j)) {
        throw "a quoted field must be followed by the delimiter or the line end";
      }
      i = j + delimiter.length;
    } else {
      const d = text.indexOf(delimiter, i);
      if (d < 0) {
        out.push(text.slice(i));
        return out;
      }
      out.push(text.slice(i, d));
      i = d + delimiter.length;
    }
  }
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
const FIELD = 8, SLOW = 9, HIGH = 10;
const scan = new Int32Array(11);
const tFastOf = new Float64Array(1);

/**
 * Scans one line from `pos`: records the used fields' offsets in `out`
 * (and the timestamp, when plain digits, in tFastOf[0], else -1) and
 * returns the offset of the line break (or `end`).
 */
function scanLine(
  buf: Uint8Array,
  pos: number,
  end: number,
  delim: number,
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
  let tFast = -1;
  let high = 0;
  let slow = delim < 0 || buf[pos] === 34 ? 1 : 0;
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
      // anything else (sign, decimals, junk): the strict slow path
      for (; pos < end; pos++) {
        b = buf[pos];
        if (b === delim || b === 10 || b === 13) break;
        tFast = -1;
      }
      tS = fieldStart;
      tE = pos;
    } else {
      for (; pos < end; pos++) {
        b = buf[pos];
        if (b === delim || b === 10 || b === 13) break;
        high |= b;
      }
      if (field === uc) (uS = fieldStart), (uE = pos);
      else if (field === ic) (iS = fieldStart), (iE = pos);
      else if (field === ec) (eS = fieldStart), (eE = pos);
      else if (field === tc) (tS = fieldStart), (tE = pos);
    }
    if (pos === end || b !== delim) break;
    pos++;
    field++;
    if (buf[pos] === 34) slow = 1;
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
  out[SLOW] = slow;
  out[HIGH] = high;
  tFastOf[0] = tFast;
  return pos;
}

/** Result of parsing one buffer. */
export interface ParsedChunk {
  /** The events of the complete lines (undefined when none). */
  columns?: EventColumns;
  /** Offset of the first byte not consumed (an incomplete last line). */
  rest: number;
}

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
  #pendingBlank = 0;
  #skippingLongLine = false;
  #sawContent = false;
  /** Canonical event type names by code (shared by every batch). */
  readonly eventTypes: string[] = [];
  // raw event name bytes -> code (-1: not accepted)
  #rawNames: Uint8Array[] = [];
  #rawCodes: number[] = [];
  #fixedCode = -1;

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
    this.#unit = f.timestampUnit ?? "ms";
    this.#aliases = new Map(Object.entries(f.eventAliases ?? {}));
    if (f.events) this.#accepted = new Set(f.events);
    this.#needHeader = f.header !== false;
    if (!this.#needHeader) this.#resolveIndexes();
    if (f.event === undefined) this.#fixedCode = this.#code(f.fixedEvent!);
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

  #fail(reason: string, line = this.line): never {
    throw new LineError(reason, line);
  }

  #report(error: LineError) {
    const e = new EventParseError(this.#file, error.line, error.reason);
    if (!this.#skip) throw e;
    this.#skip.count++;
    if (this.#skip.first.length < 5) this.#skip.first.push(e);
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
        throw new EventParseError(
          this.#file,
          this.line,
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
      throw new EventParseError(
        this.#file,
        this.line,
        `column index ${maxCol} is out of range for ${this.#columns} columns`,
      );
    }
    if (this.#columns === -1) this.#columns = -(maxCol + 1);
  }

  // the code of a raw event name; -1 when not accepted (the caller fails)
  #eventCode(buf: Uint8Array, s: number, e: number): number {
    const names = this.#rawNames;
    const len = e - s;
    outer: for (let k = 0; k < names.length; k++) {
      const name = names[k];
      if (name.length !== len) continue;
      for (let i = 0; i < len; i++) {
        if (name[i] !== buf[s + i]) continue outer;
      }
      return this.#rawCodes[k];
    }
    if (len === 0) this.#fail("empty event name");
    let raw: string;
    try {
      raw = fatal.decode(buf.subarray(s, e));
    } catch {
      return this.#fail("event name is not valid UTF-8");
    }
    return this.#learn(raw, buf.slice(s, e));
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
    if (this.#rawNames.length < 1024) {
      this.#rawNames.push(bytes);
      this.#rawCodes.push(code);
    }
    return code;
  }

  #unknownEvent(raw: string): never {
    const event = this.#aliases.get(raw) ?? raw;
    if (event === "") this.#fail("empty event name");
    return this.#fail(
      `unknown event "${event}"; accepted: ${
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
        this.#fail(`timestamp "${raw}" is not a date-time`);
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
        `timestamp "${
          lenient.decode(buf.subarray(s, e))
        }" is not a plain decimal number (unix ${this.#unit})`,
      );
    }
    if (!exact) v = Math.abs(Number(lenient.decode(buf.subarray(first, e))));
    let ms = neg ? 0 - v : v;
    if (this.#unit === "s") ms *= 1000;
    if (!Number.isFinite(ms)) {
      this.#fail(
        `timestamp "${lenient.decode(buf.subarray(s, e))}" is out of range`,
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
      if (end < 3 && !final) return { rest: 0 };
      this.#started = true;
      if (buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf) pos = 3;
      else if (
        (buf[0] === 0xff && buf[1] === 0xfe) ||
        (buf[0] === 0xfe && buf[1] === 0xff)
      ) {
        throw new EventParseError(
          this.#file,
          1,
          "UTF-16 text is not supported: convert the file to UTF-8",
        );
      }
    }
    if (this.#skippingLongLine) {
      while (pos < end && buf[pos] !== 10 && buf[pos] !== 13) pos++;
      if (pos === end) return { rest: end };
      const next = this.#afterTerminator(buf, pos, end, final);
      if (next < 0) return { rest: end - 1 }; // a \r at the end: wait
      this.#skippingLongLine = false;
      pos = next;
    }
    let cap = Math.max(16, ((end - pos) >> 4) + 16);
    let userStart = new Uint32Array(cap), userEnd = new Uint32Array(cap);
    let itemStart = new Uint32Array(cap), itemEnd = new Uint32Array(cap);
    let type = new Uint8Array(cap), time = new Float64Array(cap);
    let n = 0;
    let extra: Uint8Array[] | undefined; // id bytes of slow-path lines
    let extraSize = 0;
    const delim = this.#delim;
    const maxLine = this.#maxLine;
    const fastTime = this.#unit !== "datetime";
    let uc = this.#userCol, ic = this.#itemCol;
    let ec = this.#eventCol, tc = this.#timeCol;
    let rest = end;
    while (pos < end) {
      const lineStart = pos;
      pos = scanLine(buf, pos, end, delim, uc, ic, ec, tc, fastTime, scan);
      const field = scan[FIELD];
      const slow = scan[SLOW] !== 0;
      const high = scan[HIGH];
      const uS = scan[US], uE = scan[UE], iS = scan[IS], iE = scan[IE];
      const eS = scan[ES], eE = scan[EE], tS = scan[TS], tE = scan[TE];
      const tFast = tFastOf[0];
      const lineEnd = pos;
      if (lineEnd - lineStart > maxLine) {
        // too long: report once, then drop bytes up to the next line break
        this.line++;
        this.#sawContent = true;
        this.#flushBlank();
        this.#report(
          new LineError(`line longer than ${maxLine} bytes`, this.line),
        );
        if (pos === end) {
          if (!final) this.#skippingLongLine = true;
          rest = end;
          break;
        }
        const next = this.#afterTerminator(buf, pos, end, final);
        if (next < 0) {
          this.#skippingLongLine = true;
          rest = end - 1;
          break;
        }
        pos = next;
        continue;
      }
      if (pos === end && !final) {
        rest = lineStart;
        break;
      }
      if (pos < end) {
        const next = this.#afterTerminator(buf, pos, end, final);
        if (next < 0) {
          rest = lineStart;
          break;
        }
        pos = next;
      }
      this.line++;
      if (lineEnd === lineStart) {
        this.#pendingBlank ||= this.line;
        continue;
      }
      this.#sawContent = true;
      if (this.#pendingBlank) this.#flushBlank();
      if (this.#needHeader) {
        this.#header(buf, lineStart, lineEnd);
        uc = this.#userCol;
        ic = this.#itemCol;
        ec = this.#eventCol;
        tc = this.#timeCol;
        continue;
      }
      if (n === cap) {
        cap *= 2;
        const grow = <T extends Uint32Array | Uint8Array | Float64Array>(
          a: T,
        ): T => {
          const g = new (a.constructor as new (n: number) => T)(cap);
          g.set(a);
          return g;
        };
        userStart = grow(userStart);
        userEnd = grow(userEnd);
        itemStart = grow(itemStart);
        itemEnd = grow(itemEnd);
        type = grow(type);
        time = grow(time);
      }
      try {
        if (slow) {
          const parsed = this.#slowLine(buf, lineStart, lineEnd);
          if (!extra) extra = [];
          const base = end + extraSize;
          const u = encoder.encode(parsed.user);
          const it = encoder.encode(parsed.item);
          extra.push(u, it);
          userStart[n] = base;
          userEnd[n] = base + u.length;
          itemStart[n] = base + u.length;
          itemEnd[n] = base + u.length + it.length;
          extraSize += u.length + it.length;
          type[n] = parsed.code;
          time[n] = parsed.time;
          n++;
          continue;
        }
        const fields = field + 1;
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
        if (high & 0x80) this.#checkUtf8(buf, uS, uE, iS, iE);
        let code = this.#fixedCode;
        if (ec >= 0) {
          code = this.#eventCode(buf, eS, eE);
          if (code < 0) {
            this.#unknownEvent(lenient.decode(buf.subarray(eS, eE)));
          }
        }
        time[n] = tc < 0
          ? this.line
          : tFast >= 0
          ? (this.#unit === "s" ? tFast * 1000 : tFast)
          : this.#timestamp(buf, tS, tE);
        userStart[n] = uS;
        userEnd[n] = uE;
        itemStart[n] = iS;
        itemEnd[n] = iE;
        type[n] = code;
        n++;
      } catch (error) {
        if (!(error instanceof LineError)) throw error;
        this.#report(error);
      }
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
        userStart,
        userEnd,
        itemStart,
        itemEnd,
        type,
        time,
        eventTypes: this.eventTypes,
      }),
      rest,
    };
  }

  #flushBlank() {
    const blank = this.#pendingBlank;
    if (!blank) return;
    this.#pendingBlank = 0;
    this.#report(new LineError("blank line in the middle of the file", blank));
  }

  // the offset after the line break at pos; -1 when a \r ends a non-final buffer
  #afterTerminator(
    buf: Uint8Array,
    pos: number,
    end: number,
    final: boolean,
  ): number {
    if (buf[pos] === 10) return pos + 1;
    if (pos + 1 < end) return buf[pos + 1] === 10 ? pos + 2 : pos + 1;
    return final ? pos + 1 : -1;
  }

  #checkUtf8(buf: Uint8Array, uS: number, uE: number, iS: number, iE: number) {
    try {
      fatal.decode(buf.subarray(uS, uE));
    } catch {
      this.#fail("user id is not valid UTF-8");
    }
    try {
      fatal.decode(buf.subarray(iS, iE));
    } catch {
      this.#fail("item id is not valid UTF-8");
    }
  }

  #decodeLine(buf: Uint8Array, s: number, e: number): string {
    try {
      return fatal.decode(buf.subarray(s, e));
    } catch {
      return this.#fail("line is not valid UTF-8");
    }
  }

  #split(text: string): string[] {
    try {
      return splitLine(text, this.#delimiter);
    } catch (reason) {
      if (typeof reason === "string") return this.#fail(reason);
      throw reason;
    }
  }

  #header(buf: Uint8Array, s: number, e: number) {
    this.#needHeader = false;
    let names: string[];
    try {
      names = this.#split(this.#decodeLine(buf, s, e)).map((x) => x.trim());
    } catch (error) {
      if (error instanceof LineError) {
        throw new EventParseError(this.#file, error.line, error.reason);
      }
      throw error;
    }
    this.#resolveIndexes(names);
  }

  #slowLine(buf: Uint8Array, s: number, e: number) {
    const fields = this.#split(this.#decodeLine(buf, s, e));
    const n = fields.length;
    const columns = this.#columns;
    if (columns >= 0 ? n !== columns : n < -columns) {
      this.#fail(
        `expected ${
          columns >= 0 ? columns : `at least ${-columns}`
        } columns, got ${n}`,
      );
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
