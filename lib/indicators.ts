/**
 * Item-to-item LLR indicators: for every item A of the primary event type
 * (what we predict, e.g. `transaction`), the items B whose interactions
 * co-occur with A's across users more than chance, scored by signed root LLR
 * ({@linkcode rootLogLikelihoodRatio}) and kept top-k above a threshold.
 *
 * Contingency table per pair, over the N users of the shared user dictionary
 * (every user with any event), with interactions binarized:
 * `k11` = users with both, `k12 = |A| - k11`, `k21 = |B| - k11`,
 * `k22 = N - k11 - k12 - k21`, where `|A|`, `|B|` are distinct-user counts
 * per item. The diagonal (A with itself) is excluded.
 *
 * Computed by sparse row accumulation (Gustavson): for each item A, walk A's
 * users and their items, counting co-occurrences into one reusable typed
 * array; then score the touched entries and select the top k with a bounded
 * heap. Memory is O(items + non-zeros), never items × items.
 *
 * @example Purchase-only indicators from a few events
 * ```ts
 * import { buildIndicators } from "./indicators.ts";
 *
 * const events = [
 *   { user: "u1", item: "tent", event: "transaction", timestamp: 1 },
 *   { user: "u1", item: "stove", event: "transaction", timestamp: 2 },
 *   { user: "u2", item: "tent", event: "transaction", timestamp: 3 },
 *   { user: "u2", item: "stove", event: "transaction", timestamp: 4 },
 *   { user: "u3", item: "novel", event: "transaction", timestamp: 5 },
 * ];
 * const { documents } = await buildIndicators(events, { minRootLlr: 0 });
 * documents.find((d) => d.id === "tent")!.indicators; // ["stove"]
 * ```
 *
 * @module
 */

import type { Event } from "./events.ts";
import {
  type InteractionOptions,
  type Interactions,
  InteractionsBuilder,
} from "./interactions.ts";
import { rootLogLikelihoodRatio } from "./llr.ts";
import type { SparseBinaryMatrix } from "./sparse.ts";
import { TopK } from "./top_k.ts";

/** Default number of indicators kept per item (Mahout's `maxInterestingItemsPerThing`). */
export const DEFAULT_MAX_INDICATORS_PER_ITEM = 50;
/**
 * Default threshold on the signed root LLR (the original tutorial's 5;
 * equivalent to a raw LLR, Mahout's and the Universal Recommender's `minLLR`,
 * of 25 for positively associated pairs).
 */
export const DEFAULT_MIN_ROOT_LLR = 5;
/** Default primary event type (RetailRocket's purchase event). */
export const DEFAULT_PRIMARY_EVENT = "transaction";

/** Options for selecting indicators. */
export interface IndicatorOptions {
  /** Keep at most this many indicators per item (default 50). */
  maxIndicatorsPerItem?: number;
  /**
   * Keep only pairs with signed root LLR `>=` this (default 5). `-Infinity`
   * keeps every co-occurring pair.
   */
  minRootLlr?: number;
}

/** Options for {@linkcode buildIndicators}. */
export interface BuildOptions extends IndicatorOptions, InteractionOptions {
  /** Event type to predict (default `"transaction"`). */
  primaryEvent?: string;
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
}

/**
 * Computes the indicator matrix of `primary` × `other` (both users × items
 * over the same dictionaries). Pass the same matrix twice for P'P.
 *
 * @example
 * ```ts
 * import { crossOccurrence } from "./indicators.ts";
 * import { SparseBinaryMatrix } from "./sparse.ts";
 *
 * // 3 users × 2 items; users 0 and 1 bought both items.
 * const p = SparseBinaryMatrix.fromRows([[0, 1], [0, 1], []], 2);
 * const m = crossOccurrence(p, p, { minRootLlr: 0 });
 * Array.from(m.items.subarray(m.ptr[0], m.ptr[1])); // [1]
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
  const counts = new Int32Array(numItems);
  const touched = new Int32Array(numItems);
  const top = new TopK(k);
  const ptr = new Uint32Array(numItems + 1);
  let outItems = new Int32Array(1024);
  let outScores = new Float64Array(1024);
  let pairsScored = 0;

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
      const score = rootLogLikelihoodRatio(
        k11,
        rowA - k11,
        colB - k11,
        numUsers - rowA - colB + k11,
      );
      if (score >= minRootLlr) top.offer(score, b, tieRanks[b]);
    }
    const { keys, scores } = top.drain();
    const start = ptr[a];
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
  };
}

function resolveIndicatorOptions(options: IndicatorOptions) {
  const maxIndicatorsPerItem = options.maxIndicatorsPerItem ??
    DEFAULT_MAX_INDICATORS_PER_ITEM;
  const minRootLlr = options.minRootLlr ?? DEFAULT_MIN_ROOT_LLR;
  if (!Number.isInteger(maxIndicatorsPerItem) || maxIndicatorsPerItem < 0) {
    throw new RangeError(
      `maxIndicatorsPerItem must be a non-negative integer, got ${maxIndicatorsPerItem}`,
    );
  }
  if (typeof minRootLlr !== "number" || Number.isNaN(minRootLlr)) {
    throw new RangeError(`minRootLlr must be a number, got ${minRootLlr}`);
  }
  return { maxIndicatorsPerItem, minRootLlr };
}

/**
 * One item's document: what gets indexed into Elasticsearch (`id` and
 * `indicators`) and loaded into the embedded backend.
 */
