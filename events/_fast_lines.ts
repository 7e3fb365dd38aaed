/**
 * Internal: the byte classes the parser scans with, the UTF-8 check, and
 * its fast path: one tight loop over a run of plain, complete lines (what
 * almost every line of a log is) writing the batch columns directly.
 *
 * The fast path takes a line only when the full rules would accept it as
 * it is: every field split at a one-byte delimiter, no `"`, no `\r` but
 * the one of `\r\n`, valid UTF-8, the expected number of columns, a user
 * and an item, an event name already learned (and accepted), a timestamp
 * of 1 to 15 plain digits (or none in the format), not longer than the
 * line limit. It stops at the first line it cannot take, and the parser's
 * per-line path reads that line (and reports whatever is wrong with it),
 * so the events and errors are those of the per-line path exactly.
 *
 * @module
 */

/** Byte class: nothing to see (part of a field). */
export const PLAIN = 0;
/** Byte class: ends a field (the delimiter, `\n`). */
export const END = 1;
/** Byte class: a byte >= 0x80 (the line is checked to be UTF-8). */
export const NON_ASCII = 2;
/** Byte class: `"`. */
export const QUOTE_BYTE = 3;
/** Byte class: `\r`. */
export const CR_BYTE = 4;

/**
 * The byte classes for a delimiter byte (-1: the delimiter is several
 * bytes and every line takes the slow path).
 */
export function byteClasses(delim: number): Uint8Array {
  const cls = new Uint8Array(256);
  cls.fill(NON_ASCII, 0x80);
  cls[34] = QUOTE_BYTE;
  cls[13] = CR_BYTE;
  cls[10] = END;
  if (delim >= 0) cls[delim] = END;
  return cls;
}

/**
 * Whether bytes `s` to `e` are UTF-8, as a fatal `TextDecoder` decides (no
 * overlong forms, no surrogates, nothing past U+10FFFF, no cut sequence).
 */
export function isUtf8(buf: Uint8Array, s: number, e: number): boolean {
  let i = s;
  while (i < e) {
    const b = buf[i++];
    if (b < 0x80) continue;
    let n: number, lo = 0x80, hi = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) n = 1;
    else if (b >= 0xe0 && b <= 0xef) {
      n = 2;
      if (b === 0xe0) lo = 0xa0;
      else if (b === 0xed) hi = 0x9f;
    } else if (b >= 0xf0 && b <= 0xf4) {
      n = 3;
      if (b === 0xf0) lo = 0x90;
      else if (b === 0xf4) hi = 0x8f;
    } else return false;
    if (i + n > e) return false;
    const c = buf[i++];
    if (c < lo || c > hi) return false;
    for (; n > 1; n--) {
      const d = buf[i++];
      if (d < 0x80 || d > 0xbf) return false;
    }
  }
  return true;
}

/** What the fast path needs to know of an input, fixed once it started. */
export class FastRules {
  /** Byte classes (see {@linkcode byteClasses}). */
  readonly cls: Uint8Array;
  /** Bytes `lo` to 127 are all plain (one compare per byte for ids). */
  readonly lo: number;
  /** The delimiter byte. */
  readonly delim: number;

  /**
   * Fixes the rules.
   *
   * @param cls Byte classes with a one-byte delimiter.
   * @param delim The delimiter byte.
   * @param user User column.
   * @param item Item column.
   * @param event Event column (-1: `fixedCode` for every line).
   * @param time Timestamp column (-1: the line number).
   * @param columns Exact column count, or -(minimum).
   * @param maxLine Longest line taken.
   * @param scale Timestamp digits to ms (1 or 1000).
   * @param fixedCode The event code when there is no event column.
   */
  constructor(
    cls: Uint8Array,
    delim: number,
    readonly user: number,
    readonly item: number,
    readonly event: number,
    readonly time: number,
    readonly columns: number,
    readonly maxLine: number,
    readonly scale: number,
    readonly fixedCode: number,
  ) {
    this.cls = cls;
    this.delim = delim;
    let lo = 0;
    for (let b = 0; b < 128; b++) if (cls[b] !== PLAIN) lo = b + 1;
    this.lo = lo;
  }

