/**
 * Item-to-item LLR indicators (correlated cross-occurrence, CCO): for every
 * item A of the primary event type (what we predict, e.g. `transaction`),
 * the items B whose interactions of each event type co-occur with A's
 * primary events across users more than chance, scored by signed root LLR
 * ({@linkcode rootLogLikelihoodRatio}) and kept top-k above a threshold.
 *
 * Contingency table per pair, over the N users of the shared user dictionary
 * (every user with any event), with interactions binarized:
 * `k11` = users with both, `k12 = |A| - k11`, `k21 = |B| - k11`,
 * `k22 = N - k11 - k12 - k21`, where `|A|`, `|B|` are distinct-user counts
 * per item. The diagonal (A with itself) is excluded when rows and columns
 * are the same event type.
 *
 * Computed by sparse row accumulation (Gustavson): for each item A, walk A's
 * users and their items, counting co-occurrences into one reusable typed
 * array; then score the touched entries and select the top k with a bounded
 * heap. Memory is O(items + non-zeros), never items × items.
 *
 * @example Purchase-only indicators from a few events
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildIndicators } from "./build.ts";
 *
 * const events = [
 *   { user: "u1", item: "tent", event: "transaction", timestamp: 1 },
 *   { user: "u1", item: "stove", event: "transaction", timestamp: 2 },
 *   { user: "u2", item: "tent", event: "transaction", timestamp: 3 },
 *   { user: "u2", item: "stove", event: "transaction", timestamp: 4 },
 *   { user: "u3", item: "novel", event: "transaction", timestamp: 5 },
 * ];
 * const { documents } = await buildIndicators(events, {
 *   primaryEvent: "transaction",
 *   minRootLlr: 0,
 * });
 * assert.deepEqual(documents.find((d) => d.id === "tent")!.indicators, ["stove"]);
 * ```
 *
 * @module
 */

import {
  DEFAULT_MAX_HISTORY_PER_USER,
  type EventStream,
  type InteractionOptions,
  type Interactions,
  InteractionsBuilder,
} from "./interactions.ts";
import { LlrTable } from "./llr.ts";
import type { IndicatorDocument } from "../model/document.ts";
import {
  crossOccurrenceField,
  EVENT_TYPE_NAME,
  PRIMARY_FIELD,
  similarField,
} from "../model/fields.ts";
import {
  type FieldManifest,
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  type ModelManifest,
  TOOL_VERSION,
} from "../model/manifest.ts";
import type { SparseBinaryMatrix } from "./sparse.ts";
import { checkMinEventsPerUser, withMinEventsPerUser } from "./min_events.ts";
import { rootLlrThreshold } from "./significance.ts";
import {
  checkRankings,
  RankingsAccumulator,
  type RankingSpec,
} from "./rankings.ts";
import { ConfigError, messageOf } from "../errors/mod.ts";
import { scoreRows, Scratch } from "./_cooccurrence.ts";
import {
  computeField,
  computeFieldSync,
  type ComputeOptions,
  type FieldJob,
  type FieldProgress,
  type FieldResult,
  LazyDocuments,
  storeBytesOf,
  WorkerPool,
} from "./_compute.ts";
import { DEFAULT_WEIGHTING, isWeighting, WEIGHTINGS } from "./weights.ts";
import type { Weighting } from "../model/manifest.ts";
import { checkRidge, DEFAULT_RIDGE } from "./learned.ts";
import {
  type HistoryField,
  learnFieldRows,
  learnWork,
} from "./_learned_rows.ts";
import { RowStore } from "./_rows.ts";

/**
 * Default number of indicators kept per item and field (Mahout's
 * `maxInterestingItemsPerThing` is 50; 100 scores better on every dataset
 * evaluated, see the README's evaluation).
 */
export const DEFAULT_MAX_INDICATORS_PER_ITEM = 100;
/**
 * Default threshold, as a significance level of the LLR test: 0.01, a
 * signed root LLR of 2.58 (a raw LLR, Mahout's and the Universal
 * Recommender's `minLLR`, of 6.63). The original tutorial's root LLR of 5 is
 * a level of 5.7e-7: stricter than the evidence supports once indicators
 * are weighted (see the README's evaluation).
 */
export const DEFAULT_SIGNIFICANCE = 0.01;
/** The root-LLR threshold of {@linkcode DEFAULT_SIGNIFICANCE} (2.5758). */
export const DEFAULT_MIN_ROOT_LLR: number = rootLlrThreshold(
  DEFAULT_SIGNIFICANCE,
);

/** Options for selecting indicators. */
export interface IndicatorOptions {
  /**
   * Keep at most this many indicators per item (default
   * {@linkcode DEFAULT_MAX_INDICATORS_PER_ITEM}).
   */
  maxIndicatorsPerItem?: number;
  /**
   * Keep only pairs with signed root LLR `>=` this (default: the cutoff of
   * {@linkcode DEFAULT_SIGNIFICANCE}). `-Infinity` keeps every co-occurring
   * pair.
   */
  minRootLlr?: number;
  /**
   * The threshold as a significance level of the LLR test (χ²(1)): keep
   * pairs whose p-value is at most this (e.g. 0.01: root LLR >= 2.58; see
   * `significance.ts`). Exclusive with `minRootLlr` at the same level; a
   * field's own setting wins over the top-level one.
   */
  significance?: number;
}

