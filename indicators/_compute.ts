/**
 * Internal: computing every indicator field of a build under a memory
 * budget, and producing its documents lazily.
 *
 * Per field (rows event type R × columns event type C):
 * - the row items are split into **passes** (ranges of items with about
 *   the same number of R interactions) so that the transposed slice of R
 *   (item → users, 4 bytes per interaction) of one pass fits the budget
 *   beside the fixed state (the capped interactions, the dictionaries, the
 *   `x·ln x` table, per-thread scratch);
 * - each pass is cut into blocks of rows, scored by the kernel
 *   (`_cooccurrence.ts`) in this thread or in workers over shared memory;
 *   blocks are put back in item order, so every path gives the same rows;
 * - the rows go to a {@linkcode RowStore}, in memory or spilled to a
 *   temporary file past its share of the budget.
 *
 * Documents are made from the stores when iterated, one item at a time:
 * memory holds typed rows, never one object per item. Learned weights
 * (`_learned_rows.ts`) replace a field's rows by rows that carry their
 * weights.
 *
 * @module
 */

import type { IndicatorDocument } from "../model/document.ts";
import type { NdjsonChunk, NdjsonLines } from "../model/ndjson.ts";
import type { Weighting } from "../model/manifest.ts";
import type { IdDictionary, SparseBinaryMatrix } from "./sparse.ts";
import { indicatorIdf, MIN_WEIGHTED_ROOT_LLR } from "./weights.ts";
import {
  type FieldInput,
  type RowsResult,
  scoreRows,
  Scratch,
} from "./_cooccurrence.ts";
import { type RowCursor, RowStore } from "./_rows.ts";
import { ndjsonLinesOf } from "./_ndjson_lines.ts";
import type { LlrTable } from "./llr.ts";

/** One field to compute, with its resolved settings. */
export interface FieldJob {
  /** Field name. */
  field: string;
  /** Rows: users × items of the row event type. */
  rows: SparseBinaryMatrix;
  /** Columns: users × items of the column event type. */
  columns: SparseBinaryMatrix;
  /** Whether rows and columns are the same event type. */
  sameType: boolean;
  /** Indicators kept per item. */
  k: number;
  /** Threshold on signed root LLR. */
  minRootLlr: number;
}

/** A computed field: its rows and figures. */
export interface FieldResult {
  /** Field name. */
  field: string;
  /** The kept indicators of every item. */
  store: RowStore;
  /** Items listing each item (llr-idf weights), else empty. */
  df: Int32Array;
  /** Items with at least one kept indicator. */
  docCount: number;
  /** Indicators kept. */
  kept: number;
  /** Pairs scored. */
  pairsScored: number;
  /** Σ over users of row items × column items. */
  coOccurrences: number;
  /** Passes over the row items. */
  passes: number;
  /** Milliseconds. */
  millis: number;
}

/** Progress of one field. */
export interface FieldProgress {
  /** The field. */
  field: string;
  /**
   * Work done: interactions of the row items scored so far, plus one per
   * item (a row costs about as much as it has users).
   */
  done: number;
  /** Work in all, in the same unit. */
  total: number;
  /** The current pass (1-based) and how many there are. */
  pass: number;
  /** Passes of this field. */
  passes: number;
}

/** How the fields are computed. */
export interface ComputeOptions {
  /** Bytes the build may use (its peak should stay below). */
  memoryBudget: number;
  /** Bytes already held that stay held (interactions, dictionaries). */
  fixedBytes: number;
  /** Worker threads (0: this thread only). */
  workers: number;
  /** Weighting: which indicators are kept (weighted: positive LLR). */
  weighting: Weighting;
  /** Makes the directory for spilled rows (once). */
  tempDir: () => string;
  /** Progress callback. */
  onProgress?: (progress: FieldProgress) => void;
  /** The most passes a field may take. */
  maxPasses?: number;
}

/** Bytes a thread's scratch takes for `items` items. */
const scratchBytes = (items: number) => 8 * items + 4096;
/** Bytes of V8 and the runtime that the budget must leave room for. */
export const BASELINE_BYTES = 96 * 2 ** 20;
/** Bytes of one worker's isolate. */
const WORKER_BYTES = 24 * 2 ** 20;