export interface IndicatorDocument {
  /** Item id. */
  id: string;
  /** Indicator item ids, strongest first. */
  indicators: string[];
  /** Root LLR of each indicator, aligned with `indicators`. */
  scores: number[];
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
  /** Co-occurring item pairs scored. */
  pairsScored: number;
  /** Indicators kept over all items. */
  indicatorsKept: number;
  /** Milliseconds per phase. */
  millis: { read: number; indicators: number };
}

/** Result of {@linkcode buildIndicators}. */
export interface IndicatorModel {
  /** One document per item (items with no indicators get an empty list). */
  documents: IndicatorDocument[];
  /** Build figures. */
  stats: BuildStats;
}

/**
 * Reads events and computes purchase-only (primary × primary) indicators for
 * every item. Every item seen in any event gets a document.
 *
 * @example
 * ```ts
 * import { buildIndicators } from "./indicators.ts";
 *
 * const { stats } = await buildIndicators([
 *   { user: "u1", item: "a", event: "transaction", timestamp: 0 },
 * ]);
 * stats.users; // 1
 * ```
 *
 * @param events Events, e.g. from {@linkcode readEvents}.
 * @param options Primary event type, history cap, threshold and top-k.
 * @returns Documents and statistics.
 * @throws {Error} When no event of the primary type was read.
 */
export async function buildIndicators(
  events: AsyncIterable<Event> | Iterable<Event>,
  options: BuildOptions = {},
): Promise<IndicatorModel> {
  resolveIndicatorOptions(options);
  const t0 = performance.now();
  const builder = new InteractionsBuilder(options);
  await builder.addAll(events);
  const interactions = builder.build();
  const t1 = performance.now();
  const { documents, pairsScored, primary } = indicatorDocuments(
    interactions,
    options,
  );
  const t2 = performance.now();
  return {
    documents,
    stats: {
      eventsRead: { ...interactions.eventsRead },
      users: interactions.users.size,
      items: interactions.items.size,
      primaryUsers: countNonEmptyRows(primary),
      primaryInteractions: primary.nnz,
      pairsScored,
      indicatorsKept: documents.reduce((n, d) => n + d.indicators.length, 0),
      millis: { read: t1 - t0, indicators: t2 - t1 },
    },
  };
}

/**
 * Computes purchase-only indicator documents from already-built interactions.
 *
 * @example
 * ```ts
 * import { indicatorDocuments } from "./indicators.ts";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "buy", timestamp: 0 });
 * indicatorDocuments(b.build(), { primaryEvent: "buy" }).documents.length; // 1
 * ```
 *
 * @param interactions Output of {@linkcode InteractionsBuilder.build}.
 * @param options Primary event type, threshold and top-k.
 * @returns The documents, the pairs scored, and the primary matrix.
 * @throws {Error} When no event of the primary type was read.
 */
export function indicatorDocuments(
  interactions: Interactions,
  options: BuildOptions = {},
): {
  documents: IndicatorDocument[];
  pairsScored: number;
  primary: SparseBinaryMatrix;
} {
  const primaryEvent = options.primaryEvent ?? DEFAULT_PRIMARY_EVENT;
  const primary = interactions.matrix(primaryEvent);
  if (!primary) {
    const seen = interactions.eventTypes.join(", ") || "none";
    throw new Error(
      `no "${primaryEvent}" events in the input (event types seen: ${seen}); set the primary event type`,
    );
  }
  const items = interactions.items;
  const m = crossOccurrence(primary, primary, {
    ...options,
    tieRanks: items.sortRanks(),
  });
  const documents: IndicatorDocument[] = new Array(items.size);
  for (let a = 0; a < items.size; a++) {
    const ids: string[] = [];
    const scores: number[] = [];
    for (let q = m.ptr[a]; q < m.ptr[a + 1]; q++) {
      ids.push(items.idOf(m.items[q]));
      scores.push(m.scores[q]);
    }
    documents[a] = { id: items.idOf(a), indicators: ids, scores };
  }
  return { documents, pairsScored: m.pairsScored, primary };
}

function countNonEmptyRows(m: SparseBinaryMatrix): number {
  let n = 0;
  for (let r = 0; r < m.rows; r++) if (m.ptr[r + 1] > m.ptr[r]) n++;
  return n;
}
