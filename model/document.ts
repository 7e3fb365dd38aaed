/**
 * The item document, the one shape every stage shares: what a build
 * produces, what the NDJSON export holds, what Elasticsearch indexes and
 * what the embedded backend loads.
 *
 * ```json
 * {"id":"tent","indicators":["stove"],"indicators_view":["lamp","stove"],
 *  "scores":{"indicators":[6.2],"indicators_view":[5.1,4.8]},
 *  "weights":{"indicators":[3.9],"indicators_view":[2.2,1.7]},
 *  "metadata":{"popularity":12,"category":"camping"}}
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { IndicatorDocument } from "./document.ts";
 *
 * const doc: IndicatorDocument = {
 *   id: "tent",
 *   indicators: ["stove"],
 *   scores: { indicators: [6.2] },
 * };
 * assert.equal(doc.indicators[0], "stove");
 * ```
 *
 * @module
 */

/** A metadata value: what an items file may give an item. */
export type MetadataValue = string | number | boolean | string[];

/** Metadata of one item, by field. */
export type ItemMetadata = Record<string, MetadataValue>;

/**
 * The part of a document the backends index: `id`, every indicator field
 * (`indicators`, `indicators_<type>`, `similar_<type>`: item ids, strongest
 * first), their weights, and the item's metadata. Other properties, such as
 * `scores`, are not indexed.
 */
export interface IndexableDocument {
  /** Item id. */
  id: string;
  /** Primary indicators (primary × primary), strongest first. */
  indicators: readonly string[];
  /** Cross-occurrence and similarity fields, strongest first. */
  [field: `indicators_${string}` | `similar_${string}`]: readonly string[];
  /**
   * Indicator weights by field, aligned with the field's ids: a field with
   * weights is a `sparse_vector` field scored by weight; one without is a
   * BM25-scored `keyword` field.
   */
  weights?: Readonly<Record<string, readonly number[]>>;
  /**
   * Item metadata for business rules (indexed as top-level fields): a build
   * sets `popularity`; an items file adds the rest.
   */
  metadata?: ItemMetadata;
}

/**
 * One item's document as a build produces it: the indexable part plus the
 * root LLR of every indicator.
 */
export interface IndicatorDocument extends IndexableDocument {
  /** Primary indicators item ids, strongest first. */
  indicators: string[];
  /** Cross-occurrence and similarity fields, item ids strongest first. */
  [field: `indicators_${string}` | `similar_${string}`]: string[];
  /** Root LLR of every indicator, by field, aligned with the ids. */
  scores: Record<string, number[]>;
  /** Indicator weights by field, aligned with the ids (weighted builds). */
  weights?: Record<string, number[]>;
}

/**
 * Total order on ids used for every tie-break in cco-es: plain code-unit
 * string order (what Elasticsearch uses to sort a `keyword` field).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareIds } from "./document.ts";
 *
 * assert.deepEqual(["b", "a10", "a9"].sort(compareIds), ["a10", "a9", "b"]);
 * ```
 *
 * @param a First id.
 * @param b Second id.
 * @returns Negative, zero or positive.
 */
export function compareIds(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