/**
 * Splits items `0 .. n` into `passes` ranges of about equal weight.
 *
 * @param weights Weight of each item (its interactions).
 * @param passes How many ranges.
 * @returns Range starts and the end, `passes + 1` values (fewer when
 * items run out).
 */
export function splitByWeight(weights: Int32Array, passes: number): number[] {
  const n = weights.length;
  let total = 0;
  for (let i = 0; i < n; i++) total += weights[i];
  const bounds = [0];
  let acc = 0;
  for (let i = 0; i < n; i++) {
    acc += weights[i];
    const want = (bounds.length * total) / passes;
    if (acc >= want && bounds.length < passes && i + 1 < n) bounds.push(i + 1);
  }
  bounds.push(n);
  return bounds;
}

/**
 * How many passes a field needs: its transposed rows (4 bytes per
 * interaction plus 4 per item) must fit what the budget leaves.
 *
 * @param job The field.
 * @param options The budget and what is held.
 * @param threads Threads scoring (each with scratch).
 * @param outputBytes Bytes the stores of earlier fields hold.
 * @returns Passes, at least 1.
 */
export function passesFor(
  job: FieldJob,
  options: ComputeOptions,
  threads: number,
  outputBytes: number,
): number {
  const items = job.rows.cols;
  const transposed = 4 * job.rows.nnz + 4 * (items + 1);
  const free = options.memoryBudget - options.fixedBytes - BASELINE_BYTES -
    outputBytes - threads * scratchBytes(items) -
    (threads > 1 ? threads * WORKER_BYTES : 0) - 4 * items;
  const max = Math.max(1, Math.min(options.maxPasses ?? 64, items));
  if (free <= 0) return max;
  return Math.max(1, Math.min(max, Math.ceil(transposed / free)));
}

/**
 * The bytes one field's rows may hold in memory before they spill: an
 * eighth of what the budget leaves beside the fixed state.
 *
 * @param options The budget and what is held.
 * @param heldBytes Bytes held beside the fixed state for the while.
 * @returns Bytes.
 */
export function storeBytesOf(options: ComputeOptions, heldBytes = 0): number {
  return Math.max(
    0,
    (options.memoryBudget - options.fixedBytes - heldBytes - BASELINE_BYTES) /
      8,
  );
}

/** A pool of co-occurrence workers over shared memory. */
export class WorkerPool {
  #workers: Worker[];
  #failed?: Error;

  private constructor(workers: Worker[]) {
    this.#workers = workers;
  }

  /**
   * Starts `n` workers, or returns `undefined` when workers cannot start.
   *
   * @param n Workers.
   * @returns The pool.
   */
  static start(n: number): WorkerPool | undefined {
    const workers: Worker[] = [];
    try {
      for (let i = 0; i < n; i++) {
        workers.push(
          new Worker(new URL("./_cooccurrence_worker.ts", import.meta.url), {
            type: "module",
          }),
        );
      }
    } catch {
      for (const w of workers) w.terminate();
      return undefined;
    }
    return new WorkerPool(workers);
  }

  /** Number of workers. */
  get size(): number {
    return this.#workers.length;
  }

