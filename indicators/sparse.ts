/**
 * Compact sparse building blocks for the numeric core: an id dictionary that
 * maps external string ids to dense integers, and a binary CSR (compressed
 * sparse row) matrix over typed arrays. Nothing here is ever dense n × n.
 *
 * @example Intern ids and build a user × item matrix
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdDictionary, SparseBinaryMatrix } from "./sparse.ts";
 *
 * const items = new IdDictionary();
 * const a = items.intern("a"), b = items.intern("b");
 * const m = SparseBinaryMatrix.fromRows([[a, b], [b]], items.size);
 * assert.deepEqual(m.row(1), Int32Array.from([1]));
 * assert.deepEqual(m.transpose().row(b), Int32Array.from([0, 1]));
 * ```
 *
 * @module
 */

import { compareIds } from "../model/document.ts";

/** Largest number of digits of an id kept as a number. */
const MAX_NUMERIC_DIGITS = 15;
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Bidirectional map between string ids and dense indexes `0..size-1`, in
 * first-seen order (so the order is deterministic for a given input), in
 * typed arrays: no JavaScript string or `Map` entry per id.
 *
 * Canonical decimal ids (`"0"`, `"42"`, not `"042"`, at most 15 digits)
 * are kept as numbers (8 bytes); other ids as their UTF-8 bytes in one
 * arena (their length plus 12 bytes). The open-addressing hash table adds
 * 4 to 8 bytes per id. Ids can be interned from strings or straight from
 * the bytes a reader parsed ({@linkcode IdDictionary.internBytes}); both
 * give the same index for the same id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdDictionary } from "./sparse.ts";
 *
 * const users = new IdDictionary();
 * assert.equal(users.intern("u42"), 0);
 * assert.equal(users.intern("7"), 1);
 * assert.equal(users.internBytes(new TextEncoder().encode("u42"), 0, 3), 0);
 * assert.equal(users.idOf(1), "7");
 * assert.equal(users.indexOf("nobody"), undefined);
 * ```
 */
export class IdDictionary {
  #size = 0;
  // by index: the numeric id (>= 0), or -(string number + 1)
  #keys: Float64Array;
  // hash table of index + 1 (0: empty), linear probing
  #slots: Int32Array;
  #mask: number;
  // non-numeric ids: UTF-8 bytes, string k at offsets[k] .. offsets[k + 1]
  #arena = new Uint8Array(0);
  #offsets = new Float64Array(1);
  #strings = 0;
  // the longest non-numeric id, in bytes
  #longest = 0;
  #scratch = new Uint8Array(256);
  #ids?: string[];
  // the last numeric id looked up, and its index (logs often repeat an id)
  #lastKey = -1;
  #lastIndex = -1;
  // internColumn's per-group scratch: numeric value (-1: not numeric), hash
  #groupValues = new Float64Array(GROUP);
  #groupHashes = new Int32Array(GROUP);
  #groupSlots = new Int32Array(GROUP);
  // what the look-ahead loads sum to (kept so that they are not optimized away)
  #touched = 0;

  /**
   * Creates an empty dictionary.
   *
   * @param expected How many ids to expect (a hint: the table is sized for
   * it, avoiding regrowth; more ids still fit).
   */
  constructor(expected = 0) {
    let slots = 2048;
    while (slots < 2 * expected && slots < 2 ** 30) slots *= 2;
    this.#slots = new Int32Array(slots);
    this.#mask = slots - 1;
    this.#keys = new Float64Array(Math.max(1024, Math.min(expected, 2 ** 27)));
  }

  /** Number of distinct ids. */
  get size(): number {
    return this.#size;
  }

  /** Bytes held (typed arrays), for memory accounting. */
  get byteLength(): number {
    return this.#keys.byteLength + this.#slots.byteLength +
      this.#arena.byteLength + this.#offsets.byteLength;
  }

  /**
   * Index of `id`, adding it when new.
   *
   * @param id The external id.
   * @returns Its dense index.
   */
  intern(id: string): number {
    const n = canonicalNumber(id);
    if (n >= 0) return this.#internNumber(n, true);
    const bytes = this.#encode(id);
    return this.#internString(bytes, 0, bytes.length, true);
  }

  /**
   * Index of the id whose UTF-8 bytes are `bytes[start..end]`, adding it
   * when new.
   *
   * @param bytes A buffer.
   * @param start First byte of the id.
   * @param end One past its last byte.
   * @returns Its dense index.
   */
  internBytes(bytes: Uint8Array, start: number, end: number): number {
    const v = canonicalNumberOf(bytes, start, end);
    if (v >= 0) return this.#internNumber(v, true);
    return this.#internString(bytes, start, end, true);
  }

  /**
   * Interns a column of ids, `bytes[starts[k] .. ends[k]]` for `k` below
   * `count`, writing each one's index to `out[k]`: the same indexes, in the
   * same order, as calling {@linkcode IdDictionary.internBytes} for each.
   *
   * Faster on a dictionary larger than the processor's caches: the ids go
   * in groups, and the table slots (and stored keys) of a whole group are
   * read before any of its ids is looked up, so that their cache misses
   * overlap instead of coming one after the other.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { IdDictionary } from "./sparse.ts";
   *
   * const bytes = new TextEncoder().encode("7,x,7,12");
   * const d = new IdDictionary();
   * const out = new Int32Array(4);
   * d.internColumn(bytes, Uint32Array.of(0, 2, 4, 6), Uint32Array.of(1, 3, 5, 8), 4, out);
   * assert.deepEqual(Array.from(out), [0, 1, 0, 2]);
   * assert.deepEqual(d.ids, ["7", "x", "12"]);
   * ```
   *
   * @param bytes A buffer.
   * @param starts First byte of each id.
   * @param ends One past the last byte of each id.
   * @param count How many ids.
   * @param out Receives the indexes (at least `count` long).
   */
  internColumn(
    bytes: Uint8Array,
    starts: ArrayLike<number>,
    ends: ArrayLike<number>,
    count: number,
    out: Int32Array,
  ): void {
    // a call per group rather than loops within loops: V8 optimizes a
    // function called often, not one long call (whose loops it keeps
    // compiling on the stack and dropping)
    for (let g = 0; g < count; g += GROUP) {
      const n = Math.min(GROUP, count - g);
      this.#readAhead(bytes, starts, ends, g, n);
      this.#resolve(bytes, starts, ends, g, n, out);
    }
  }

  // parses and hashes ids g .. g + n into the group scratch, then reads
  // each numeric one's first slot, then the keys those point to: loops of
  // independent loads only, short enough that many of their cache misses
  // overlap
  #readAhead(
    bytes: Uint8Array,
    starts: ArrayLike<number>,
    ends: ArrayLike<number>,
    g: number,
    n: number,
  ) {
    const values = this.#groupValues, hashes = this.#groupHashes;
    const found = this.#groupSlots;
    let previous = -1;
    for (let j = 0; j < n; j++) {
      const v = canonicalNumberOf(bytes, starts[g + j], ends[g + j]);
      values[j] = v;
      // -1: nothing to read ahead (not numeric, or the id before again)
      hashes[j] = v < 0 || v === previous ? -1 : hashNumber(v) & 0x7fffffff;
      if (v >= 0) previous = v;
    }
    const slots = this.#slots, keys = this.#keys, mask = this.#mask;
    for (let j = 0; j < n; j++) {
      const h = hashes[j];
      found[j] = h < 0 ? 0 : slots[h & mask];
    }
    let touched = 0;
    for (let j = 0; j < n; j++) {
      const s = found[j];
      if (s !== 0) touched += keys[s - 1];
    }
    this.#touched += touched;
  }

  // looks ids g .. g + n up in order, as read ahead (inserts may grow the
  // table: hashes are masked afresh)
  #resolve(
    bytes: Uint8Array,
    starts: ArrayLike<number>,
    ends: ArrayLike<number>,
    g: number,
    n: number,
    out: Int32Array,
  ) {
    const values = this.#groupValues, hashes = this.#groupHashes;
    for (let j = 0; j < n; j++) {
      const v = values[j];
      out[g + j] = v < 0
        ? this.#internString(bytes, starts[g + j], ends[g + j], true)
        : v === this.#lastKey
        ? this.#lastIndex
        : this.#internHashed(
          v,
          hashes[j] >= 0 ? hashes[j] : hashNumber(v),
          true,
        );
    }
  }

  /**
   * Index of `id`, or `undefined` when it was never interned.
   *
   * @param id The external id.
   * @returns Its dense index, if known.
   */
  indexOf(id: string): number | undefined {
    const n = canonicalNumber(id);
    let i: number;
    if (n >= 0) i = this.#internNumber(n, false);
    else {
      const bytes = this.#encode(id);
      i = this.#internString(bytes, 0, bytes.length, false);
    }
    return i < 0 ? undefined : i;
  }

  /**
   * External id of index `i`.
   *
   * @param i A dense index below {@linkcode IdDictionary.size}.
   * @returns The id.
   */
  idOf(i: number): string {
    if (this.#ids && i < this.#ids.length) return this.#ids[i];
    const key = this.#keys[i];
    if (key >= 0) return String(key);
    const k = -key - 1;
    return decoder.decode(
      this.#arena.subarray(this.#offsets[k], this.#offsets[k + 1]),
    );
  }

  /**
   * Writes the UTF-8 bytes of the id of index `i` into `out` from `at`
   * (which must leave room: ids are at most
   * {@linkcode IdDictionary.maxIdBytes} long).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { IdDictionary } from "./sparse.ts";
   *
   * const d = new IdDictionary();
   * d.intern("123");
   * d.intern("é");
   * const out = new Uint8Array(16);
   * assert.deepEqual(out.subarray(0, d.bytesOf(0, out)), new TextEncoder().encode("123"));
   * assert.equal(d.bytesOf(1, out, 3), 2);
   * assert.deepEqual(out.subarray(0, 5), new TextEncoder().encode("123é"));
   * ```
   *
   * @param i A dense index.
   * @param out Where to write.
   * @param at The offset in `out` to write from (default 0).
   * @returns The number of bytes written.
   */
  bytesOf(i: number, out: Uint8Array, at = 0): number {
    const key = this.#keys[i];
    if (key >= 0) {
      let digits = 1;
      for (let p = 10; key >= p; p *= 10) digits++;
      if (key < 2147483648) {
        let v = key | 0;
        for (let d = at + digits - 1; d >= at; d--) {
          const q = (v / 10) | 0;
          out[d] = 48 + v - 10 * q;
          v = q;
        }
      } else {
        let v = key;
        for (let d = at + digits - 1; d >= at; d--) {
          out[d] = 48 + (v % 10);
          v = Math.floor(v / 10);
        }
      }
      return digits;
    }
    const k = -key - 1;
    const from = this.#offsets[k], to = this.#offsets[k + 1];
    out.set(this.#arena.subarray(from, to), at);
    return to - from;
  }

  /**
   * Reads what {@linkcode IdDictionary.bytesOf} will read for the indexes
   * `list[start .. end]`, so that writing those ids next finds it in cache
   * (a loop of independent loads, whose cache misses overlap: a large
   * dictionary's entries are far apart).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { IdDictionary } from "./sparse.ts";
   *
   * const d = new IdDictionary();
   * d.intern("7");
   * assert.equal(typeof d.touch(Int32Array.of(0), 0, 1), "number");
   * ```
   *
   * @param list Dense indexes.
   * @param start First index in `list`.
   * @param end One past the last.
   * @returns A number made of what was read (for the caller to keep, so
   * that the reads are not optimized away).
   */
  touch(list: ArrayLike<number>, start: number, end: number): number {
    const keys = this.#keys;
    let sum = 0;
    for (let q = start; q < end; q++) sum += keys[list[q]];
    return sum;
  }

  /**
   * The length in bytes of the longest id (UTF-8): room enough for
   * {@linkcode IdDictionary.bytesOf}.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { IdDictionary } from "./sparse.ts";
   *
   * const d = new IdDictionary();
   * d.intern("7");
   * d.intern("née");
   * assert.ok(d.maxIdBytes >= 4);
   * ```
   */
  get maxIdBytes(): number {
    // numeric ids have at most MAX_NUMERIC_DIGITS digits
    return Math.max(MAX_NUMERIC_DIGITS, this.#longest);
  }

  /** All ids in index order (made once, then kept). */
  get ids(): readonly string[] {
    if (!this.#ids || this.#ids.length !== this.#size) {
      const ids = new Array<string>(this.#size);
      for (let i = 0; i < this.#size; i++) ids[i] = this.idOf(i);
      this.#ids = ids;
    }
    return this.#ids;
  }

  /**
   * For every index, its rank when the ids are sorted as strings (code-unit
   * order). Used to break score ties by id deterministically in integer space.
   *
   * @returns `rank[i]` for each index `i`.
   */
  sortRanks(): Int32Array {
    const n = this.#size;
    const rank = new Int32Array(n);
    if (this.#strings === 0) {
      // numeric ids only: a decimal string's place in string order is that
      // of its digits scaled to 14 places, then its length (exact below 2^53)
      const keys = new Float64Array(n);
      let fits = true;
      for (let i = 0; i < n && fits; i++) {
        const v = this.#keys[i];
        let digits = 1;
        for (let p = 10; v >= p; p *= 10) digits++;
        if (digits > 14) fits = false;
        keys[i] = (v * 10 ** (14 - digits)) * 16 + digits;
      }
      if (fits) {
        const order = argsortKeys(keys);
        for (let r = 0; r < n; r++) rank[order[r]] = r;
        return rank;
      }
    }
    const ids = this.ids;
    const order = Array.from(ids.keys()).sort((x, y) =>
      compareIds(ids[x], ids[y])
    );
    order.forEach((index, r) => rank[index] = r);
    return rank;
  }

  #encode(id: string): Uint8Array {
    if (id.length * 3 > this.#scratch.length) {
      this.#scratch = new Uint8Array(id.length * 3);
    }
    const { written } = encoder.encodeInto(id, this.#scratch);
    return this.#scratch.subarray(0, written);
  }

  #internNumber(v: number, add: boolean): number {
    if (v === this.#lastKey) return this.#lastIndex;
    return this.#internHashed(v, hashNumber(v), add);
  }

  // the index of numeric id `v` whose hash is `h`
  #internHashed(v: number, h: number, add: boolean): number {
    const slots = this.#slots, keys = this.#keys, mask = this.#mask;
    let at = h & mask;
    for (;;) {
      const s = slots[at];
      if (s === 0) break;
      if (keys[s - 1] === v) {
        this.#lastKey = v;
        return this.#lastIndex = s - 1;
      }
      at = (at + 1) & mask;
    }
    if (!add) return -1;
    this.#lastKey = v;
    return this.#lastIndex = this.#insert(at, v);
  }

  #internString(
    bytes: Uint8Array,
    start: number,
    end: number,
    add: boolean,
  ): number {
    let h = 0x811c9dc5;
    for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
    h ^= h >>> 16;
    const slots = this.#slots, keys = this.#keys, mask = this.#mask;
    const arena = this.#arena, offsets = this.#offsets;
    const len = end - start;
    let at = h & mask;
    outer: for (;;) {
      const s = slots[at];
      if (s === 0) break;
      const key = keys[s - 1];
      if (key < 0) {
        const k = -key - 1;
        const from = offsets[k];
        if (offsets[k + 1] - from === len) {
          for (let i = 0; i < len; i++) {
            if (arena[from + i] !== bytes[start + i]) {
              at = (at + 1) & mask;
              continue outer;
            }
          }
          return s - 1;
        }
      }
      at = (at + 1) & mask;
    }
    if (!add) return -1;
    // store the bytes
    const k = this.#strings++;
    if (this.#offsets.length < k + 2) {
      const grown = new Float64Array(Math.max(16, this.#offsets.length * 2));
      grown.set(this.#offsets);
      this.#offsets = grown;
    }
    const from = this.#offsets[k];
    if (this.#arena.length < from + len) {
      const grown = new Uint8Array(
        Math.max(1024, this.#arena.length * 2, from + len),
      );
      grown.set(this.#arena);
      this.#arena = grown;
    }
    this.#arena.set(bytes.subarray(start, end), from);
    this.#offsets[k + 1] = from + len;
    if (len > this.#longest) this.#longest = len;
    return this.#insert(at, -(k + 1));
  }

  #insert(at: number, key: number): number {
    const i = this.#size++;
    if (i === this.#keys.length) {
      const grown = new Float64Array(this.#keys.length * 2);
      grown.set(this.#keys);
      this.#keys = grown;
    }
    this.#keys[i] = key;
    this.#slots[at] = i + 1;
    if (this.#size * 2 > this.#slots.length) this.#rehash();
    return i;
  }

  #rehash() {
    const slots = new Int32Array(this.#slots.length * 2);
    const mask = slots.length - 1;
    for (let i = 0; i < this.#size; i++) {
      const key = this.#keys[i];
      let h: number;
      if (key >= 0) h = hashNumber(key);
      else {
        const k = -key - 1;
        h = 0x811c9dc5;
        for (let b = this.#offsets[k]; b < this.#offsets[k + 1]; b++) {
          h = Math.imul(h ^ this.#arena[b], 0x01000193);
        }
        h ^= h >>> 16;
      }
      let at = h & mask;
      while (slots[at] !== 0) at = (at + 1) & mask;
      slots[at] = i + 1;
    }
    this.#slots = slots;
    this.#mask = mask;
  }
}

/** Ids {@linkcode IdDictionary.internColumn} reads ahead at a time. */
const GROUP = 256;

/** The hash of a numeric id (below 2^53). */
function hashNumber(v: number): number {
  let h = Math.imul(
    (v >>> 0) ^ Math.imul((v / 4294967296) | 0, 0x9e3779b1),
    0x85ebca6b,
  );
  h ^= h >>> 15;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 13;
  return h;
}

/** Bits of a key sorted on per pass of {@linkcode argsortKeys}. */
const RADIX_BITS = 11;

/**
 * The indexes of `keys` (whole numbers below 2^55) in ascending key order,
 * by least significant digit radix sort (stable; each pass writes to 2^11
 * places in turn, which stay in cache, where a binary search per key would
 * miss it at every step). `keys` is overwritten.
 */
function argsortKeys(keys: Float64Array): Int32Array {
  const n = keys.length;
  const buckets = 1 << RADIX_BITS;
  let kIn: Float64Array = keys, kOut: Float64Array = new Float64Array(n);
  let iIn = new Int32Array(n), iOut = new Int32Array(n);
  for (let i = 0; i < n; i++) iIn[i] = i;
  const counts = new Int32Array(buckets);
  for (let shift = 0; shift < 55; shift += RADIX_BITS) {
    const scale = 2 ** shift;
    counts.fill(0);
    for (let j = 0; j < n; j++) {
      counts[Math.floor(kIn[j] / scale) & (buckets - 1)]++;
    }
    let sum = 0;
    for (let d = 0; d < buckets; d++) {
      const c = counts[d];
      counts[d] = sum;
      sum += c;
    }
    for (let j = 0; j < n; j++) {
      const key = kIn[j];
      const at = counts[Math.floor(key / scale) & (buckets - 1)]++;
      kOut[at] = key;
      iOut[at] = iIn[j];
    }
    [kIn, kOut] = [kOut, kIn];
    [iIn, iOut] = [iOut, iIn];
  }
  return iIn;
}

/**
 * The value of the canonical decimal id of at most 15 digits in
 * `bytes[start .. end]`, else -1.
 */
function canonicalNumberOf(
  bytes: Uint8Array,
  start: number,
  end: number,
): number {
  const len = end - start;
  if (len === 0 || len > MAX_NUMERIC_DIGITS) return -1;
  if (len > 1 && bytes[start] === 48) return -1;
  let v = 0;
  for (let i = start; i < end; i++) {
    const d = bytes[i] - 48;
    if (d < 0 || d > 9) return -1;
    v = v * 10 + d;
  }
  return v;
}

/** The value of a canonical decimal id of at most 15 digits, else -1. */
function canonicalNumber(id: string): number {
  const len = id.length;
  if (
    len === 0 || len > MAX_NUMERIC_DIGITS ||
    (len > 1 && id.charCodeAt(0) === 48)
  ) return -1;
  let n = 0;
  for (let i = 0; i < len; i++) {
    const d = id.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    n = n * 10 + d;
  }
  return n;
}

/**
 * A binary sparse matrix in CSR form: row `r`'s column indexes are
 * `cols[ptr[r] .. ptr[r+1]]`, ascending and distinct.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SparseBinaryMatrix } from "./sparse.ts";
 *
 * const m = SparseBinaryMatrix.fromRows([[2, 0], [], [1]], 3);
 * assert.equal(m.nnz, 3);
 * assert.equal(m.rowLength(0), 2);
 * assert.deepEqual(Array.from(m.row(0)), [0, 2]);
 * ```
 */
export class SparseBinaryMatrix {
  /** Number of rows. */
  readonly rows: number;
  /** Number of columns. */
  readonly cols: number;
  /** Row offsets, length `rows + 1`. */
  readonly ptr: Uint32Array;
  /** Column indexes of the non-zeros, row by row. */
  readonly idx: Int32Array;

  /**
   * Wraps CSR arrays (not copied). Rows must be sorted and distinct.
   *
   * @param rows Number of rows.
   * @param cols Number of columns.
   * @param ptr Row offsets, length `rows + 1`.
   * @param idx Column indexes.
   */
  constructor(rows: number, cols: number, ptr: Uint32Array, idx: Int32Array) {
    if (ptr.length !== rows + 1 || ptr[rows] !== idx.length) {
      throw new RangeError("SparseBinaryMatrix: ptr does not match idx");
    }
    this.rows = rows;
    this.cols = cols;
    this.ptr = ptr;
    this.idx = idx;
  }

  /**
   * Builds a matrix from per-row column lists (deduplicated and sorted).
   *
   * @param rows One array of column indexes per row.
   * @param cols Number of columns.
   * @returns The matrix.
   */
  static fromRows(
    rows: readonly (readonly number[])[],
    cols: number,
  ): SparseBinaryMatrix {
    const ptr = new Uint32Array(rows.length + 1);
    const sorted = rows.map((r) => [...new Set(r)].sort((a, b) => a - b));
    sorted.forEach((r, i) => ptr[i + 1] = ptr[i] + r.length);
    const idx = new Int32Array(ptr[rows.length]);
    sorted.forEach((r, i) => idx.set(r, ptr[i]));
    return new SparseBinaryMatrix(rows.length, cols, ptr, idx);
  }

  /** Number of non-zero entries. */
  get nnz(): number {
    return this.idx.length;
  }

  /**
   * Column indexes of row `r` (a view, not a copy).
   *
   * @param r Row index.
   * @returns The row's columns, ascending.
   */
  row(r: number): Int32Array {
    return this.idx.subarray(this.ptr[r], this.ptr[r + 1]);
  }

  /**
   * Number of non-zeros in row `r`.
   *
   * @param r Row index.
   * @returns The row length.
   */
  rowLength(r: number): number {
    return this.ptr[r + 1] - this.ptr[r];
  }

  /**
   * Non-zeros per column (for a user × item matrix: distinct users per item).
   *
   * @returns A count for every column.
   */
  columnCounts(): Int32Array {
    const counts = new Int32Array(this.cols);
    for (let i = 0; i < this.idx.length; i++) counts[this.idx[i]]++;
    return counts;
  }

  /**
   * The transpose, in O(nnz) by counting sort; rows stay sorted.
   *
   * @returns A `cols × rows` matrix.
   */
  transpose(): SparseBinaryMatrix {
    return this.transposeColumns(0, this.cols);
  }

  /**
   * Columns `from .. to` of the matrix as rows (the transpose of a column
   * slice): row `c - from` lists the rows holding column `c`, ascending.
   * With `shared`, the arrays live in `SharedArrayBuffer`s (for workers).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SparseBinaryMatrix } from "./sparse.ts";
   *
   * const m = SparseBinaryMatrix.fromRows([[0, 2], [1, 2]], 3);
   * const t = m.transposeColumns(1, 3);
   * assert.deepEqual([Array.from(t.row(0)), Array.from(t.row(1))], [[1], [0, 1]]);
   * // with the column counts known, they are not counted again
   * const same = m.transposeColumns(1, 3, false, m.columnCounts());
   * assert.deepEqual(Array.from(same.idx), Array.from(t.idx));
   * ```
   *
   * @param from First column.
   * @param to One past the last.
   * @param shared Allocate in shared memory.
   * @param counts The matrix's {@linkcode SparseBinaryMatrix.columnCounts},
   * when known (they must be its own).
   * @returns A `(to - from) × rows` matrix.
   */
  transposeColumns(
    from: number,
    to: number,
    shared = false,
    counts?: ArrayLike<number>,
  ): SparseBinaryMatrix {
    const width = to - from;
    const ptr = allocate(Uint32Array, width + 1, shared);
    const idx0 = this.idx;
    if (counts) {
      for (let c = 0; c < width; c++) ptr[c + 1] = ptr[c] + counts[from + c];
    } else {
      for (let i = 0; i < idx0.length; i++) {
        const c = idx0[i] - from;
        if (c >= 0 && c < width) ptr[c + 1]++;
      }
      for (let c = 0; c < width; c++) ptr[c + 1] += ptr[c];
    }
    const fill = ptr.slice(0, width);
    const idx = allocate(Int32Array, ptr[width], shared);
    if (from === 0 && to === this.cols) {
      // every column: no range to test
      for (let r = 0; r < this.rows; r++) {
        for (let k = this.ptr[r], end = this.ptr[r + 1]; k < end; k++) {
          idx[fill[idx0[k]]++] = r;
        }
      }
    } else {
      for (let r = 0; r < this.rows; r++) {
        for (let k = this.ptr[r], end = this.ptr[r + 1]; k < end; k++) {
          const c = idx0[k] - from;
          if (c >= 0 && c < width) idx[fill[c]++] = r;
        }
      }
    }
    return new SparseBinaryMatrix(width, this.rows, ptr, idx);
  }

  /**
   * The same matrix in shared memory (a copy; itself when already shared).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { SparseBinaryMatrix } from "./sparse.ts";
   *
   * const m = SparseBinaryMatrix.fromRows([[1]], 2).toShared();
   * assert.ok(m.idx.buffer instanceof SharedArrayBuffer);
   * ```
   *
   * @returns A matrix whose arrays live in `SharedArrayBuffer`s.
   */
  toShared(): SparseBinaryMatrix {
    if (
      this.ptr.buffer instanceof SharedArrayBuffer &&
      this.idx.buffer instanceof SharedArrayBuffer
    ) return this;
    const ptr = allocate(Uint32Array, this.ptr.length, true);
    ptr.set(this.ptr);
    const idx = allocate(Int32Array, this.idx.length, true);
    idx.set(this.idx);
    return new SparseBinaryMatrix(this.rows, this.cols, ptr, idx);
  }

  /** Bytes held by the arrays. */
  get byteLength(): number {
    return this.ptr.byteLength + this.idx.byteLength;
  }
}

/**
 * A typed array of `length` elements, in a `SharedArrayBuffer` when
 * `shared` (so workers see it without a copy).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { allocate } from "./sparse.ts";
 *
 * const a = allocate(Int32Array, 4, true);
 * assert.equal(a.length, 4);
 * assert.ok(a.buffer instanceof SharedArrayBuffer);
 * ```
 *
 * @param type The typed array class.
 * @param length Number of elements.
 * @param shared Whether to use shared memory.
 * @returns The zero-filled array.
 */
export function allocate<
  T extends Int32Array | Uint32Array | Float64Array | Uint8Array,
>(
  type: {
    new (length: number): T;
    new (buffer: ArrayBufferLike): T;
    readonly BYTES_PER_ELEMENT: number;
  },
  length: number,
  shared: boolean,
): T {
  return shared
    ? new type(new SharedArrayBuffer(length * type.BYTES_PER_ELEMENT))
    : new type(length);
}