/** Options for {@linkcode buildIndicators}. */
export interface BuildOptions extends IndicatorOptions, InteractionOptions {
  /**
   * Event type to predict (e.g. `transaction`; a format preset names its
   * own, see `PRESETS`). Required: nothing guesses it.
   */
  primaryEvent: string;
  /**
   * Secondary event types, each giving a cross-occurrence field
   * `indicators_<type>` (primary × secondary). Default: every other type in
   * the input, sorted by name. `[]` builds purchase-only indicators.
   */
  secondaryEvents?: readonly string[];
  /**
   * Event type whose item × item similarity (S × S) becomes the
   * `similar_<type>` field. Default: the most common secondary type; `null`
   * disables it.
   */
  similarEvent?: string | null;
  /**
   * Per-field overrides of the threshold and top-k, by field name (e.g.
   * `{ indicators_view: { minRootLlr: 3 } }`); unset values fall back to
   * the top-level options.
   */
  fields?: Readonly<Record<string, IndicatorOptions>>;
  /**
   * Indicator strength (default `"learned"`): `"llr"` and `"llr-idf"` set
   * each document's `weights`, indexed as `sparse_vector` fields and scored
   * by weight; `"none"` leaves keyword fields scored by BM25, as the
   * Universal Recommender does. See `weights.ts`. `"learned"` fits the
   * history fields' weights by ridge regression on the interactions (see
   * `learned.ts`; the `similar_` field keeps `"llr-idf"`), in the build,
   * from its typed rows: the documents stay lazy. Left unset, learning
   * gives way to `"llr-idf"` when its work would pass `maxLearnWork`
   * (`BuildStats.learnedWeightsSkipped` says so); set to `"learned"`, it
   * always learns.
   */
  weights?: Weighting;
  /**
   * Ridge penalty of learned weights (`weights: "learned"`; default
   * `DEFAULT_RIDGE`, see `learned.ts`).
   */
  ridge?: number;
  /**
   * With `weights` unset: the most work, in user entries read, that
   * learning weights may take (default {@linkcode DEFAULT_MAX_LEARN_WORK});
   * past it the history fields keep their counted `"llr-idf"` weights. The
   * work grows with the square of the log's size.
   */
  maxLearnWork?: number;
  /** Where the events came from, recorded in the manifest. */
  source?: ModelManifest["source"];
  /**
   * Leave out users with fewer distinct interactions, all event types
   * together (the UR's `minEventsPerUser`; see `min_events.ts`).
   */
  minEventsPerUser?: number;
  /**
   * Rankings written into each document's metadata (popular, trending,
   * hot; see `rankings.ts`), for backfill and ties (`rankBy`).
   */
  rankings?: readonly RankingSpec[];
  /**
   * Worker threads scoring co-occurrences. Default: one per core, for
   * builds large enough to pay for them; a number: that many, whatever the
   * size (0: this thread only). The result is the same.
   */
  workers?: number;
  /** Called as each field's rows are computed. */
  onProgress?: (progress: BuildProgress) => void;
}

/** Progress of a build: one indicator field's rows. */
export type BuildProgress = FieldProgress;

/** Builds smaller than this (co-occurrence counts) stay on one thread. */
const WORKER_MIN_COOCCURRENCES = 2_000_000;

/**
 * The default memory budget: half the machine's memory, or 4 GiB when it
 * cannot be read (no `--allow-sys`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultMemoryBudget } from "./build.ts";
 *
 * assert.ok(defaultMemoryBudget() >= 2 ** 28);
 * ```
 *
 * @returns Bytes.
 */
export function defaultMemoryBudget(): number {
  try {
    const granted = Deno.permissions.querySync({
      name: "sys",
      kind: "systemMemoryInfo",
    }).state === "granted";
    if (granted) return Math.floor(Deno.systemMemoryInfo().total / 2);
  } catch {
    // not available
  }
  return 4 * 2 ** 30;
}

/**
 * Indicators of every item as CSR rows: row A lists indicator item indexes
 * (strongest first) and their root LLR scores.
 */
export interface IndicatorMatrix {
  /** Row offsets, length items + 1. */
  readonly ptr: Uint32Array;
  /** Indicator item indexes. */
  readonly items: Int32Array;
  /** Root LLR of each indicator. */
  readonly scores: Float64Array;
  /** Co-occurring pairs that were scored (before threshold and top-k). */
  readonly pairsScored: number;
  /**
   * Co-occurrence counts accumulated: Σ over users of |row items| ×
   * |column items|, the work that drives the cost (bounded by the history cap).
   */
  readonly coOccurrences: number;
}