  /**
   * Computes blocks of rows, calling `onResult` as each block completes
   * (in any order).
   *
   * @param input The field (arrays in shared memory).
   * @param blocks Row ranges.
   * @param onResult Receives block number and rows.
   */
  run(
    input: FieldInput,
    blocks: [number, number][],
    onResult: (block: number, rows: RowsResult) => void,
  ): Promise<void> {
    if (this.#failed) return Promise.reject(this.#failed);
    for (const w of this.#workers) w.postMessage({ field: input });
    return new Promise((resolve, reject) => {
      let next = 0, done = 0;
      const give = (w: Worker) => {
        if (next >= blocks.length) return;
        const id = next++;
        w.postMessage({ id, from: blocks[id][0], to: blocks[id][1] });
      };
      for (const w of this.#workers) {
        w.onmessage = (
          event: MessageEvent<
            { id: number; result?: RowsResult; error?: string }
          >,
        ) => {
          const { id, result, error } = event.data;
          if (error !== undefined || !result) {
            this.#failed = new Error(`co-occurrence worker failed: ${error}`);
            reject(this.#failed);
            return;
          }
          try {
            onResult(id, result);
          } catch (e) {
            reject(e);
            return;
          }
          if (++done === blocks.length) resolve();
          else give(w);
        };
        w.onerror = (event: ErrorEvent) => {
          event.preventDefault();
          this.#failed = new Error(
            `co-occurrence worker failed: ${event.message}`,
          );
          reject(this.#failed);
        };
      }
      if (blocks.length === 0) resolve();
      for (const w of this.#workers) give(w);
    });
  }

  /** Stops the workers. */
  terminate(): void {
    for (const w of this.#workers) w.terminate();
    this.#workers = [];
  }
}

/** Rows with only the kept indicators, and the figures weights need. */
class FieldCollector {
  readonly store: RowStore;
  readonly df: Int32Array;
  docCount = 0;
  kept = 0;
  pairsScored = 0;
  #weighting: Weighting;

  constructor(items: number, weighting: Weighting, store: RowStore) {
    this.store = store;
    this.#weighting = weighting;
    this.df = new Int32Array(weighting === "llr-idf" ? items : 0);
  }

  add(rows: RowsResult) {
    this.pairsScored += rows.pairsScored;
    let { ptr, items, scores } = rows;
    if (this.#weighting !== "none") {
      // weighted: a weight must be positive; rows are sorted, so the rest
      // of a row goes once a score is too small
      let drop = false;
      for (let q = 0; q < scores.length && !drop; q++) {
        if (!(scores[q] > MIN_WEIGHTED_ROOT_LLR)) drop = true;
      }
      if (drop) {
        const p2 = new Uint32Array(ptr.length);
        const i2 = new Int32Array(items.length);
        const s2 = new Float64Array(scores.length);
        let n = 0;
        for (let r = 0; r + 1 < ptr.length; r++) {
          for (let q = ptr[r]; q < ptr[r + 1]; q++) {
            if (!(scores[q] > MIN_WEIGHTED_ROOT_LLR)) continue;
            i2[n] = items[q];
            s2[n++] = scores[q];
          }
          p2[r + 1] = n;
        }
        ptr = p2;
        items = i2.slice(0, n);
        scores = s2.slice(0, n);
      }
    }
    this.kept += items.length;
    if (this.#weighting === "llr-idf") {
      for (let r = 0; r + 1 < ptr.length; r++) {
        if (ptr[r + 1] > ptr[r]) this.docCount++;
      }
      for (let q = 0; q < items.length; q++) this.df[items[q]]++;
    }
    this.store.append({ ptr, items, scores });
  }
}

function coOccurrences(job: FieldJob): number {
  let n = 0;
  const a = job.rows.ptr, b = job.columns.ptr;
  for (let u = 0; u + 1 < a.length; u++) {
    n += (a[u + 1] - a[u]) * (b[u + 1] - b[u]);
  }
  return n;
}

function blocksOf(
  rowsT: SparseBinaryMatrix,
  a0: number,
  parts: number,
): [number, number][] {
  const counts = new Int32Array(rowsT.rows);
  for (let r = 0; r < rowsT.rows; r++) counts[r] = rowsT.rowLength(r) + 1;
  const bounds = splitByWeight(counts, parts);
  const blocks: [number, number][] = [];
  for (let i = 0; i + 1 < bounds.length; i++) {
    blocks.push([a0 + bounds[i], a0 + bounds[i + 1]]);
  }
  return blocks;
}

interface Pass {
  input: FieldInput;
  rowsT: SparseBinaryMatrix;
  a0: number;
  progress: (to: number) => void;
}

function* passesOf(
  job: FieldJob,
  bounds: number[],
  rowCounts: Int32Array,
  llr: LlrTable,
  tieRanks: Int32Array,
  shared: boolean,
  onProgress?: (progress: FieldProgress) => void,
): Generator<Pass> {
  // rows and columns of one type are one matrix: counted once
  const otherCounts = job.columns === job.rows
    ? rowCounts
    : job.columns.columnCounts();
  const counts = shared ? toShared(otherCounts) : otherCounts;
  const total = job.rows.nnz + job.rows.cols;
  let before = 0;
  for (let p = 0; p + 1 < bounds.length; p++) {
    const a0 = bounds[p], a1 = bounds[p + 1];
    const rowsT = job.rows.transposeColumns(a0, a1, shared, rowCounts);
    const start = before;
    before += rowsT.nnz + (a1 - a0);
    yield {
      rowsT,
      a0,
      input: {
        rowsPtr: rowsT.ptr,
        rowsIdx: rowsT.idx,
        a0,
        otherPtr: job.columns.ptr,
        otherIdx: job.columns.idx,
        otherCounts: counts,
        tieRanks,
        xlogx: llr.table,
        numUsers: llr.n,
        sameType: job.sameType,
        k: job.k,
        minRootLlr: job.minRootLlr,
      },
      // `to`: the end of the rows done, an item index
      progress: (to: number) =>
        onProgress?.({
          field: job.field,
          done: start + rowsT.ptr[to - a0] + (to - a0),
          total,
          pass: p + 1,
          passes: bounds.length - 1,
        }),
    };
  }
}

function plan(
  job: FieldJob,
  options: ComputeOptions,
  threads: number,
  outputBytes: number,
) {
  const passes = passesFor(job, options, threads, outputBytes);
  const collector = new FieldCollector(
    job.rows.cols,
    options.weighting,
    new RowStore(storeBytesOf(options), options.tempDir),
  );
  const rowCounts = job.rows.columnCounts();
  const bounds = splitByWeight(rowCounts, passes);
  return { collector, bounds, rowCounts };
}

function result(
  job: FieldJob,
  collector: FieldCollector,
  bounds: number[],
  t0: number,
): FieldResult {
  collector.store.finish();
  return {
    field: job.field,
    store: collector.store,
    df: collector.df,
    docCount: collector.docCount,
    kept: collector.kept,
    pairsScored: collector.pairsScored,
    coOccurrences: coOccurrences(job),
    passes: bounds.length - 1,
    millis: performance.now() - t0,
  };
}

/**
 * Computes one field in passes, in this thread.
 *
 * @param job The field.
 * @param llr The `x·ln x` table.
 * @param tieRanks Item ranks in id order.
 * @param options Budget, weighting, progress.
 * @param outputBytes Bytes the stores of earlier fields hold.
 * @returns The field's rows and figures.
 */
export function computeFieldSync(
  job: FieldJob,
  llr: LlrTable,
  tieRanks: Int32Array,
  options: ComputeOptions,
  outputBytes: number,
): FieldResult {
  const t0 = performance.now();
  const { collector, bounds, rowCounts } = plan(job, options, 1, outputBytes);
  const scratch = new Scratch(job.rows.cols, job.k);
  for (
    const pass of passesOf(
      job,
      bounds,
      rowCounts,
      llr,
      tieRanks,
      false,
      options.onProgress,
    )
  ) {
    // blocks of about 1/64 of the pass, for progress
    for (const [from, to] of blocksOf(pass.rowsT, pass.a0, 64)) {
      collector.add(scoreRows(pass.input, from, to, scratch));
      pass.progress(to);
    }
  }
  return result(job, collector, bounds, t0);
}

/**
 * Computes one field in passes with workers over shared memory (the
 * matrices, `llr` and `tieRanks` must be in shared memory). Gives the same
 * rows as {@linkcode computeFieldSync}.
 *
 * @param job The field.
 * @param llr The `x·ln x` table.
 * @param tieRanks Item ranks in id order.
 * @param options Budget, weighting, progress.
 * @param outputBytes Bytes the stores of earlier fields hold.
 * @param pool The workers.
 * @returns The field's rows and figures.
 */
export async function computeField(
  job: FieldJob,
  llr: LlrTable,
  tieRanks: Int32Array,
  options: ComputeOptions,
  outputBytes: number,
  pool: WorkerPool,
): Promise<FieldResult> {
  const t0 = performance.now();
  const { collector, bounds, rowCounts } = plan(
    job,
    options,
    pool.size,
    outputBytes,
  );
  for (
    const pass of passesOf(
      job,
      bounds,
      rowCounts,
      llr,
      tieRanks,
      true,
      options.onProgress,
    )
  ) {
    const blocks = blocksOf(pass.rowsT, pass.a0, pool.size * 32);
    const pending = new Map<number, RowsResult>();
    let next = 0;
    await pool.run(pass.input, blocks, (block, rows) => {
      pending.set(block, rows);
      while (pending.has(next)) {
        collector.add(pending.get(next)!);
        pending.delete(next);
        pass.progress(blocks[next][1]);
        next++;
      }
    });
  }
  return result(job, collector, bounds, t0);
}

function toShared(a: Int32Array): Int32Array {
  if (a.buffer instanceof SharedArrayBuffer) return a;
  const s = new Int32Array(new SharedArrayBuffer(a.byteLength));
  s.set(a);
  return s;
}

/**
 * The documents of a build, made from the fields' rows when iterated (as
 * many times as asked), in item order.
 */
export class LazyDocuments implements Iterable<IndicatorDocument>, NdjsonLines {
  readonly #items: IdDictionary;
  readonly #fields: FieldResult[];
  readonly #weighting: Weighting;
  readonly #metadata: readonly (readonly [string, ArrayLike<number>])[];

  /**
   * Wraps computed fields.
   *
   * @param items The item dictionary.
   * @param fields The fields, primary first.
   * @param weighting The weighting of fields whose rows carry no weights
   * (a counted one: learned rows carry theirs).
   * @param metadata Each document's metadata numbers: name and value per
   * item, in order (a name given twice takes the later values), e.g.
   * `popularity`, distinct users with the primary event, then rankings.
   */
  constructor(
    items: IdDictionary,
    fields: FieldResult[],
    weighting: Weighting,
    metadata: readonly (readonly [string, ArrayLike<number>])[],
  ) {
    this.#items = items;
    this.#fields = fields;
    this.#weighting = weighting;
    this.#metadata = metadata;
  }

  /** Number of documents. */
  get length(): number {
    return this.#items.size;
  }

  /**
   * Yields one document per item.
   *
   * @returns The documents.
   */
  *[Symbol.iterator](): Generator<IndicatorDocument> {
    const items = this.#items;
    const fields = this.#fields;
    const weighting = this.#weighting;
    const cursors: RowCursor[] = fields.map((f) => f.store.cursor());
    try {
      for (let a = 0; a < items.size; a++) {
        const doc: Record<string, unknown> = { id: items.idOf(a) };
        const scores: Record<string, number[]> = {};
        const weights: Record<string, number[]> = {};
        for (let f = 0; f < fields.length; f++) {
          const c = cursors[f];
          c.next();
          const { start, end } = c;
          const n = end - start;
          const ids = new Array<string>(n);
          const s = new Array<number>(n);
          for (let j = 0; j < n; j++) {
            ids[j] = items.idOf(c.items[start + j]);
            s[j] = c.scores[start + j];
          }
          const field = fields[f];
          doc[field.field] = ids;
          scores[field.field] = s;
          const stored = c.weights;
          if (stored) {
            const w = new Array<number>(n);
            for (let j = 0; j < n; j++) w[j] = stored[start + j];
            weights[field.field] = w;
          } else if (weighting === "llr") weights[field.field] = s.slice();
          else if (weighting === "llr-idf") {
            const w = new Array<number>(n);
            for (let j = 0; j < n; j++) {
              w[j] = s[j] *
                indicatorIdf(field.docCount, field.df[c.items[start + j]]);
            }
            weights[field.field] = w;
          }
        }
        doc.scores = scores;
        if (weighting !== "none") doc.weights = weights;
        const metadata: Record<string, number> = {};
        for (const [name, values] of this.#metadata) metadata[name] = values[a];
        doc.metadata = metadata;
        yield doc as unknown as IndicatorDocument;
      }
    } finally {
      for (const c of cursors) c.close();
    }
  }

  /**
   * The documents as NDJSON: exactly `JSON.stringify` of each document and
   * a line break, in chunks of whole lines of about 1 MiB, written from the
   * typed rows without making the documents (ids from the dictionary's
   * bytes, no object or string per document). `writeModel` writes these.
   *
   * @returns The chunks, in item order.
   */
  ndjsonLines(): Generator<NdjsonChunk> {
    return ndjsonLinesOf(
      this.#items,
      this.#fields,
      this.#weighting,
      this.#metadata,
      this,
    );
  }

  /** Removes spilled rows (the documents cannot be iterated after). */
  release(): void {
    for (const f of this.#fields) f.store.release();
  }
}