  /**
   * Whether the fast path can read this layout: the used columns are
   * distinct (the per-line path decides what a shared column means).
   */
  usable(): boolean {
    const cols = [this.user, this.item, this.event, this.time].filter((c) =>
      c >= 0
    );
    return new Set(cols).size === cols.length;
  }
}

/**
 * Event names as read (bytes) and their codes, found without decoding: by
 * length and first four bytes, then the rest. At most `capacity` names are
 * kept (more are looked up the slow way by the caller, every time).
 */
export class EventNames {
  /** How many names are kept. */
  size = 0;
  /** Each name's code (what the caller decided for it). */
  readonly codes: Int32Array;
  readonly #lens: Int32Array;
  readonly #words: Int32Array;
  readonly #bytes: Uint8Array[] = [];

  /**
   * Creates an empty table.
   *
   * @param capacity Most names kept.
   */
  constructor(readonly capacity = 1024) {
    this.codes = new Int32Array(capacity);
    this.#lens = new Int32Array(capacity);
    this.#words = new Int32Array(capacity);
  }

  /**
   * Keeps a name (ignored when the table is full).
   *
   * @param bytes The name as read.
   * @param code Its code.
   */
  add(bytes: Uint8Array, code: number): void {
    const j = this.size;
    if (j === this.capacity) return;
    this.codes[j] = code;
    this.#lens[j] = bytes.length;
    this.#words[j] = firstWord(bytes, 0, bytes.length);
    this.#bytes.push(bytes);
    this.size = j + 1;
  }

  /**
   * The index of the name in bytes `s` to `e` of `buf`, or -1.
   *
   * @param buf Bytes.
   * @param s Start.
   * @param e End.
   * @returns The index (its code is `codes[index]`), or -1.
   */
  find(buf: Uint8Array, s: number, e: number): number {
    const len = e - s;
    const w = firstWord(buf, s, len);
    const lens = this.#lens, words = this.#words;
    for (let j = 0; j < this.size; j++) {
      if (lens[j] !== len || words[j] !== w) continue;
      if (len <= 4) return j;
      const name = this.#bytes[j];
      let i = 4;
      while (i < len && name[i] === buf[s + i]) i++;
      if (i === len) return j;
    }
    return -1;
  }
}

// the first (up to) four bytes of a name, little-endian
function firstWord(buf: Uint8Array, s: number, len: number): number {
  let w = len > 0 ? buf[s] : 0;
  if (len > 1) w |= buf[s + 1] << 8;
  if (len > 2) w |= buf[s + 2] << 16;
  if (len > 3) w |= buf[s + 3] << 24;
  return w;
}

/** Columns of a batch being filled (grown by the parser when full). */
export interface BatchColumns {
  /** Start of each user id. */
  userStart: Uint32Array;
  /** End of each user id. */
  userEnd: Uint32Array;
  /** Start of each item id. */
  itemStart: Uint32Array;
  /** End of each item id. */
  itemEnd: Uint32Array;
  /** Event type codes. */
  type: Uint8Array;
  /** Timestamps, ms. */
  time: Float64Array;
}

// 10^0 .. 10^8: the second integer's place
const POW10 = new Float64Array([1, 10, 100, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8]);

/**
 * Where the fast path stopped: `[0]` the offset, `[1]` how many lines it
 * took (integers: the offsets stay small integers in the hot loop).
 */
export const fastState: Int32Array = new Int32Array(2);

/**
 * Reads plain lines from `pos` (line `line + 1`) into `out` from event `n`
 * on, while `out` has room. Every line before `end` must be complete (the
 * byte before `end` is `\n`). Stops before the first line that needs the
 * per-line path. Sets {@linkcode fastState} and returns the new event
 * count.
 *
 * (Written for V8's optimizing compiler: integer arithmetic only on
 * offsets, no unsigned shifts in compares, constants as literals.)
 */
