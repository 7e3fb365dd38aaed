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

/**
 * Bidirectional map between string ids and dense indexes `0..size-1`, in
 * first-seen order (so the order is deterministic for a given input).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { IdDictionary } from "./sparse.ts";
 *
 * const users = new IdDictionary();
 * assert.equal(users.intern("u42"), 0);
 * assert.equal(users.intern("u7"), 1);
 * assert.equal(users.intern("u42"), 0);
 * assert.equal(users.idOf(1), "u7");
 * assert.equal(users.indexOf("nobody"), undefined);
 * ```
 */
export class IdDictionary {
  #ids: string[] = [];
  #index = new Map<string, number>();
  // Canonical decimal ids ("0", "42", not "042") below 10^9 are looked up
  // by their numeric value: hashing a small integer is much cheaper than
  // hashing a fresh string, and most logs use numeric ids.
  #numeric = new Map<number, number>();

  /** Number of distinct ids. */
  get size(): number {
    return this.#ids.length;
  }

  /**
   * Index of `id`, adding it when new.
   *
   * @param id The external id.
   * @returns Its dense index.
   */
  intern(id: string): number {
    const n = canonicalNumber(id);
    let i = n < 0 ? this.#index.get(id) : this.#numeric.get(n);
    if (i === undefined) {
      i = this.#ids.length;
      this.#ids.push(id);
      if (n < 0) this.#index.set(id, i);
      else this.#numeric.set(n, i);
    }
    return i;
  }

  /**
   * Index of `id`, or `undefined` when it was never interned.
   *
   * @param id The external id.
   * @returns Its dense index, if known.
   */
  indexOf(id: string): number | undefined {
    const n = canonicalNumber(id);
    return n < 0 ? this.#index.get(id) : this.#numeric.get(n);
  }

  /**
   * External id of index `i`.
   *
   * @param i A dense index below {@linkcode IdDictionary.size}.
   * @returns The id.
   */
  idOf(i: number): string {
    return this.#ids[i];
  }

  /** All ids in index order. */
  get ids(): readonly string[] {
    return this.#ids;
  }

  /**
   * For every index, its rank when the ids are sorted as strings (code-unit
   * order). Used to break score ties by id deterministically in integer space.
   *
   * @returns `rank[i]` for each index `i`.
   */
  sortRanks(): Int32Array {
    const order = Array.from(this.#ids.keys()).sort((x, y) =>
      compareIds(this.#ids[x], this.#ids[y])
    );
    const rank = new Int32Array(order.length);
    order.forEach((index, r) => rank[index] = r);
    return rank;
  }
}

/** The value of a canonical decimal id below 10^9, else -1. */
function canonicalNumber(id: string): number {
  const len = id.length;
  if (len === 0 || len > 9 || (len > 1 && id.charCodeAt(0) === 48)) return -1;
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
    const counts = this.columnCounts();
    const ptr = new Uint32Array(this.cols + 1);
    for (let c = 0; c < this.cols; c++) ptr[c + 1] = ptr[c] + counts[c];
    const fill = ptr.slice(0, this.cols);
    const idx = new Int32Array(this.idx.length);
    for (let r = 0; r < this.rows; r++) {
      for (let k = this.ptr[r]; k < this.ptr[r + 1]; k++) {
        idx[fill[this.idx[k]]++] = r;
      }
    }
    return new SparseBinaryMatrix(this.cols, this.rows, ptr, idx);
  }
}
