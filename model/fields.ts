/**
 * Indicator field naming, in one place: the primary field `indicators`
 * (primary × primary), `indicators_<S>` for each secondary event type S
 * (primary × S), and `similar_<S>` (S × S item similarity).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossOccurrenceField, isIndicatorField, PRIMARY_FIELD, similarField } from "./fields.ts";
 *
 * assert.equal(PRIMARY_FIELD, "indicators");
 * assert.equal(crossOccurrenceField("view"), "indicators_view");
 * assert.equal(similarField("view"), "similar_view");
 * assert.ok(isIndicatorField("similar_view"));
 * assert.ok(!isIndicatorField("scores"));
 * ```
 *
 * @module
 */

/** The field of primary × primary indicators (e.g. bought together). */
export const PRIMARY_FIELD = "indicators";

/** Event type names that can name a field: letters, digits, `_` and `-`. */
export const EVENT_TYPE_NAME: RegExp = /^[A-Za-z0-9_-]+$/;

const INDICATOR_FIELD =
  /^(indicators|indicators_[A-Za-z0-9_-]+|similar_[A-Za-z0-9_-]+)$/;

/**
 * The field of primary × `type` indicators.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { crossOccurrenceField } from "./fields.ts";
 *
 * assert.equal(crossOccurrenceField("addtocart"), "indicators_addtocart");
 * ```
 *
 * @param type A secondary event type.
 * @returns `indicators_<type>`.
 */
export function crossOccurrenceField(type: string): string {
  return `indicators_${type}`;
}

/**
 * The field of `type` × `type` item similarity.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { similarField } from "./fields.ts";
 *
 * assert.equal(similarField("view"), "similar_view");
 * ```
 *
 * @param type An event type.
 * @returns `similar_<type>`.
 */
export function similarField(type: string): string {
  return `similar_${type}`;
}

/**
 * Whether a document property is an indicator field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isIndicatorField } from "./fields.ts";
 *
 * assert.equal(isIndicatorField("indicators_view"), true);
 * assert.equal(isIndicatorField("metadata"), false);
 * ```
 *
 * @param name Property name.
 * @returns True for `indicators`, `indicators_<type>` and `similar_<type>`.
 */
export function isIndicatorField(name: string): boolean {
  return INDICATOR_FIELD.test(name);
}

/**
 * The indicator fields of a document with their ids, in property order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorFieldsOf } from "./fields.ts";
 *
 * assert.deepEqual(
 *   indicatorFieldsOf({ id: "a", indicators: ["b"], scores: {} }),
 *   [["indicators", ["b"]]],
 * );
 * ```
 *
 * @param doc A document.
 * @returns `[field, ids]` pairs.
 */
export function indicatorFieldsOf(
  doc: object,
): [string, readonly string[]][] {
  return Object.entries(doc).filter(([k, v]) =>
    isIndicatorField(k) && Array.isArray(v)
  ) as [string, string[]][];
}