/**
 * Computes the indicator matrix of `primary` × `other` (both users × items
 * over the same dictionaries). Pass the same matrix twice for P'P.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossOccurrence } from "./build.ts";
 * import { SparseBinaryMatrix } from "./sparse.ts";
 *
 * // 3 users × 2 items; users 0 and 1 bought both items.
 * const p = SparseBinaryMatrix.fromRows([[0, 1], [0, 1], []], 2);
 * const m = crossOccurrence(p, p, { minRootLlr: 0 });
 * assert.deepEqual(Array.from(m.items.subarray(m.ptr[0], m.ptr[1])), [1]);
 * ```
 *
 * @param primary Users × items of the primary event type.
 * @param other Users × items of the other (or same) event type.
 * @param options Threshold, top-k, and tie ranks (by item id) for ordering.
 * @returns The indicator rows, one per item.
 */
export function crossOccurrence(
  primary: SparseBinaryMatrix,
  other: SparseBinaryMatrix,
  options: IndicatorOptions & { tieRanks?: Int32Array } = {},
): IndicatorMatrix {
  const { maxIndicatorsPerItem: k, minRootLlr } = resolveIndicatorOptions(
    options,
  );
  if (primary.rows !== other.rows || primary.cols !== other.cols) {
    throw new RangeError("crossOccurrence: matrices must share dictionaries");
  }
  const numItems = primary.cols;
  const tieRanks = options.tieRanks ?? Int32Array.from(
    { length: numItems },
    (_, i) => i,
  );
  const rowsT = primary.transpose();
  const rows = scoreRows(
    {
      rowsPtr: rowsT.ptr,
      rowsIdx: rowsT.idx,
      a0: 0,
      otherPtr: other.ptr,
      otherIdx: other.idx,
      otherCounts: other.columnCounts(),
      tieRanks,
      xlogx: new LlrTable(primary.rows).table,
      numUsers: primary.rows,
      sameType: primary === other,
      k,
      minRootLlr,
    },
    0,
    numItems,
    new Scratch(numItems, k),
  );
  let coOccurrences = 0;
  for (let u = 0; u < primary.rows; u++) {
    coOccurrences += primary.rowLength(u) * other.rowLength(u);
  }
  return { ...rows, coOccurrences };
}

function resolveIndicatorOptions(options: IndicatorOptions, prefix = "") {
  const maxIndicatorsPerItem = options.maxIndicatorsPerItem ??
    DEFAULT_MAX_INDICATORS_PER_ITEM;
  if (options.minRootLlr !== undefined && options.significance !== undefined) {
    throw new ConfigError(
      `${prefix}significance`,
      "and minRootLlr are exclusive (one threshold)",
    );
  }
  // neither given: the default significance level
  const significance = options.significance ??
    (options.minRootLlr === undefined ? DEFAULT_SIGNIFICANCE : undefined);
  let minRootLlr = options.minRootLlr ?? DEFAULT_MIN_ROOT_LLR;
  if (significance !== undefined) {
    try {
      minRootLlr = rootLlrThreshold(significance);
    } catch (error) {
      throw new ConfigError(
        `${prefix}significance`,
        messageOf(error).replace(/^significance /, ""),
      );
    }
  }
  if (!Number.isInteger(maxIndicatorsPerItem) || maxIndicatorsPerItem < 0) {
    throw new ConfigError(
      `${prefix}maxIndicatorsPerItem`,
      `must be a non-negative integer, got ${maxIndicatorsPerItem}`,
    );
  }
  if (typeof minRootLlr !== "number" || Number.isNaN(minRootLlr)) {
    throw new ConfigError(
      `${prefix}minRootLlr`,
      `must be a number, got ${minRootLlr}`,
    );
  }
  return { maxIndicatorsPerItem, minRootLlr, significance };
}

/**
 * The options of one field: its own settings over the top-level ones, a
 * field's threshold (root LLR or significance) replacing the top-level one.
 */
function fieldOptions(options: BuildOptions, field: string): BuildOptions {
  const own = options.fields?.[field] ?? {};
  const threshold =
    own.minRootLlr !== undefined || own.significance !== undefined
      ? { minRootLlr: own.minRootLlr, significance: own.significance }
      : { minRootLlr: options.minRootLlr, significance: options.significance };
  return { ...options, ...own, ...threshold };
}

/**
 * The root-LLR threshold options give: `minRootLlr`, else the cutoff of
 * `significance`, else the default.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveThreshold } from "./build.ts";
 *
 * assert.equal(resolveThreshold({ minRootLlr: 3 }), 3);
 * assert.equal(resolveThreshold({ significance: 0.01 }).toFixed(2), "2.58");
 * ```
 *
 * @param options Indicator options.
 * @returns The threshold on signed root LLR.
 * @throws {ConfigError} For invalid or conflicting options.
 */
export function resolveThreshold(options: IndicatorOptions): number {
  return resolveIndicatorOptions(options).minRootLlr;
}

