/**
 * Internal: learned weights (`learned.ts`) on a build's typed rows, while
 * the interactions are still held: for each item, in item order, its kept
 * indicators of every history field (rows of the primary event) are the
 * candidates of one ridge regression; the candidates with a positive
 * weight go, with their root LLR and weight, to a new row store per field
 * (in memory or spilled, like the counted rows). No document object is
 * made: the lazy documents read the weights from the stores. The result is
 * `learnWeights` applied to the documents of the counted (`llr-idf`) rows,
 * to the bit: the same candidates in the same order, the same solver.
 *
 * Memory: each history field's column event type as item → users lists
 * (4 bytes per interaction and per item, the primary's shared as the
 * target), the solver's scratch (12 bytes per user, 8 × candidates² for
 * the matrix), and the new rows (spilled past their share of the budget).
 *
 * @module
 */

import type { Interactions } from "./interactions.ts";
import type { SparseBinaryMatrix } from "./sparse.ts";
import type { FieldProgress, FieldResult } from "./_compute.ts";
import type { RowCursor, RowStore } from "./_rows.ts";
import { RidgeFit } from "./_ridge.ts";
import { MIN_LEARNED_WEIGHT } from "./learned.ts";

/** One history field: its counted rows and its column event type. */
export interface HistoryField {
  /** The counted rows (llr-idf kept indicators). */
  result: FieldResult;
  /** Column event type of the field. */
  columns: string;
}

/** Rows per block appended to a store. */
const BLOCK_ROWS = 4096;

/** Rows of one field, gathered into blocks for a {@linkcode RowStore}. */
class BlockWriter {
  readonly store: RowStore;
  #ptr = new Uint32Array(BLOCK_ROWS + 1);
  #items = new Int32Array(1024);
  #scores = new Float64Array(1024);
  #weights = new Float64Array(1024);
  #rows = 0;
  #n = 0;
  kept = 0;

  constructor(store: RowStore) {
    this.store = store;
  }

  /** Adds one indicator to the current row. */
  push(item: number, score: number, weight: number) {
    if (this.#n === this.#items.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as { new (n: number): T })(2 * a.length);
        b.set(a);
        return b;
      };
      this.#items = grow(this.#items);
      this.#scores = grow(this.#scores);
      this.#weights = grow(this.#weights);
    }
    this.#items[this.#n] = item;
    this.#scores[this.#n] = score;
    this.#weights[this.#n++] = weight;
    this.kept++;
  }

  /** Ends the current row. */
  endRow() {
    this.#ptr[++this.#rows] = this.#n;
    if (this.#rows === BLOCK_ROWS) this.flush();
  }

  /** Appends the rows gathered so far to the store. */
  flush() {
    if (this.#rows === 0) return;
    const n = this.#n;
    this.store.append({
      ptr: this.#ptr.slice(0, this.#rows + 1),
      items: this.#items.slice(0, n),
      scores: this.#scores.slice(0, n),
      weights: this.#weights.slice(0, n),
    });
    this.#rows = 0;
    this.#n = 0;
  }
}

/**
 * The work of {@linkcode learnFieldRows}, in user entries read: for each
 * item, the users of each of its candidates (the Gram matrix's first
 * step, which dominates it). It grows with the square of the log's size:
 * more items, each with candidates that have more users.
 *
 * @param interactions The interactions the rows were counted from.
 * @param fields The history fields, in the manifest's order.
 * @returns The user entries the fit would read.
 */
export function learnWork(
  interactions: Interactions,
  fields: readonly HistoryField[],
): number {
  const usersOf = new Map<string, Int32Array>();
  let work = 0;
  for (const f of fields) {
    let counts = usersOf.get(f.columns);
    if (!counts) {
      counts = interactions.matrix(f.columns)!.columnCounts();
      usersOf.set(f.columns, counts);
    }
    const c = f.result.store.cursor();
    try {
      for (let a = 0; a < interactions.items.size; a++) {
        c.next();
        for (let q = c.start; q < c.end; q++) work += counts[c.items[q]];
      }
    } finally {
      c.close();
    }
  }
  return work;
}

/**
 * Learns the weights of the history fields from their counted rows.
 *
 * @param interactions The interactions the rows were counted from.
 * @param primaryEvent The primary event type (the regression's target).
 * @param fields The history fields, in the manifest's order.
 * @param ridge The ridge penalty (checked).
 * @param newStore Makes an empty store for a field's learned rows.
 * @param onProgress Called as items are done.
 * @returns The fields' new results (learned rows, kept counts); the
 * counted stores are released.
 */
export function learnFieldRows(
  interactions: Interactions,
  primaryEvent: string,
  fields: readonly HistoryField[],
  ridge: number,
  newStore: () => RowStore,
  onProgress?: (progress: FieldProgress) => void,
): FieldResult[] {
  const numItems = interactions.items.size;
  // each column event type as item × users, made once
  const byUser = new Map<string, SparseBinaryMatrix>();
  const usersOf = (type: string) => {
    let t = byUser.get(type);
    if (!t) {
      t = interactions.matrix(type)!.transpose();
      byUser.set(type, t);
    }
    return t;
  };
  const transposes = fields.map((f) => usersOf(f.columns));
  const target = usersOf(primaryEvent);
  const fit = new RidgeFit(interactions.users.size);
  const cursors: RowCursor[] = fields.map((f) => f.result.store.cursor());
  const writers = fields.map(() => new BlockWriter(newStore()));
  const candidates: Int32Array[] = [];
  const progress = (done: number) =>
    onProgress?.({
      field: "learned weights",
      done,
      total: numItems,
      pass: 1,
      passes: 1,
    });
  try {
    for (let a = 0; a < numItems; a++) {
      candidates.length = 0;
      for (let f = 0; f < fields.length; f++) {
        const c = cursors[f];
        c.next();
        for (let q = c.start; q < c.end; q++) {
          candidates.push(transposes[f].row(c.items[q]));
        }
      }
      const b = candidates.length === 0
        ? new Float64Array(0)
        : fit.solve(candidates, target.row(a), ridge);
      let j = 0;
      for (let f = 0; f < fields.length; f++) {
        const c = cursors[f], w = writers[f];
        for (let q = c.start; q < c.end; q++, j++) {
          if (b[j] > MIN_LEARNED_WEIGHT) w.push(c.items[q], c.scores[q], b[j]);
        }
        w.endRow();
      }
      if ((a & 1023) === 1023) progress(a + 1);
    }
    progress(numItems);
  } finally {
    for (const c of cursors) c.close();
  }
  return fields.map((f, i) => {
    writers[i].flush();
    const store = writers[i].store;
    store.finish();
    f.result.store.release();
    return {
      ...f.result,
      store,
      kept: writers[i].kept,
    };
  });
}
