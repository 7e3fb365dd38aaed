/**
 * Indicator strength: weights per indicator, indexed as Elasticsearch
 * `sparse_vector` fields, so that a match counts by how strong the
 * indicator is rather than just whether it is there.
 *
 * With weights, a `term` query on a `sparse_vector` field scores
 * `boost × weight` (Lucene's linear feature query), and the ranking query
 * sums that over the history items an item matches: the item-to-item score
 * of SAR-style recommenders, computed by the search engine. Without weights
 * (as in the Universal Recommender) indicators are `keyword` values scored
 * by BM25, every indicator of an item counting the same.
 *
 * Modes ({@linkcode Weighting}):
 * - `"llr-idf"` (the default, {@linkcode DEFAULT_WEIGHTING}): root LLR
 *   times BM25's idf of the indicator in its field,
 *   `ln(1 + (N - df + 0.5) / (df + 0.5))` with N the items having the field
 *   and df the items listing this indicator, so an indicator listed
 *   everywhere (a blockbuster) weighs less, as BM25 would weigh it.
 * - `"llr"`: the indicator's root LLR.
 * - `"none"`: no weights, BM25 on `keyword` fields (the Universal
 *   Recommender's scoring).
 *
 * Elasticsearch keeps 9 significant bits of each weight;
 * {@linkcode featureValue} gives the value it scores with.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorWeights } from "./weights.ts";
 * import type { IndicatorDocument } from "../model/document.ts";
 *
 * const docs: IndicatorDocument[] = [
 *   { id: "a", indicators: ["b"], scores: { indicators: [4] } },
 * ];
 * const [a] = indicatorWeights(docs, "llr");
 * assert.deepEqual(a.weights, { indicators: [4] });
 * ```
 *
 * @module
 */

import type { Model, Weighting } from "../model/manifest.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { indicatorFieldsOf } from "../model/fields.ts";

/**
 * The default {@linkcode Weighting}: clearly better than plain BM25 on
 * MovieLens-100k (nDCG@10 0.384 vs 0.308 at the same settings), as good on
 * the generated RetailRocket-shaped log (see the README's evaluation).
 */
export const DEFAULT_WEIGHTING: Weighting = "learned";

/**
 * The weightings counted from root LLR scores alone (what
 * {@linkcode indicatorWeights} and {@linkcode reweightModel} compute).
 */
export const COUNTED_WEIGHTINGS: readonly Weighting[] = [
  "llr-idf",
  "llr",
  "none",
];

/**
 * Every {@linkcode Weighting}: the counted ones and `"learned"` (fitted on
 * the interactions by `learned.ts`'s `learnWeights`).
 */
export const WEIGHTINGS: readonly Weighting[] = [
  ...COUNTED_WEIGHTINGS,
  "learned",
];

const floats = new Float32Array(1);
const bits = new Uint32Array(floats.buffer);
/** Smallest positive normal float: Lucene's smallest feature value. */
const MIN_NORMAL = 2 ** -126;
/**
 * Root LLR at or below which an indicator gets no weight: weighted builds
 * leave such indicators out (a weight must be positive).
 */
export const MIN_WEIGHTED_ROOT_LLR = 1e-9;

/**
 * BM25's idf of an indicator listed by `docFreq` of the `docCount` items
 * that have the field: `ln(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorIdf } from "./weights.ts";
 *
 * assert.equal(indicatorIdf(2, 1), Math.log(2));
 * ```
 *
 * @param docCount Items with at least one indicator in the field.
 * @param docFreq Items listing this indicator.
 * @returns The idf, always positive.
 */
export function indicatorIdf(docCount: number, docFreq: number): number {
  return Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5));
}

/**
 * The value Elasticsearch scores a `sparse_vector` weight with: Lucene's
 * `FeatureField` keeps the upper 17 bits of the 32-bit float (9
 * significant bits), truncating the rest.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { featureValue } from "./weights.ts";
 *
 * assert.equal(featureValue(0.3), 0.2998046875);
 * assert.equal(featureValue(2.5), 2.5);
 * ```
 *
 * @param weight A positive weight.
 * @returns The weight as stored in the index.
 * @throws {RangeError} Unless the weight is a finite float of at least
 * 2^-126 (what Elasticsearch accepts).
 */
export function featureValue(weight: number): number {
  floats[0] = weight;
  if (!(floats[0] >= MIN_NORMAL) || !Number.isFinite(floats[0])) {
    throw new RangeError(
      `indicator weight must be a finite number >= 2^-126, got ${weight}`,
    );
  }
  bits[0] = (bits[0] >>> 15) << 15;
  return floats[0];
}

/** A document whose indicator fields carry root LLR `scores`. */
export interface ScoredDocument {
  /** Item id. */
  id: string;
  /** Root LLR of every indicator, by field, aligned with the field's ids. */
  scores: Record<string, number[]>;
}