/** Figures about one indicator field. */
export interface FieldStats {
  /** Row event type (the primary, or the similar-items type). */
  rows: string;
  /** Column event type. */
  columns: string;
  /** Co-occurring item pairs scored. */
  pairsScored: number;
  /** Co-occurrence counts accumulated (Σ over users of row × column items). */
  coOccurrences: number;
  /** Indicators kept. */
  indicatorsKept: number;
  /** Milliseconds computing this field. */
  millis: number;
  /** Passes over the row items (more than 1 when the memory budget asks). */
  passes: number;
}

/** Figures about one build, for logs and benchmarks. */
export interface BuildStats {
  /** Events read per type. */
  eventsRead: Record<string, number>;
  /** Users in the shared dictionary (N). */
  users: number;
  /** Items in the dictionary (= documents). */
  items: number;
  /** Users with at least one primary event. */
  primaryUsers: number;
  /** Distinct (user, item) primary interactions after binarizing and capping. */
  primaryInteractions: number;
  /** Co-occurring item pairs scored, all fields. */
  pairsScored: number;
  /** Indicators kept, all fields. */
  indicatorsKept: number;
  /** Per indicator field. */
  fields: Record<string, FieldStats>;
  /**
   * Milliseconds per phase; `learnedWeights`, part of `indicators`, when
   * the build learned weights.
   */
  millis: { read: number; indicators: number; learnedWeights?: number };
  /**
   * Set when learned weights were the default but their work passed
   * `maxLearnWork`: the history fields kept `"llr-idf"` weights.
   */
  learnedWeightsSkipped?: { work: number; limit: number };
}

/** Result of {@linkcode buildIndicators}. */
export interface IndicatorModel {
  /** What the model is: primary event, fields and their settings, counts. */
  manifest: ModelManifest;
  /** One document per item (items with no indicators get empty fields). */
  documents: IndicatorDocument[];
  /** Names of the indicator fields, primary first. */
  fields: string[];
  /** Build figures. */
  stats: BuildStats;
}

/**
 * Result of {@linkcode buildIndicatorsLazily}: a model whose documents are
 * made one at a time when iterated, from typed indicator rows (in memory,
 * or in temporary files when the memory budget asked for it).
 */
export interface LazyIndicatorModel {
  /** What the model is: primary event, fields and their settings, counts. */
  manifest: ModelManifest;
  /**
   * One document per item, in item order, made as they are iterated; may be
   * iterated more than once (until {@linkcode LazyIndicatorModel.release}).
   * Its `length` is the number of documents.
   */
  documents: Iterable<IndicatorDocument> & { readonly length: number };
  /** Names of the indicator fields, primary first. */
  fields: string[];
  /** Build figures. */
  stats: BuildStats;
  /**
   * The index of an item id among the documents (`undefined` when the build
   * has no such item): the documents come in this order.
   */
  itemIndex(id: string): number | undefined;
  /** Removes temporary files; the documents cannot be iterated after. */
  release(): void;
}

/**
 * Reads events and computes every indicator field for every item seen in
 * any event: `indicators` (primary × primary), `indicators_<S>` for each
 * secondary type S (primary × S), and `similar_<S>` (S × S) for the most
 * common secondary type; and the model's manifest. The documents are one
 * array (see {@linkcode buildIndicatorsLazily} for a build whose documents
 * stream).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildIndicators } from "./build.ts";
 *
 * const { fields, stats, manifest } = await buildIndicators([
 *   { user: "u1", item: "a", event: "transaction", timestamp: 0 },
 *   { user: "u1", item: "b", event: "view", timestamp: 1 },
 * ], { primaryEvent: "transaction" });
 * assert.deepEqual(fields, ["indicators", "indicators_view", "similar_view"]);
 * assert.equal(stats.users, 1);
 * assert.equal(manifest.primaryEvent, "transaction");
 * assert.deepEqual(manifest.counts.events, { transaction: 1, view: 1 });
 * ```
 *
 * @param events Events, arrays of events or column batches, e.g. from
 * `readEventColumns` (fastest) or {@linkcode readEvents}.
 * @param options The primary event (required), secondary types, history
 * cap, thresholds and top-k, memory budget.
 * @returns Manifest, documents, field names and statistics.
 * @throws {ConfigError} When no event was read, a named event type has
 * none, or an option is invalid.
 */
export async function buildIndicators(
  events: EventStream,
  options: BuildOptions,
): Promise<IndicatorModel> {
  const model = await buildIndicatorsLazily(events, options);
  try {
    return {
      manifest: model.manifest,
      documents: Array.from(model.documents),
      fields: model.fields,
      stats: model.stats,
    };
  } finally {
    model.release();
  }
}