export function fastLines(
  buf: Uint8Array,
  view: DataView,
  pos: number,
  end: number,
  r: FastRules,
  names: EventNames,
  out: BatchColumns,
  n: number,
  line: number,
): number {
  // (`| 0`: plain integers in registers, not values checked at each use)
  const cls = r.cls, lo = r.lo | 0, delim = r.delim | 0;
  const uc = r.user | 0, ic = r.item | 0, ec = r.event | 0, tc = r.time | 0;
  const columns = r.columns | 0, maxLine = r.maxLine | 0, scale = r.scale;
  const userStart = out.userStart, userEnd = out.userEnd;
  const itemStart = out.itemStart, itemEnd = out.itemEnd;
  const type = out.type, time = out.time;
  const cap = userStart.length;
  const lastWord = buf.length - 4;
  const codes = names.codes;
  let taken = 0;
  pos = pos | 0;
  while (pos < end && n < cap) {
    const lineStart = pos;
    let field = 0;
    let uS = -1, uE = -1, iS = -1, iE = -1, eS = -1, eE = -1;
    let t = -1;
    let high = false;
    let b = 0, k = 0;
    // field by field; every line here ends with \n, which stops each scan
    for (;;) {
      const fieldStart = pos;
      if (field === tc) {
        // four digits at a time, then one by one, in two integers: the
        // first 8 digits, the next 8 (more than 15 are not read here)
        let hi = 0, lo8 = 0, digits = 0;
        while (pos <= lastWord) {
          const w = view.getInt32(pos, true);
          const d = (w - 0x30303030) | 0;
          if (((d | ((w + 0x46464646) | 0)) & 0x80808080) !== 0) break;
          // four digits, the first in the low byte: pairs, then the number
          const pairs = (Math.imul(d, 10) + (d >> 8)) & 0x00ff00ff;
          const four = (pairs & 0xff) * 100 + (pairs >> 16);
          if (digits < 8) hi = hi * 10000 + four;
          else if (digits < 16) lo8 = lo8 * 10000 + four;
          digits += 4;
          pos += 4;
        }
        for (;;) {
          const d = buf[pos] - 48;
          if (d < 0 || d > 9) break;
          if (digits < 8) hi = hi * 10 + d;
          else if (digits < 16) lo8 = lo8 * 10 + d;
          digits++;
          pos++;
        }
        // anything else after the digits: the per-line path reads it
        const next = cls[buf[pos]];
        if (digits > 0 && digits <= 15 && (next === 1 || next === 4)) {
          t = digits <= 8 ? hi : hi * POW10[digits - 8] + lo8;
        }
      }
      // to the end of the field (class 1: delimiter or \n; bytes lo to
      // 127 are plain without a look at the table)
      for (;;) {
        for (;; pos++) {
          b = buf[pos];
          if (b >= lo && b < 128) continue;
          k = cls[b];
          if (k !== 0) break;
        }
        if (k !== 2) break;
        high = true; // non-ASCII: the line is checked at its end
        pos++;
      }
      if (field === uc) (uS = fieldStart), (uE = pos);
      else if (field === ic) (iS = fieldStart), (iE = pos);
      else if (field === ec) (eS = fieldStart), (eE = pos);
      if (b !== delim) break;
      pos++;
      field++;
    }
    // the line break: \n or \r\n (anything else: the per-line path)
    const lineEnd = pos;
    if (b === 10) pos++;
    else if (k === 4 && buf[pos + 1] === 10) pos += 2;
    else {
      pos = lineStart;
      break;
    }
    const fields = field + 1;
    if (
      (columns >= 0 ? fields !== columns : fields < -columns) ||
      uS === uE || iS === iE || (tc >= 0 && t < 0) ||
      lineEnd - lineStart > maxLine ||
      (high && !isUtf8(buf, lineStart, lineEnd))
    ) {
      pos = lineStart;
      break;
    }
    let code = r.fixedCode;
    if (ec >= 0) {
      const j = names.find(buf, eS, eE);
      // a name not learned yet, or refused: the per-line path
      if (j < 0 || (code = codes[j]) < 0) {
        pos = lineStart;
        break;
      }
    }
    taken++;
    userStart[n] = uS;
    userEnd[n] = uE;
    itemStart[n] = iS;
    itemEnd[n] = iE;
    type[n] = code;
    time[n] = tc < 0 ? line + taken : t * scale;
    n++;
  }
  fastState[0] = pos;
  fastState[1] = taken;
  return n;
}
