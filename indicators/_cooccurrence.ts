/**
 * Internal: the co-occurrence kernel, shared by the build and its workers.
 * For a range of row items it counts co-occurrences by sparse row
 * accumulation (Gustavson), scores the touched pairs by signed root LLR
 * and keeps the top k above the threshold. Everything is typed arrays, so
 * workers can read the matrices from shared memory.
 *
 * @module
 */

import { LlrTable } from "./llr.ts";
import { TopK } from "./_top_k.ts";

/** What one field's rows are computed from (all arrays may be shared). */
export interface FieldInput {
  /** Row items `a0 ..` as rows of users: offsets relative to `a0`. */
  rowsPtr: Uint32Array;
  /** Users of each row item. */
  rowsIdx: Int32Array;
  /** First row item of `rowsPtr`. */
  a0: number;
  /** Users × items of the column event type: offsets. */
  otherPtr: Uint32Array;
  /** Users × items of the column event type: items. */
  otherIdx: Int32Array;
  /** Distinct users per item of the column event type. */
  otherCounts: Int32Array;
  /** Each item's rank in id order, for ties. */
  tieRanks: Int32Array;
  /** `x·ln x` for 0 .. N. */
  xlogx: Float64Array;
  /** N, the users of the LLR tables. */
  numUsers: number;
  /** Whether rows and columns are the same event type (no diagonal). */
  sameType: boolean;
  /** Indicators kept per item. */
  k: number;
  /** Threshold on signed root LLR. */
  minRootLlr: number;
}

/** Indicator rows of consecutive items. */
export interface RowsResult {
  /** Offsets, one per item plus one, from 0. */
  ptr: Uint32Array;
  /** Indicator items, strongest first per row. */
  items: Int32Array;
  /** Their root LLR. */
  scores: Float64Array;
  /** Co-occurring pairs scored. */
  pairsScored: number;
}

/** Touched pairs gathered and scored at a time. */
const SCORE_CHUNK = 256;

/** Reusable per-thread scratch, sized by the number of items. */
export class Scratch {
  /** Co-occurrence counts by column item. */
  counts: Int32Array;
  /** Column items touched by the current row. */
  touched: Int32Array;
  /** The current row's best indicators. */
  top: TopK;
  /** A chunk of touched pairs: their co-occurrence count. */
  k11 = new Int32Array(SCORE_CHUNK);
  /** A chunk of touched pairs: their column item's users. */
  colB = new Int32Array(SCORE_CHUNK);
  /** What the look-ahead loads sum to (kept so that they are not optimized away). */
  warm = 0;

  /**
   * Allocates scratch for `numItems` items and top `k`.
   *
   * @param numItems Items.
   * @param k Indicators per item.
   */
  constructor(numItems: number, k: number) {
    this.counts = new Int32Array(numItems);
    this.touched = new Int32Array(numItems);
    this.top = new TopK(k);
  }
}

/**
 * Computes indicator rows for items `from .. to` (absolute indexes, inside
 * the range `input.rowsPtr` covers).
 *
 * @param input The field.
 * @param from First row item.
 * @param to One past the last.
 * @param scratch Scratch of this thread (its `top` sized `input.k`).
 * @returns The rows.
 */
export function scoreRows(
  input: FieldInput,
  from: number,
  to: number,
  scratch: Scratch,
): RowsResult {
  const { rowsPtr, a0 } = input;
  if (scratch.top.k !== input.k) scratch.top = new TopK(input.k);
  const top = scratch.top;
  const llr = new LlrTable(input.numUsers, { table: input.xlogx });
  const n = to - from;
  const ptr = new Uint32Array(n + 1);
  let outItems = new Int32Array(Math.max(16, n * Math.min(input.k, 8)));
  let outScores = new Float64Array(outItems.length);
  let pairsScored = 0;
  // a call per row: V8 optimizes functions called often, not the inner
  // loops of one long call (which it compiles on the stack and drops)
  for (let a = from; a < to; a++) {
    const touched = accumulate(input, a, scratch);
    pairsScored += touched;
    const rowA = rowsPtr[a - a0 + 1] - rowsPtr[a - a0];
    for (let c0 = 0; c0 < touched; c0 += SCORE_CHUNK) {
      scoreChunk(
        input,
        llr,
        rowA,
        c0,
        Math.min(SCORE_CHUNK, touched - c0),
        scratch,
      );
    }
    const at = ptr[a - from];
    const kept = top.size;
    if (at + kept > outItems.length) {
      const size = Math.max(outItems.length * 2, at + kept);
      const grownItems = new Int32Array(size);
      grownItems.set(outItems);
      outItems = grownItems;
      const grownScores = new Float64Array(size);
      grownScores.set(outScores);
      outScores = grownScores;
    }
    ptr[a - from + 1] = at + top.drainInto(outItems, outScores, at);
  }
  const nnz = ptr[n];
  return {
    ptr,
    items: outItems.slice(0, nnz),
    scores: outScores.slice(0, nnz),
    pairsScored,
  };
}