/**
 * Like {@linkcode buildIndicators}, but the documents are made when
 * iterated, one at a time, from the typed indicator rows: what an export
 * or the bulk indexer pulls without holding every document at once.
 * Co-occurrences are counted in workers when that pays, and in
 * item-partitioned passes when the memory budget asks; every path gives
 * the same model. Call `release()` when done (it removes temporary files).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildIndicatorsLazily } from "./build.ts";
 *
 * const model = await buildIndicatorsLazily([
 *   { user: "u1", item: "a", event: "buy", timestamp: 0 },
 *   { user: "u1", item: "b", event: "buy", timestamp: 1 },
 * ], { primaryEvent: "buy", minRootLlr: 0, weights: "none" });
 * assert.equal(model.documents.length, 2);
 * const [a] = model.documents;
 * assert.deepEqual(a.indicators, ["b"]);
 * model.release();
 * ```
 *
 * @param events Events, arrays of events or column batches.
 * @param options Build options.
 * @returns The model, its documents lazy.
 * @throws {ConfigError} When no event was read, a named event type has
 * none, or an option is invalid.
 */
export async function buildIndicatorsLazily(
  events: EventStream,
  options: BuildOptions,
): Promise<LazyIndicatorModel> {
  checkBuildOptions(options);
  const t0 = performance.now();
  const builder = new InteractionsBuilder({
    ...options,
    memoryBudget: memoryBudgetOf(options),
  });
  // rankings count every event as the builder records it (objects or
  // column batches, spilled or not), by the builder's item indexes
  const rankings = options.rankings?.length
    ? new RankingsAccumulator(
      options.rankings,
      options.primaryEvent,
      builder.items,
    )
    : undefined;
  if (rankings) builder.observe(rankings);
  await builder.addAll(events);
  // users under the minimum leave after capping, whichever path built the
  // matrices (compacted in place: no second copy)
  const interactions = withMinEventsPerUser(
    builder.build({ shared: workersWanted(options) > 0 }),
    options.minEventsPerUser,
    { inPlace: true },
  );
  const t1 = performance.now();
  const computed = await computeFields(
    interactions,
    options,
    true,
    rankings?.byteLength ?? 0,
  );
  const t2 = performance.now();
  return assemble(interactions, options, computed, t2 - t1, t1 - t0, rankings);
}

function workersWanted(options: BuildOptions): number {
  const n = options.workers ?? navigator.hardwareConcurrency ?? 1;
  if (!Number.isInteger(n) || n < 0) {
    throw new ConfigError("workers", `must be an integer >= 0, got ${n}`);
  }
  return Math.min(n, 16);
}

function memoryBudgetOf(options: BuildOptions): number {
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  if (!(budget > 0)) {
    throw new ConfigError("memoryBudget", `must be > 0 bytes, got ${budget}`);
  }
  return budget;
}

function interactionBytes(interactions: Interactions): number {
  let n = interactions.items.byteLength + 8 * interactions.items.size;
  for (const t of interactions.eventTypes) {
    n += interactions.matrix(t)!.byteLength;
  }
  return n;
}

interface Computed {
  specs: FieldSpec[];
  results: FieldResult[];
  primary: SparseBinaryMatrix;
  /** The ridge penalty, when the history fields' weights were learned. */
  ridge?: number;
  /** Milliseconds learning them. */
  learnMillis?: number;
  /** Learning was the default but too much work (see `maxLearnWork`). */
  learnSkipped?: { work: number; limit: number };
  tempDir?: string;
}

/**
 * The default of {@linkcode BuildOptions.maxLearnWork}: 2·10^8 user
 * entries, about five times what the generated RetailRocket-shaped log
 * (2.76M events) needs (3.8·10^7, 30 s on a loaded 2-core machine) and
 * sixteen times MovieLens-100k's; the ×40 log needs 1.2·10^10 (days at
 * the 40–50 items/s measured).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_MAX_LEARN_WORK } from "./build.ts";
 *
 * assert.equal(DEFAULT_MAX_LEARN_WORK, 2e8);
 * ```
 */
export const DEFAULT_MAX_LEARN_WORK = 2e8;

// learned weights start from the counted default's indicators (kept, with
// its weights, on the similar_ fields)
function countedWeighting(options: BuildOptions): Weighting {
  const weighting = options.weights ?? DEFAULT_WEIGHTING;
  return weighting === "learned" ? "llr-idf" : weighting;
}

// whether a field's weights are learned: a history field (rows of the
// primary event) of a learned build
function isLearned(options: BuildOptions, spec: FieldSpec): boolean {
  return (options.weights ?? DEFAULT_WEIGHTING) === "learned" &&
    spec.rows === options.primaryEvent;
}

