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
import { TopK } from "./_top_k.ts";
import { ConfigError, messageOf } from "../errors/mod.ts";
import { rootLlrThreshold } from "./significance.ts";
import {
  DEFAULT_WEIGHTING,
  indicatorIdf,
  isWeighting,
  MIN_WEIGHTED_ROOT_LLR,
  WEIGHTINGS,
} from "./weights.ts";
import type { Weighting } from "../model/manifest.ts";
import { checkRidge, learnWeights } from "./learned.ts";

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
  /** Keep at most this many indicators per item (default 50). */
  maxIndicatorsPerItem?: number;
  /**
   * Keep only pairs with signed root LLR `>=` this (default 5). `-Infinity`
   * keeps every co-occurring pair.
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
   * Indicator strength (default `"llr-idf"`): `"llr"` and `"llr-idf"` set
   * each document's `weights`, indexed as `sparse_vector` fields and scored
   * by weight; `"none"` leaves keyword fields scored by BM25, as the
   * Universal Recommender does. See `weights.ts`.
   */
  weights?: Weighting;
  /**
   * Ridge penalty of learned weights (`weights: "learned"`; default
   * `DEFAULT_RIDGE`, see `learned.ts`).
   */
  ridge?: number;
  /** Where the events came from, recorded in the manifest. */
  source?: ModelManifest["source"];
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
  const sameType = primary === other;
  const numUsers = primary.rows;
  const numItems = primary.cols;
  const tieRanks = options.tieRanks ?? Int32Array.from(
    { length: numItems },
    (_, i) => i,
  );
  const itemUsers = primary.transpose();
  const otherCounts = other.columnCounts();
  const llr = new LlrTable(numUsers);
  const counts = new Int32Array(numItems);
  const touched = new Int32Array(numItems);
  const top = new TopK(k);
  const ptr = new Uint32Array(numItems + 1);
  let outItems = new Int32Array(1024);
  let outScores = new Float64Array(1024);
  let pairsScored = 0;
  let coOccurrences = 0;
  for (let u = 0; u < numUsers; u++) {
    coOccurrences += primary.rowLength(u) * other.rowLength(u);
  }

  for (let a = 0; a < numItems; a++) {
    const usersOfA = itemUsers.row(a);
    const rowA = usersOfA.length;
    let nTouched = 0;
    for (let i = 0; i < rowA; i++) {
      const u = usersOfA[i];
      for (let q = other.ptr[u], end = other.ptr[u + 1]; q < end; q++) {
        const b = other.idx[q];
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
    const start = ptr[a];
    if (top.size === 0) {
      ptr[a + 1] = start;
      continue;
    }
    const { keys, scores } = top.drain();
    if (start + keys.length > outItems.length) {
      const size = Math.max(outItems.length * 2, start + keys.length);
      const grownItems = new Int32Array(size);
      grownItems.set(outItems);
      outItems = grownItems;
      const grownScores = new Float64Array(size);
      grownScores.set(outScores);
      outScores = grownScores;
    }
    outItems.set(keys, start);
    outScores.set(scores, start);
    ptr[a + 1] = start + keys.length;
  }
  const nnz = ptr[numItems];
  return {
    ptr,
    items: outItems.slice(0, nnz),
    scores: outScores.slice(0, nnz),
    pairsScored,
    coOccurrences,
  };
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
  /** Milliseconds per phase. */
  millis: { read: number; indicators: number };
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
 * Reads events and computes every indicator field for every item seen in
 * any event: `indicators` (primary × primary), `indicators_<S>` for each
 * secondary type S (primary × S), and `similar_<S>` (S × S) for the most
 * common secondary type; and the model's manifest.
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
 * @param events Events or batches of events, e.g. from
 * {@linkcode readEventBatches} (fastest) or {@linkcode readEvents}.
 * @param options The primary event (required), secondary types, history
 * cap, thresholds and top-k.
 * @returns Manifest, documents, field names and statistics.
 * @throws {ConfigError} When no event was read, a named event type has
 * none, or an option is invalid.
 */
export async function buildIndicators(
  events: EventStream,
  options: BuildOptions,
): Promise<IndicatorModel> {
  checkBuildOptions(options);
  const t0 = performance.now();
  const builder = new InteractionsBuilder(options);
  await builder.addAll(events);
  const interactions = builder.build();
  const t1 = performance.now();
  const { documents, fields, stats: fieldStats, primary } = indicatorDocuments(
    interactions,
    options,
  );
  const all = Object.values(fieldStats);
  const weighting = options.weights ?? DEFAULT_WEIGHTING;
  const manifest: ModelManifest = {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    tool: { name: "cco-es", version: TOOL_VERSION, engine: "deno" },
    created: new Date().toISOString(),
    primaryEvent: options.primaryEvent,
    fields: fields.map((field): FieldManifest => {
      const f = fieldStats[field];
      const merged = fieldOptions(options, field);
      const resolved = resolveIndicatorOptions(merged);
      return {
        name: field,
        rows: f.rows,
        columns: f.columns,
        // learned: the counted base, refitted below on history fields
        weights: weighting === "learned" ? "llr-idf" : weighting,
        minRootLlr: resolved.minRootLlr,
        ...(resolved.significance !== undefined
          ? { significance: resolved.significance }
          : {}),
        maxIndicatorsPerItem: resolved.maxIndicatorsPerItem,
        indicators: f.indicatorsKept,
      };
    }),
    maxHistoryPerUser: options.maxHistoryPerUser ??
      DEFAULT_MAX_HISTORY_PER_USER,
    counts: {
      events: { ...interactions.eventsRead },
      users: interactions.users.size,
      items: interactions.items.size,
      documents: documents.length,
    },
    ...(options.source ? { source: options.source } : {}),
    metadata: { popularity: "number" },
  };
  // learned weights: refit the history fields on the interactions
  const model = weighting === "learned"
    ? learnWeights({ manifest, documents }, interactions, {
      ridge: options.ridge,
    })
    : { manifest, documents };
  for (const f of model.manifest.fields) {
    fieldStats[f.name].indicatorsKept = f.indicators;
  }
  const t2 = performance.now();
  return {
    manifest: model.manifest,
    documents: model.documents,
    fields,
    stats: {
      eventsRead: { ...interactions.eventsRead },
      users: interactions.users.size,
      items: interactions.items.size,
      primaryUsers: countNonEmptyRows(primary),
      primaryInteractions: primary.nnz,
      pairsScored: all.reduce((n, f) => n + f.pairsScored, 0),
      indicatorsKept: all.reduce((n, f) => n + f.indicatorsKept, 0),
      fields: fieldStats,
      millis: { read: t1 - t0, indicators: t2 - t1 },
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
 * Computes the indicator documents from already-built interactions.
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
  const specs = indicatorFields(interactions.eventsRead, options);
  const items = interactions.items;
  const tieRanks = items.sortRanks();
  const documents: IndicatorDocument[] = new Array(items.size);
  const scoresOf: Record<string, number[]>[] = new Array(items.size);
  const weightsOf: Record<string, number[]>[] = new Array(items.size);
  // learned weights start from the counted default (kept on similar_ fields)
  const weighting = (options.weights ?? DEFAULT_WEIGHTING) === "learned"
    ? "llr-idf"
    : options.weights ?? DEFAULT_WEIGHTING;
  for (let a = 0; a < items.size; a++) {
    documents[a] = {
      id: items.idOf(a),
      indicators: [],
    } as unknown as IndicatorDocument;
    scoresOf[a] = {};
    weightsOf[a] = {};
  }
  const stats: Record<string, FieldStats> = {};
  for (const spec of specs) {
    const t0 = performance.now();
    const rows = interactions.matrix(spec.rows)!;
    const columns = spec.rows === spec.columns
      ? rows
      : interactions.matrix(spec.columns)!;
    const m = crossOccurrence(rows, columns, {
      ...fieldOptions(options, spec.field),
      tieRanks,
    });
    // weighted: indicators need a positive weight; idf from the kept ones
    // (the same result as indicatorWeights, on item indexes: much faster)
    const keep = (q: number) =>
      weighting === "none" || m.scores[q] > MIN_WEIGHTED_ROOT_LLR;
    const df = new Int32Array(weighting === "llr-idf" ? items.size : 0);
    let docCount = 0, kept = 0;
    if (weighting === "llr-idf") {
      for (let a = 0; a < items.size; a++) {
        let any = false;
        for (let q = m.ptr[a]; q < m.ptr[a + 1]; q++) {
          if (keep(q)) df[m.items[q]]++, any = true;
        }
        if (any) docCount++;
      }
    }
    for (let a = 0; a < items.size; a++) {
      const ids: string[] = [];
      const scores: number[] = [];
      const w: number[] = [];
      for (let q = m.ptr[a]; q < m.ptr[a + 1]; q++) {
        if (!keep(q)) continue;
        kept++;
        ids.push(items.idOf(m.items[q]));
        scores.push(m.scores[q]);
        if (weighting === "llr") w.push(m.scores[q]);
        else if (weighting === "llr-idf") {
          w.push(m.scores[q] * indicatorIdf(docCount, df[m.items[q]]));
        }
      }
      const doc = documents[a] as unknown as Record<string, string[]>;
      doc[spec.field] = ids;
      scoresOf[a][spec.field] = scores;
      if (weighting !== "none") weightsOf[a][spec.field] = w;
    }
    stats[spec.field] = {
      rows: spec.rows,
      columns: spec.columns,
      pairsScored: m.pairsScored,
      coOccurrences: m.coOccurrences,
      indicatorsKept: kept,
      millis: performance.now() - t0,
    };
  }
  // scores and metadata last, so an exported document reads id, fields, ...
  const primary = interactions.matrix(specs[0].rows)!;
  const popularity = primary.columnCounts();
  for (let a = 0; a < items.size; a++) {
    documents[a].scores = scoresOf[a];
    if (weighting !== "none") documents[a].weights = weightsOf[a];
    documents[a].metadata = { popularity: popularity[a] };
  }
  return {
    documents,
    fields: specs.map((s) => s.field),
    stats,
    primary,
  };
}

function countNonEmptyRows(m: SparseBinaryMatrix): number {
  let n = 0;
  for (let r = 0; r < m.rows; r++) if (m.ptr[r + 1] > m.ptr[r]) n++;
  return n;
}