// counts row item a's co-occurrences into scratch.counts (Gustavson: the
// column items of each of its users), listing each item touched once in
// scratch.touched; returns how many. Users go in chunks whose rows' bounds,
// then rows' first items, then their items' counts are read first
// (independent loads, whose cache misses overlap: rows of users are far
// apart, and so are items).
function accumulate(input: FieldInput, a: number, scratch: Scratch): number {
  const { rowsPtr, rowsIdx, otherPtr, otherIdx } = input;
  const { counts, touched } = scratch;
  const starts = scratch.k11, ends = scratch.colB;
  const self = input.sameType ? a : -1;
  const r = a - input.a0;
  let nTouched = 0;
  for (let i0 = rowsPtr[r], end = rowsPtr[r + 1]; i0 < end; i0 += SCORE_CHUNK) {
    const m = Math.min(SCORE_CHUNK, end - i0);
    for (let j = 0; j < m; j++) {
      const u = rowsIdx[i0 + j];
      starts[j] = otherPtr[u];
      ends[j] = otherPtr[u + 1];
    }
    // and the first item of each of those rows (its cache line), then the
    // counts of their items
    let warm = 0;
    for (let j = 0; j < m; j++) {
      if (starts[j] < ends[j]) warm += otherIdx[starts[j]];
    }
    for (let j = 0; j < m; j++) {
      for (let q = starts[j], qEnd = ends[j]; q < qEnd; q++) {
        warm += counts[otherIdx[q]];
      }
    }
    scratch.warm += warm;
    for (let j = 0; j < m; j++) {
      for (let q = starts[j], qEnd = ends[j]; q < qEnd; q++) {
        const b = otherIdx[q];
        if (b === self) continue;
        // branch-free: the item is listed, and kept when it was new
        const c = counts[b];
        counts[b] = c + 1;
        touched[nTouched] = b;
        nTouched += (c - 1) >>> 31;
      }
    }
  }
  return nTouched;
}

// scores touched items c0 .. c0 + m of a row with rowA users (resetting
// their counts) and offers those above the threshold to scratch.top: first
// the chunk's counts and column sizes, then the x·ln x values that vary
// with the column item (loops of independent loads from item- and
// user-sized arrays, whose cache misses overlap), then the scores
function scoreChunk(
  input: FieldInput,
  llr: LlrTable,
  rowA: number,
  c0: number,
  m: number,
  scratch: Scratch,
) {
  const { otherCounts, tieRanks, numUsers, minRootLlr } = input;
  const xlogx = input.xlogx;
  const { counts, touched, top } = scratch;
  const k11s = scratch.k11, cols = scratch.colB;
  for (let j = 0; j < m; j++) {
    const b = touched[c0 + j];
    k11s[j] = counts[b];
    counts[b] = 0;
    cols[j] = otherCounts[b];
  }
  let warm = 0;
  for (let j = 0; j < m; j++) {
    const k11 = k11s[j], colB = cols[j];
    warm += xlogx[colB] + xlogx[numUsers - colB] + xlogx[colB - k11] +
      xlogx[numUsers - rowA - colB + k11];
  }
  scratch.warm = warm;
  for (let j = 0; j < m; j++) {
    const k11 = k11s[j];
    const colB = cols[j];
    const score = llr.rootLlr(
      k11,
      rowA - k11,
      colB - k11,
      numUsers - rowA - colB + k11,
    );
    if (score >= minRootLlr) {
      const b = touched[c0 + j];
      top.offer(score, b, tieRanks[b]);
    }
  }
}