// learned weights: every history field's counted rows become learned rows
// (in this thread, while the interactions are held)
function learnFields(
  interactions: Interactions,
  options: BuildOptions,
  computed: Computed,
  compute: ComputeOptions,
): Computed {
  if ((options.weights ?? DEFAULT_WEIGHTING) !== "learned") return computed;
  const history = computed.specs.flatMap((spec, i) =>
    isLearned(options, spec) ? [i] : []
  );
  const fields = history.map((i): HistoryField => ({
    result: computed.results[i],
    columns: computed.specs[i].columns,
  }));
  if (options.weights === undefined) {
    const limit = options.maxLearnWork ?? DEFAULT_MAX_LEARN_WORK;
    const work = learnWork(interactions, fields);
    if (work > limit) {
      computed.learnSkipped = { work, limit };
      return computed;
    }
  }
  // held meanwhile: the column types as item → users lists, the counted
  // rows (read as the learned ones are written)
  const types = new Set(history.map((i) => computed.specs[i].columns));
  types.add(options.primaryEvent);
  let held = 0;
  for (const type of types) {
    const m = interactions.matrix(type)!;
    held += 4 * m.nnz + 4 * (m.cols + 1);
  }
  for (const r of computed.results) held += r.store.byteLength;
  const ridge = options.ridge ?? DEFAULT_RIDGE;
  const t0 = performance.now();
  const learned = learnFieldRows(
    interactions,
    options.primaryEvent,
    fields,
    ridge,
    () => new RowStore(storeBytesOf(compute, held), compute.tempDir),
    options.onProgress,
  );
  history.forEach((i, j) => computed.results[i] = learned[j]);
  computed.ridge = ridge;
  computed.learnMillis = performance.now() - t0;
  return computed;
}

// overloads: the sync path (no workers) for indicatorDocuments
// (heldBytes: what else stays held, e.g. the rankings' counts)
function computeFields(
  interactions: Interactions,
  options: BuildOptions,
  allowWorkers: true,
  heldBytes?: number,
): Promise<Computed>;
function computeFields(
  interactions: Interactions,
  options: BuildOptions,
  allowWorkers: false,
  heldBytes?: number,
): Computed;
function computeFields(
  interactions: Interactions,
  options: BuildOptions,
  allowWorkers: boolean,
  heldBytes = 0,
): Computed | Promise<Computed> {
  const specs = indicatorFields(interactions.eventsRead, options);
  const computed: Computed = {
    specs,
    results: [],
    primary: interactions.matrix(specs[0].rows)!,
  };
  const jobs: FieldJob[] = specs.map((spec) => {
    const rows = interactions.matrix(spec.rows)!;
    const resolved = resolveIndicatorOptions(fieldOptions(options, spec.field));
    return {
      field: spec.field,
      rows,
      columns: spec.rows === spec.columns
        ? rows
        : interactions.matrix(spec.columns)!,
      sameType: spec.rows === spec.columns,
      k: resolved.maxIndicatorsPerItem,
      minRootLlr: resolved.minRootLlr,
    };
  });
  let work = 0;
  for (const job of jobs) {
    for (let u = 0; u < job.rows.rows; u++) {
      work += job.rows.rowLength(u) * job.columns.rowLength(u);
    }
  }
  const workers = !allowWorkers
    ? 0
    : options.workers !== undefined
    ? workersWanted(options)
    : work >= WORKER_MIN_COOCCURRENCES
    ? workersWanted(options)
    : 0;
  const compute: ComputeOptions = {
    memoryBudget: memoryBudgetOf(options),
    fixedBytes: interactionBytes(interactions) +
      8 * (interactions.users.size + 1) + heldBytes,
    workers,
    // learned weights are fitted on the counted default's indicators
    weighting: countedWeighting(options),
    tempDir: () =>
      computed.tempDir ??= Deno.makeTempDirSync({
        prefix: "cco-build-",
        ...(options.tempDir ? { dir: options.tempDir } : {}),
      }),
    onProgress: options.onProgress,
  };
  const outputBytes = () =>
    computed.results.reduce((n, r) => n + r.store.byteLength, 0);
  const pool = workers > 0 ? WorkerPool.start(workers) : undefined;
  if (!pool) {
    const llr = new LlrTable(interactions.users.size);
    const tieRanks = interactions.itemRanks();
    for (const job of jobs) {
      computed.results.push(
        computeFieldSync(job, llr, tieRanks, compute, outputBytes()),
      );
    }
    learnFields(interactions, options, computed, compute);
    return allowWorkers ? Promise.resolve(computed) : computed;
  }
  return (async () => {
    try {
      const llr = new LlrTable(interactions.users.size, { shared: true });
      const ranks = interactions.itemRanks();
      const tieRanks = new Int32Array(new SharedArrayBuffer(ranks.byteLength));
      tieRanks.set(ranks);
      for (const job of jobs) {
        computed.results.push(
          await computeField(
            {
              ...job,
              rows: job.rows.toShared(),
              columns: job.columns.toShared(),
            },
            llr,
            tieRanks,
            compute,
            outputBytes(),
            pool,
          ),
        );
      }
    } finally {
      pool.terminate();
    }
    return learnFields(interactions, options, computed, compute);
  })();
}