/**
 * Sets `weights` (aligned with each indicator field's ids) on documents
 * whose fields carry root LLR `scores`. Weights must be positive, so
 * indicators with a root LLR of zero or less (kept only when the threshold
 * allows it; in practice below 1e-9) are dropped from the fields in place. With `"none"` the
 * documents are returned unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indicatorWeights } from "./weights.ts";
 * import type { IndicatorDocument } from "../model/document.ts";
 *
 * const docs: IndicatorDocument[] = indicatorWeights([
 *   { id: "a", indicators: ["c"], scores: { indicators: [2] } },
 *   { id: "b", indicators: ["c", "d"], scores: { indicators: [3, 1] } },
 * ], "llr-idf");
 * // "c" is in both documents: idf ln(1 + 0.5 / 2.5); "d" in one: ln(1 + 1.5 / 1.5)
 * assert.deepEqual(docs[1].weights!.indicators, [3 * Math.log(1.2), Math.log(2)]);
 * ```
 *
 * @param documents Documents from {@linkcode buildIndicators}.
 * @param weighting The weighting mode.
 * @returns The same documents, with `weights` set.
 * @throws {TypeError} When a field has no scores aligned with its ids.
 */
export function indicatorWeights<
  D extends ScoredDocument & { weights?: Record<string, number[]> },
>(documents: D[], weighting: Weighting): D[] {
  if (!COUNTED_WEIGHTINGS.includes(weighting)) {
    throw new TypeError(
      `weighting must be one of ${
        COUNTED_WEIGHTINGS.join(", ")
      }, got "${weighting}"${
        weighting === "learned"
          ? " (learned weights need the interactions: learnWeights)"
          : ""
      }`,
    );
  }
  if (weighting === "none") return documents;
  // the indicator fields: those with scores (and ids) in the document
  const fieldsOf = (doc: D) => {
    const record = doc as unknown as Record<string, string[]>;
    return Object.keys(doc.scores).filter((f) => Array.isArray(record[f]));
  };
  // drop what cannot carry a positive weight; count documents per indicator
  const df = new Map<string, Map<string, number>>();
  const docCount = new Map<string, number>();
  for (const doc of documents) {
    const record = doc as unknown as Record<string, string[]>;
    for (const field of fieldsOf(doc)) {
      let ids = record[field];
      const scores = doc.scores[field];
      if (scores.length !== ids.length) {
        throw new TypeError(
          `document "${doc.id}": field "${field}" has ${ids.length} ids but ${scores.length} scores`,
        );
      }
      if (!scores.every((s) => s > MIN_WEIGHTED_ROOT_LLR)) {
        const keep = scores.map((s) => s > MIN_WEIGHTED_ROOT_LLR);
        ids = record[field] = ids.filter((_, i) => keep[i]);
        // a new scores object: documents may share theirs (shallow copies)
        doc.scores = {
          ...doc.scores,
          [field]: scores.filter((_, i) => keep[i]),
        };
      }
      if (weighting !== "llr-idf" || ids.length === 0) continue;
      docCount.set(field, (docCount.get(field) ?? 0) + 1);
      let counts = df.get(field);
      if (!counts) df.set(field, counts = new Map());
      for (const id of new Set(ids)) counts.set(id, (counts.get(id) ?? 0) + 1);
    }
  }
  for (const doc of documents) {
    const record = doc as unknown as Record<string, string[]>;
    const weights: Record<string, number[]> = {};
    for (const field of fieldsOf(doc)) {
      const scores = doc.scores[field];
      if (weighting === "llr") {
        weights[field] = scores.slice();
        continue;
      }
      const n = docCount.get(field) ?? 0;
      const counts = df.get(field);
      weights[field] = record[field].map((id, i) =>
        scores[i] * indicatorIdf(n, counts?.get(id) ?? 0)
      );
    }
    doc.weights = weights;
  }
  return documents;
}

/**
 * The same model with other indicator weights: each field's weights
 * recomputed from its root LLR scores ({@linkcode indicatorWeights}; for
 * `"none"`, removed), and the manifest's fields saying so. The input is not
 * modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { reweightModel } from "./weights.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"], scores: { indicators: [4] } }];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * const weighted = reweightModel(model, "llr");
 * assert.deepEqual(weighted.documents[0].weights, { indicators: [4] });
 * assert.equal(weighted.manifest.fields[0].weights, "llr");
 * assert.equal("weights" in model.documents[0], false); // the input is not modified
 * assert.equal(reweightModel(weighted, "none").documents[0].weights, undefined);
 * ```
 *
 * @param model A model whose documents carry `scores`.
 * @param weighting The weighting.
 * @returns A new model.
 * @throws {TypeError} When a field has no scores aligned with its ids.
 */
export function reweightModel(
  model: Model<IndicatorDocument>,
  weighting: Weighting,
): Model<IndicatorDocument> {
  const copies = model.documents.map((d) => {
    const { weights: _, ...rest } = d;
    return rest as IndicatorDocument;
  });
  const documents = indicatorWeights(copies, weighting);
  const kept = new Map<string, number>();
  for (const doc of documents) {
    for (const [field, ids] of indicatorFieldsOf(doc)) {
      kept.set(field, (kept.get(field) ?? 0) + ids.length);
    }
  }
  return {
    manifest: {
      ...model.manifest,
      fields: model.manifest.fields.map((f) => ({
        ...f,
        weights: weighting,
        indicators: kept.get(f.name) ?? 0,
      })),
    },
    documents,
  };
}

/**
 * Whether a value names a {@linkcode Weighting}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isWeighting } from "./weights.ts";
 *
 * assert.equal(isWeighting("llr-idf"), true);
 * assert.equal(isWeighting("bm25"), false);
 * ```
 *
 * @param value Any value, e.g. a flag.
 * @returns True for `"llr-idf"`, `"llr"`, `"none"` and `"learned"`.
 */
export function isWeighting(value: unknown): value is Weighting {
  return (WEIGHTINGS as readonly unknown[]).includes(value);
}
