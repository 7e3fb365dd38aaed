/**
 * Internal: a batch line read straight from its bytes into a
 * {@linkcode TermRequest}, without `JSON.parse` and without making a string
 * per id: the ids are looked up by their bytes in a hash table of the
 * index's terms. It reads only the plain lines of a batch, the ones that
 * the general path (`JSON.parse`, the request schema, `fastPlan`) reads
 * the same way: printable ASCII without escapes, no key twice, the keys
 * `user`, `history` (a list, or lists by event type), `num`, `from`,
 * `exclude`, `excludeSeen`, `backfill`. Anything else (another key, an
 * escape, a byte over 127, a number with a fraction or an exponent, `null`,
 * a value of the wrong type, an empty or too long id, an event type the
 * model lacks) is refused, and the line is answered by the general path,
 * with its answer or its error.
 *
 * @module
 */

import type { TermRequest } from "./_plan.ts";
import { isRequestShape, REQUEST_SCHEMA } from "../serving/request.ts";

// the schema's bounds of an item id (UTF-16 code units: bytes, in ASCII)
const ITEM_ID = (REQUEST_SCHEMA as {
  $defs: { itemId: { minLength: number; maxLength: number } };
}).$defs.itemId;

// the keys read, one bit each
const KEYS = [
  "user",
  "history",
  "num",
  "from",
  "exclude",
  "excludeSeen",
  "backfill",
];
const USER = 1, HISTORY = 2, NUM = 4, FROM = 8, EXCLUDE = 16;
const EXCLUDE_SEEN = 32, BACKFILL = 64;

const QUOTE = 0x22, BACKSLASH = 0x5c, COMMA = 0x2c, COLON = 0x3a;
const OPEN_BRACE = 0x7b, CLOSE_BRACE = 0x7d;
const OPEN_BRACKET = 0x5b, CLOSE_BRACKET = 0x5d;

const decoder = new TextDecoder();
// ASCII bytes as a string (what JSON.parse makes of them)
const ascii = (bytes: Uint8Array, start: number, end: number): string =>
  end - start <= 64
    ? String.fromCharCode.apply(null, bytes.subarray(start, end) as never)
    : decoder.decode(bytes.subarray(start, end));

// FNV-1a over the bytes
const FNV_OFFSET = 0x811c9dc5 | 0, FNV_PRIME = 0x01000193;

/**
 * The index's terms that are ASCII, found by their bytes: an open
 * addressing table of term numbers.
 */
class AsciiTerms {
  #slots: Int32Array;
  #hashes: Int32Array;
  #mask: number;
  #pool: Uint8Array;
  #start: Int32Array;
  #end: Int32Array;

  constructor(termIds: ReadonlyMap<string, number>) {
    let count = 0, bytes = 0;
    for (const term of termIds.keys()) {
      if (isAscii(term)) {
        count++;
        bytes += term.length;
      }
    }
    let size = 16;
    while (size < 2 * count) size *= 2;
    this.#slots = new Int32Array(size).fill(-1);
    this.#hashes = new Int32Array(size);
    this.#mask = size - 1;
    this.#pool = new Uint8Array(bytes);
    this.#start = new Int32Array(termIds.size);
    this.#end = new Int32Array(termIds.size);
    let at = 0;
    for (const [term, t] of termIds) {
      if (!isAscii(term)) continue;
      let h = FNV_OFFSET;
      this.#start[t] = at;
      for (let i = 0; i < term.length; i++) {
        const c = term.charCodeAt(i);
        this.#pool[at++] = c;
        h = Math.imul(h ^ c, FNV_PRIME);
      }
      this.#end[t] = at;
      let s = h & this.#mask;
      while (this.#slots[s] >= 0) s = (s + 1) & this.#mask;
      this.#slots[s] = t;
      this.#hashes[s] = h;
    }
  }

  // the term of bytes[start, end) whose hash is `h`, or -1
  find(bytes: Uint8Array, start: number, end: number, h: number): number {
    const slots = this.#slots, hashes = this.#hashes, mask = this.#mask;
    const pool = this.#pool;
    const length = end - start;
    for (let s = h & mask;; s = (s + 1) & mask) {
      const t = slots[s];
      if (t < 0) return -1;
      if (hashes[s] !== h) continue;
      const at = this.#start[t];
      if (this.#end[t] - at !== length) continue;
      let i = 0;
      while (i < length && pool[at + i] === bytes[start + i]) i++;
      if (i === length) return t;
    }
  }
}

function isAscii(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) > 0x7f) return false;
  return true;
}