function assemble(
  interactions: Interactions,
  options: BuildOptions,
  computed: Computed,
  indicatorsMillis: number,
  readMillis: number,
  rankings?: RankingsAccumulator,
): LazyIndicatorModel {
  const { specs, results, primary } = computed;
  const fields = specs.map((s) => s.field);
  const stats: Record<string, FieldStats> = {};
  specs.forEach((spec, i) => {
    const r = results[i];
    stats[spec.field] = {
      rows: spec.rows,
      columns: spec.columns,
      pairsScored: r.pairsScored,
      coOccurrences: r.coOccurrences,
      indicatorsKept: r.kept,
      millis: r.millis,
      passes: r.passes,
    };
  });
  const all = Object.values(stats);
  const items = interactions.items;
  // a ranking named popularity replaces the build's own
  const rankingValues = rankings?.valuesByIndex(interactions);
  const documents = new LazyDocuments(
    items,
    results,
    countedWeighting(options),
    [["popularity", primary.columnCounts()], ...rankingValues ?? []],
  );
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    tool: { name: "cco-es", version: TOOL_VERSION, engine: "deno" },
    created: new Date().toISOString(),
    primaryEvent: options.primaryEvent,
    fields: specs.map((spec): FieldManifest => {
      const f = stats[spec.field];
      const resolved = resolveIndicatorOptions(
        fieldOptions(options, spec.field),
      );
      const learned = isLearned(options, spec) && !computed.learnSkipped;
      return {
        name: spec.field,
        rows: f.rows,
        columns: f.columns,
        weights: learned ? "learned" : countedWeighting(options),
        minRootLlr: resolved.minRootLlr,
        ...(resolved.significance !== undefined
          ? { significance: resolved.significance }
          : {}),
        ...(learned ? { ridge: computed.ridge } : {}),
        maxIndicatorsPerItem: resolved.maxIndicatorsPerItem,
        indicators: f.indicatorsKept,
      };
    }),
    maxHistoryPerUser: options.maxHistoryPerUser ??
      DEFAULT_MAX_HISTORY_PER_USER,
    ...(options.minEventsPerUser !== undefined
      ? { minEventsPerUser: options.minEventsPerUser }
      : {}),
    counts: {
      events: { ...interactions.eventsRead },
      users: interactions.users.size,
      items: items.size,
      documents: documents.length,
    },
    ...(options.source ? { source: options.source } : {}),
    metadata: { popularity: "number" },
  };
  if (rankings) {
    for (const name of rankingValues!.keys()) {
      manifest.metadata[name] = "number";
    }
    manifest.rankings = rankings.manifest();
  }
  const tempDir = computed.tempDir;
  return {
    manifest,
    documents,
    fields,
    stats: {
      eventsRead: { ...interactions.eventsRead },
      users: interactions.users.size,
      items: items.size,
      primaryUsers: countNonEmptyRows(primary),
      primaryInteractions: primary.nnz,
      pairsScored: all.reduce((n, f) => n + f.pairsScored, 0),
      indicatorsKept: all.reduce((n, f) => n + f.indicatorsKept, 0),
      fields: stats,
      millis: {
        read: readMillis,
        indicators: indicatorsMillis,
        ...(computed.learnMillis !== undefined
          ? { learnedWeights: computed.learnMillis }
          : {}),
      },
      ...(computed.learnSkipped
        ? { learnedWeightsSkipped: computed.learnSkipped }
        : {}),
    },
    itemIndex: (id) => items.indexOf(id),
    release() {
      documents.release();
      if (tempDir) {
        try {
          Deno.removeSync(tempDir, { recursive: true });
        } catch {
          // already gone
        }
      }
    },
  };
}

/**
 * Checks build options before any event is read, with one-line errors
 * naming the option.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkBuildOptions } from "./build.ts";
 *
 * checkBuildOptions({ primaryEvent: "buy", maxIndicatorsPerItem: 10 });
 * assert.throws(
 *   () => checkBuildOptions({ primaryEvent: "buy", maxIndicatorsPerItem: -1 }),
 *   /maxIndicatorsPerItem must be a non-negative integer, got -1/,
 * );
 * ```
 *
 * @param options Build options.
 * @throws {ConfigError} For an invalid option.
 */
export function checkBuildOptions(options: BuildOptions): void {
  if (
    typeof options.primaryEvent !== "string" ||
    !EVENT_TYPE_NAME.test(options.primaryEvent)
  ) {
    throw new ConfigError(
      "primaryEvent",
      `must be an event type name (letters, digits, _ or -), got ${
        JSON.stringify(options.primaryEvent)
      }`,
    );
  }
  for (const t of [...options.secondaryEvents ?? [], options.similarEvent]) {
    if (t !== undefined && t !== null && !EVENT_TYPE_NAME.test(t)) {
      throw new ConfigError(
        "",
        `event type "${t}" cannot name an index field (use letters, digits, _ or -)`,
      );
    }
  }
  resolveIndicatorOptions(options);
  for (const field of Object.keys(options.fields ?? {})) {
    resolveIndicatorOptions(fieldOptions(options, field), `fields.${field}.`);
  }
  const weighting = options.weights ?? DEFAULT_WEIGHTING;
  if (!isWeighting(weighting)) {
    throw new ConfigError(
      "weights",
      `must be one of ${WEIGHTINGS.join(", ")}, got "${weighting}"`,
    );
  }
  if (options.ridge !== undefined) checkRidge(options.ridge);
  new InteractionsBuilder(options); // checks the history cap
  checkMinEventsPerUser(options.minEventsPerUser);
  if (options.rankings) checkRankings(options.rankings);
}

