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

/** Reusable per-thread scratch, sized by the number of items. */
export class Scratch {
  /** Co-occurrence counts by column item. */
  counts: Int32Array;
  /** Column items touched by the current row. */
  touched: Int32Array;
  /** The current row's best indicators. */
  top: TopK;

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
  const { rowsPtr, rowsIdx, a0, otherPtr, otherIdx, otherCounts, tieRanks } =
    input;
  const { numUsers, sameType, minRootLlr } = input;
  const llr = new LlrTable(numUsers, { table: input.xlogx });
  const { counts, touched } = scratch;
  let top = scratch.top;
  if (top.k !== input.k) top = scratch.top = new TopK(input.k);
  const n = to - from;
  const ptr = new Uint32Array(n + 1);
  let outItems = new Int32Array(Math.max(16, n * Math.min(input.k, 8)));
  let outScores = new Float64Array(outItems.length);
  let pairsScored = 0;
  for (let a = from; a < to; a++) {
    const r = a - a0;
    const start = rowsPtr[r], end = rowsPtr[r + 1];
    const rowA = end - start;
    let nTouched = 0;
    for (let i = start; i < end; i++) {
      const u = rowsIdx[i];
      for (let q = otherPtr[u], qEnd = otherPtr[u + 1]; q < qEnd; q++) {
        const b = otherIdx[q];
        if (sameType && b === a) continue;
        if (counts[b]++ === 0) touched[nTouched++] = b;
      }
    }
    pairsScored += nTouched;
    for (let t = 0; t < nTouched; t++) {
      const b = touched[t];
      const k11 = counts[b];
      counts[b] = 0;
      const colB = otherCounts[b];
      const score = llr.rootLlr(
        k11,
        rowA - k11,
        colB - k11,
        numUsers - rowA - colB + k11,
      );
      if (score >= minRootLlr) top.offer(score, b, tieRanks[b]);
    }
    const at = ptr[a - from];
    if (top.size === 0) {
      ptr[a - from + 1] = at;
      continue;
    }
    const { keys, scores } = top.drain();
    if (at + keys.length > outItems.length) {
      const size = Math.max(outItems.length * 2, at + keys.length);
      const grownItems = new Int32Array(size);
      grownItems.set(outItems);
      outItems = grownItems;
      const grownScores = new Float64Array(size);
      grownScores.set(outScores);
      outScores = grownScores;
    }
    outItems.set(keys, at);
    outScores.set(scores, at);
    ptr[a - from + 1] = at + keys.length;
  }
  const nnz = ptr[n];
  return {
    ptr,
    items: outItems.slice(0, nnz),
    scores: outScores.slice(0, nnz),
    pairsScored,
  };
}