/** Reads plain batch lines (see the module doc). */
export class LineReader {
  #terms: AsciiTerms;
  #historyFields: ReadonlyMap<string, string>;
  #primaryEvent: string;
  #bytes: Uint8Array = new Uint8Array(0);
  #at = 0;
  #end = 0;
  // the last string read: its bytes and hash
  #from = 0;
  #to = 0;
  #hash = 0;

  /**
   * @param termIds The index's terms.
   * @param historyFields The model's history event types.
   * @param primaryEvent Its primary event type.
   */
  constructor(
    termIds: ReadonlyMap<string, number>,
    historyFields: ReadonlyMap<string, string>,
    primaryEvent: string,
  ) {
    this.#terms = new AsciiTerms(termIds);
    this.#historyFields = historyFields;
    this.#primaryEvent = primaryEvent;
  }

  /**
   * Reads the line `bytes[start, end)` (without its `\n`) into `r`.
   *
   * @param bytes The batch's bytes.
   * @param start The line's first byte.
   * @param end The end of the line.
   * @param r Where the request goes (emptied first).
   * @returns The line's user, or `undefined` when the line is not a plain
   * one: the general path answers it.
   */
  read(
    bytes: Uint8Array,
    start: number,
    end: number,
    r: TermRequest,
  ): string | undefined {
    this.#bytes = bytes;
    this.#at = start;
    this.#end = end;
    r.reset();
    let keys = 0;
    let user: string | undefined;
    if (this.#next() !== OPEN_BRACE) return undefined;
    if (this.#peek() === CLOSE_BRACE) return undefined;
    for (;;) {
      if (this.#next() !== QUOTE || !this.#string()) return undefined;
      const key = this.#key();
      if (key === 0 || (keys & key) !== 0) return undefined;
      keys |= key;
      if (this.#next() !== COLON) return undefined;
      switch (key) {
        case USER:
          if (this.#next() !== QUOTE || !this.#string()) return undefined;
          if (this.#to === this.#from) return undefined;
          user = ascii(bytes, this.#from, this.#to);
          break;
        case HISTORY: {
          const c = this.#next();
          if (c === OPEN_BRACKET) {
            if (!this.#list(r)) return undefined;
            r.endList(this.#primaryEvent);
          } else if (c === OPEN_BRACE) {
            if (!this.#lists(r)) return undefined;
          } else return undefined;
          break;
        }
        case NUM:
          r.num = this.#integer();
          if (r.num === undefined) return undefined;
          break;
        case FROM:
          r.from = this.#integer();
          if (r.from === undefined) return undefined;
          break;
        case EXCLUDE:
          if (this.#next() !== OPEN_BRACKET || !this.#exclude(r)) {
            return undefined;
          }
          break;
        case EXCLUDE_SEEN:
          r.excludeSeen = this.#boolean();
          if (r.excludeSeen === undefined) return undefined;
          break;
        case BACKFILL:
          r.backfill = this.#boolean();
          if (r.backfill === undefined) return undefined;
          break;
      }
      const c = this.#next();
      if (c === CLOSE_BRACE) break;
      if (c !== COMMA) return undefined;
    }
    if (this.#next() !== -1) return undefined;
    if (user === undefined) return undefined;
    // the numbers against the schema (their bounds are its)
    if (
      (keys & (NUM | FROM)) !== 0 &&
      !isRequestShape({ num: r.num ?? 1, from: r.from ?? 0 })
    ) return undefined;
    return user;
  }

  // the next byte that is not JSON whitespace (-1 at the end), consumed
  #next(): number {
    const bytes = this.#bytes;
    while (this.#at < this.#end) {
      const c = bytes[this.#at++];
      if (c !== 0x20 && c !== 0x09 && c !== 0x0d && c !== 0x0a) return c;
    }
    return -1;
  }

  // the same, not consumed
  #peek(): number {
    const c = this.#next();
    if (c !== -1) this.#at--;
    return c;
  }

  // the rest of a string whose opening quote was read: printable ASCII
  // without escapes; its bytes and hash in #from, #to, #hash
  #string(): boolean {
    const bytes = this.#bytes, end = this.#end;
    let at = this.#at;
    let h = FNV_OFFSET;
    this.#from = at;
    for (; at < end; at++) {
      const c = bytes[at];
      if (c === QUOTE) {
        this.#to = at;
        this.#at = at + 1;
        this.#hash = h;
        return true;
      }
      if (c < 0x20 || c > 0x7f || c === BACKSLASH) return false;
      h = Math.imul(h ^ c, FNV_PRIME);
    }
    return false;
  }

  // the key just read, as its bit (0: not one read here)
  #key(): number {
    const bytes = this.#bytes, from = this.#from, length = this.#to - from;
    for (let k = 0; k < KEYS.length; k++) {
      const name = KEYS[k];
      if (name.length !== length) continue;
      let i = 0;
      while (i < length && name.charCodeAt(i) === bytes[from + i]) i++;
      if (i === length) return 1 << k;
    }
    return 0;
  }

  // the id just read, when the schema takes it
  #idOk(): boolean {
    const length = this.#to - this.#from;
    return length >= ITEM_ID.minLength && length <= ITEM_ID.maxLength;
  }

  // the rest of a list of ids whose `[` was read, into r's current list
  #list(r: TermRequest): boolean {
    if (this.#peek() === CLOSE_BRACKET) {
      this.#at++;
      return true;
    }
    for (;;) {
      if (this.#next() !== QUOTE || !this.#string() || !this.#idOk()) {
        return false;
      }
      const t = this.#terms.find(this.#bytes, this.#from, this.#to, this.#hash);
      if (t >= 0) r.push(t);
      else r.pushUnknown(ascii(this.#bytes, this.#from, this.#to));
      const c = this.#next();
      if (c === CLOSE_BRACKET) return true;
      if (c !== COMMA) return false;
    }
  }

  // the rest of the lists by event type whose `{` was read: each type the
  // model's, none twice, none an array index (JSON.parse would order it
  // first)
  #lists(r: TermRequest): boolean {
    if (this.#peek() === CLOSE_BRACE) {
      this.#at++;
      return true;
    }
    const types = new Set<string>();
    for (;;) {
      if (this.#next() !== QUOTE || !this.#string()) return false;
      const first = this.#bytes[this.#from];
      if (this.#to === this.#from || (first >= 0x30 && first <= 0x39)) {
        return false;
      }
      const type = ascii(this.#bytes, this.#from, this.#to);
      if (!this.#historyFields.has(type) || types.has(type)) return false;
      types.add(type);
      if (this.#next() !== COLON || this.#next() !== OPEN_BRACKET) return false;
      if (!this.#list(r)) return false;
      r.endList(type);
      const c = this.#next();
      if (c === CLOSE_BRACE) return true;
      if (c !== COMMA) return false;
    }
  }

  // the rest of `exclude`'s list whose `[` was read
  #exclude(r: TermRequest): boolean {
    if (this.#peek() === CLOSE_BRACKET) {
      this.#at++;
      return true;
    }
    for (;;) {
      if (this.#next() !== QUOTE || !this.#string() || !this.#idOk()) {
        return false;
      }
      const t = this.#terms.find(this.#bytes, this.#from, this.#to, this.#hash);
      r.excludeLength++;
      if (t >= 0) r.exclude.push(t);
      const c = this.#next();
      if (c === CLOSE_BRACKET) return true;
      if (c !== COMMA) return false;
    }
  }

  // a non-negative integer of at most 9 digits, as JSON writes it (no
  // leading zero; a fraction or exponent after it is refused by the
  // caller's next byte)
  #integer(): number | undefined {
    const bytes = this.#bytes;
    const c = this.#next();
    if (c < 0x30 || c > 0x39) return undefined;
    let n = c - 0x30;
    let digits = 1;
    if (n === 0) return 0;
    while (this.#at < this.#end) {
      const d = bytes[this.#at];
      if (d < 0x30 || d > 0x39) break;
      if (++digits > 9) return undefined;
      n = n * 10 + (d - 0x30);
      this.#at++;
    }
    return n;
  }

  // `true` or `false`
  #boolean(): boolean | undefined {
    const c = this.#next();
    const word = c === 0x74 ? "true" : c === 0x66 ? "false" : undefined;
    if (word === undefined || this.#at - 1 + word.length > this.#end) {
      return undefined;
    }
    for (let i = 1; i < word.length; i++) {
      if (this.#bytes[this.#at++] !== word.charCodeAt(i)) return undefined;
    }
    return word === "true";
  }
}