/** One indicator field to compute. */
export interface FieldSpec {
  /** Field name. */
  field: string;
  /** Row event type. */
  rows: string;
  /** Column event type. */
  columns: string;
}

/**
 * The fields a build computes, from the event types present and the options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorFields } from "./build.ts";
 *
 * assert.deepEqual(
 *   indicatorFields({ transaction: 3, view: 90, addtocart: 8 }, { primaryEvent: "transaction" }),
 *   [
 *     { field: "indicators", rows: "transaction", columns: "transaction" },
 *     { field: "indicators_addtocart", rows: "transaction", columns: "addtocart" },
 *     { field: "indicators_view", rows: "transaction", columns: "view" },
 *     { field: "similar_view", rows: "view", columns: "view" },
 *   ],
 * );
 * ```
 *
 * @param eventsRead Events read per type.
 * @param options Primary, secondary and similar-items event types.
 * @returns The field specifications, primary first.
 * @throws {ConfigError} For a missing or unusable event type, or a
 * per-field option naming a field the build does not make.
 */
export function indicatorFields(
  eventsRead: Readonly<Record<string, number>>,
  options: BuildOptions,
): FieldSpec[] {
  const seen = Object.keys(eventsRead);
  if (seen.length === 0) throw new ConfigError("", "no events in the input");
  const primary = options.primaryEvent;
  const missing = (type: string, role: string) =>
    new ConfigError(
      "",
      `no "${type}" events in the input (event types seen: ${
        seen.join(", ")
      }); set the ${role} event type`,
    );
  if (!eventsRead[primary]) throw missing(primary, "primary");
  const secondaries = options.secondaryEvents ??
    seen.filter((t) => t !== primary).sort();
  for (const s of secondaries) {
    if (!eventsRead[s]) throw missing(s, "secondary");
    if (s === primary) {
      throw new ConfigError(
        "",
        `"${s}" is the primary event; it cannot be secondary too`,
      );
    }
  }
  for (const t of [primary, ...secondaries]) {
    if (!EVENT_TYPE_NAME.test(t)) {
      throw new ConfigError(
        "",
        `event type "${t}" cannot name an index field (use letters, digits, _ or -)`,
      );
    }
  }
  let similar = options.similarEvent;
  if (similar === undefined) {
    similar = [...secondaries].sort((a, b) =>
      eventsRead[b] - eventsRead[a] || (a < b ? -1 : 1)
    )[0] ?? null;
  } else if (similar !== null && !eventsRead[similar]) {
    throw missing(similar, "similar-items");
  }
  const specs: FieldSpec[] = [
    { field: PRIMARY_FIELD, rows: primary, columns: primary },
    ...secondaries.map((s) => ({
      field: crossOccurrenceField(s),
      rows: primary,
      columns: s,
    })),
  ];
  if (similar !== null) {
    specs.push({
      field: similarField(similar),
      rows: similar,
      columns: similar,
    });
  }
  const unknown = Object.keys(options.fields ?? {}).filter((f) =>
    !specs.some((s) => s.field === f)
  );
  if (unknown.length > 0) {
    throw new ConfigError(
      `fields.${unknown[0]}`,
      `is not a field of this build (fields: ${
        specs.map((s) => s.field).join(", ")
      })`,
    );
  }
  return specs;
}

/**
 * Computes the indicator documents from already-built interactions (in
 * this thread; see {@linkcode buildIndicatorsLazily} for workers and lazy
 * documents).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorDocuments } from "./build.ts";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "buy", timestamp: 0 });
 * assert.equal(indicatorDocuments(b.build(), { primaryEvent: "buy" }).documents.length, 1);
 * ```
 *
 * @param interactions Output of {@linkcode InteractionsBuilder.build}.
 * @param options Event types, thresholds and top-k.
 * @returns The documents, field names, per-field figures, and the primary
 * matrix.
 * @throws {Error} When an event type the build needs has no events.
 */
export function indicatorDocuments(
  interactions: Interactions,
  options: BuildOptions,
): {
  documents: IndicatorDocument[];
  fields: string[];
  stats: Record<string, FieldStats>;
  primary: SparseBinaryMatrix;
} {
  const computed = computeFields(interactions, options, false);
  const model = assemble(interactions, options, computed, 0, 0);
  try {
    return {
      documents: Array.from(model.documents),
      fields: model.fields,
      stats: model.stats.fields,
      primary: computed.primary,
    };
  } finally {
    model.release();
  }
}

function countNonEmptyRows(m: SparseBinaryMatrix): number {
  let n = 0;
  for (let r = 0; r < m.rows; r++) if (m.ptr[r + 1] > m.ptr[r]) n++;
  return n;
}
