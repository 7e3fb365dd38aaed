/**
 * The embedded backend: an in-process inverted index over indicator
 * documents that answers {@linkcode Recommender} requests with the same
 * ranking and scores Elasticsearch gives for the same documents and query
 * (BM25 on a `keyword` field, or the indicator's weight on a `sparse_vector`
 * field, summed over matched history items; ties by id).
 * No server needed: used by `deno task demo`, by `recommend` when no
 * `ES_URL` is set, and by offline evaluation.
 *
 * @example
 * ```ts
 * import { EmbeddedRecommender } from "./recommender.ts";
 *
 * const recommender = new EmbeddedRecommender([
 *   { id: "tent", indicators: ["stove", "lamp"] },
 *   { id: "stove", indicators: ["tent"] },
 *   { id: "lamp", indicators: ["tent"] },
 * ]);
 * const recs = await recommender.recommend({ history: ["tent"] });
 * recs.map((r) => r.id); // ["lamp", "stove"] (equal scores: by id)
 * ```
 *
 * @module
 */

import { keywordTermScore } from "./bm25.ts";
import { applyDither } from "../serving/dither.ts";
import type { ItemMetadata, MetadataValue } from "../model/items.ts";
import {
  type Filter,
  normalizeRequest,
  type Recommendation,
  type Recommender,
  type RecommendRequest,
  type RequestOptions,
} from "../serving/request.ts";
import { compareIds } from "../indicators/sparse.ts";
import { featureValue } from "../indicators/weights.ts";

/**
 * The part of a document the backends index: `id` and every indicator field
 * (`indicators`, `indicators_<type>`, `similar_<type>`: arrays of item ids).
 * Other properties, such as `scores`, are not indexed.
 */
export interface IndexableDocument {
  /** Item id. */
  id: string;
  /** Primary indicator item ids (the `indicators` keyword field). */
  indicators: readonly string[];
  /** Cross-occurrence and similarity fields. */
  [field: `indicators_${string}` | `similar_${string}`]: readonly string[];
  /**
   * Indicator weights by field, aligned with the field's ids: a field with
   * weights is a `sparse_vector` field, scored by weight (see
   * `indicatorWeights` in `weights.ts`); one without is a BM25-scored `keyword`
   * field.
   */
  weights?: Readonly<Record<string, readonly number[]>>;
}

const INDICATOR_FIELD =
  /^(indicators|indicators_[A-Za-z0-9_-]+|similar_[A-Za-z0-9_-]+)$/;

/**
 * Whether a document property is an indicator field (indexed as `keyword`).
 *
 * @example
 * ```ts
 * import { isIndicatorField } from "./recommender.ts";
 *
 * isIndicatorField("indicators_view"); // true
 * isIndicatorField("scores"); // false
 * ```
 *
 * @param name Property name.
 * @returns True for `indicators`, `indicators_<type>` and `similar_<type>`.
 */
export function isIndicatorField(name: string): boolean {
  return INDICATOR_FIELD.test(name);
}

/**
 * The indicator fields of a document with their values.
 *
 * @example
 * ```ts
 * import { indicatorFieldsOf } from "./recommender.ts";
 *
 * indicatorFieldsOf({ id: "a", indicators: ["b"] });
 * // [["indicators", ["b"]]]
 * ```
 *
 * @param doc A document.
 * @returns `[field, ids]` pairs.
 */
export function indicatorFieldsOf(
  doc: IndexableDocument,
): [string, readonly string[]][] {
  return Object.entries(doc).filter((
    [k, v],
  ) => isIndicatorField(k) && Array.isArray(v)) as [string, string[]][];
}

/** Postings and BM25 statistics of one indicator field. */
interface FieldIndex {
  postings: Map<string, number[]>;
  /** Whether the field is weighted (unknown until a document has values). */
  weighted?: boolean;
  /** Weighted fields: the stored weight of each posting. */
  weights?: Map<string, number[]>;
  docCount: number;
  sumDocFreq: number;
}

/**
 * In-memory recommender over indicator documents.
 *
 * @example
 * ```ts
 * import { EmbeddedRecommender } from "./recommender.ts";
 *
 * const r = new EmbeddedRecommender([{ id: "a", indicators: ["b"] }]);
 * r.size; // 1
 * ```
 */
export class EmbeddedRecommender implements Recommender {
  #ids: string[] = [];
  #metadata: (ItemMetadata | undefined)[] = [];
  #fields = new Map<string, FieldIndex>();
  #options: RequestOptions;
  // documents by popularity (desc, missing last), then id: the backfill order
  #byPopularity?: Int32Array;

  /**
   * Indexes the documents. A later document with an id already seen
   * replaces the earlier one, as indexing into Elasticsearch would.
   *
   * @param documents Indicator documents (with optional `metadata`).
   * @param options The primary event type (default `transaction`) and the
   * history items used per event type (`maxQueryEvents`, default 100).
   */
  constructor(
    documents: Iterable<IndexableDocument & { metadata?: ItemMetadata }>,
    options: RequestOptions = {},
  ) {
    this.#options = { ...options };
    const byId = new Map<
      string,
      IndexableDocument & { metadata?: ItemMetadata }
    >();
    for (const doc of documents) byId.set(doc.id, doc);
    for (const [id, doc] of byId) {
      const d = this.#ids.length;
      this.#ids.push(id);
      this.#metadata.push(doc.metadata);
      for (const [field, values] of indicatorFieldsOf(doc)) {
        const weights = doc.weights?.[field];
        let index = this.#fields.get(field);
        if (!index) {
          index = { postings: new Map(), docCount: 0, sumDocFreq: 0 };
          this.#fields.set(field, index);
        }
        // the first document with values decides the field's type
        if (values.length > 0) {
          index.weighted ??= weights !== undefined;
          if (index.weighted !== (weights !== undefined)) {
            throw new TypeError(
              `document "${id}": field "${field}" is ${
                index.weighted ? "weighted" : "unweighted"
              } in other documents but not in this one`,
            );
          }
        }
        if (weights && index.weighted) {
          index.weights ??= new Map();
          if (weights.length !== values.length) {
            throw new TypeError(
              `document "${id}": field "${field}" has ${values.length} ids but ${weights.length} weights`,
            );
          }
          // a sparse_vector keeps one weight per feature: the last one sent
          const byTerm = new Map<string, number>();
          values.forEach((term, i) =>
            byTerm.set(term, featureValue(weights[i]))
          );
          for (const [term, w] of byTerm) {
            let list = index.postings.get(term);
            if (!list) {
              index.postings.set(term, list = []);
              index.weights!.set(term, []);
            }
            list.push(d);
            index.weights!.get(term)!.push(w);
          }
          continue;
        }
        // a keyword field holds each distinct value once per document
        const terms = new Set(values);
        if (terms.size > 0) index.docCount++;
        index.sumDocFreq += terms.size;
        for (const term of terms) {
          let list = index.postings.get(term);
          if (!list) index.postings.set(term, list = []);
          list.push(d);
        }
      }
    }
  }

  /** Number of documents indexed. */
  get size(): number {
    return this.#ids.length;
  }

  /**
   * Ranks documents by BM25 over the history's matches in their indicator
   * fields (plus metadata boosts), applies filters and exclusions, pages,
   * and backfills with popular items, as the Elasticsearch backend does.
   *
   * @param request History, rules and paging.
   * @returns Up to `num` recommendations, best first, ties by id.
   * @throws {TypeError} On a malformed request.
   */
  recommend(request: RecommendRequest): Promise<Recommendation[]> {
    try {
      return Promise.resolve(this.#recommend(request));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  #popularity(): Int32Array {
    if (!this.#byPopularity) {
      const pop = this.#metadata.map((m) =>
        typeof m?.popularity === "number" ? m.popularity : -Infinity
      );
      const order = Array.from(this.#ids.keys()).sort((x, y) =>
        (pop[y] - pop[x]) || compareIds(this.#ids[x], this.#ids[y])
      );
      this.#byPopularity = Int32Array.from(order);
    }
    return this.#byPopularity;
  }

  #recommend(request: RecommendRequest): Recommendation[] {
    const r = normalizeRequest(request, this.#options);
    const scores = new Map<number, number>();
    const matched = new Map<number, number[]>();
    r.clauses.forEach((clause, c) => {
      const index = this.#fields.get(clause.field);
      const list = index?.postings.get(clause.item);
      if (!index || !list) return;
      // Lucene's linear feature query: boost × stored weight, in float
      const weights = index.weights?.get(clause.item);
      const boost = Math.fround(clause.boost);
      const s = weights ? 0 : keywordTermScore({
        docFreq: list.length,
        docCount: index.docCount,
        sumDocFreq: index.sumDocFreq,
        boost: clause.boost,
      });
      for (let p = 0; p < list.length; p++) {
        const d = list[p];
        const add = weights ? Math.fround(boost * weights[p]) : s;
        scores.set(d, (scores.get(d) ?? 0) + add);
        if (r.explain) {
          const m = matched.get(d);
          if (m) m.push(c);
          else matched.set(d, [c]);
        }
      }
    });
    const exclude = new Set(r.exclude);
    const passes = (d: number) =>
      !exclude.has(this.#ids[d]) &&
      r.filters.every((f) => matchesFilter(this.#metadata[d], f));
    const ranked: Recommendation[] = [];
    for (const [d, sum] of scores) {
      if (!passes(d)) continue;
      // Lucene: the history bool's sum as a float, plus the boosts' float sum
      let score = Math.fround(sum);
      let boost = 0, boosted = false;
      for (const b of r.boosts) {
        if (b.values.some((v) => hasValue(this.#metadata[d], b.field, v))) {
          boost += Math.fround(b.boost);
          boosted = true;
        }
      }
      if (boosted) score = Math.fround(score + Math.fround(boost));
      const rec: Recommendation = { id: this.#ids[d], score };
      if (r.explain) {
        rec.because = matched.get(d)!.map((c) => ({
          field: r.clauses[c].field,
          item: r.clauses[c].item,
        }));
      }
      ranked.push(rec);
    }
    ranked.sort((x, y) => (y.score - x.score) || compareIds(x.id, y.id));
    const want = r.from + r.num;
    const list = applyDither(ranked.slice(0, r.window), r).slice(0, want);
    if (r.backfill && list.length < want) {
      const taken = new Set(ranked.map((x) => x.id));
      for (const d of this.#popularity()) {
        if (list.length >= want) break;
        if (taken.has(this.#ids[d]) || !passes(d)) continue;
        list.push({ id: this.#ids[d], score: 0, backfill: true });
      }
    }
    return list.slice(r.from);
  }
}

function values(
  meta: ItemMetadata | undefined,
  field: string,
): MetadataValue[] {
  const v = meta?.[field];
  return v === undefined ? [] : Array.isArray(v) ? v : [v];
}

function hasValue(
  meta: ItemMetadata | undefined,
  field: string,
  wanted: string | number | boolean,
): boolean {
  return values(meta, field).some((v) => v === wanted);
}

const ISO_DATE = /^\d{4}-\d{2}-\d{2}/;

function compare(a: MetadataValue, b: number | string): number {
  if (typeof a === "number") return a - Number(b);
  if (typeof a === "string" && ISO_DATE.test(a) && typeof b === "string") {
    return Date.parse(a) - Date.parse(b);
  }
  const x = String(a), y = String(b);
  return x < y ? -1 : x > y ? 1 : 0;
}

/**
 * Whether item metadata passes a filter, as Elasticsearch's `term`, `terms`
 * and `range` queries would judge it (numbers numerically, ISO dates as
 * dates, other strings in code-unit order; multi-valued fields match when
 * any value does).
 *
 * @example
 * ```ts
 * import { matchesFilter } from "./recommender.ts";
 *
 * matchesFilter({ category: "tents", popularity: 7 }, { field: "popularity", gte: 5 }); // true
 * matchesFilter({ category: "tents" }, { field: "category", values: ["stoves"] }); // false
 * ```
 *
 * @param meta Item metadata.
 * @param filter The filter.
 * @returns True when the item passes.
 */
export function matchesFilter(
  meta: ItemMetadata | undefined,
  filter: Filter,
): boolean {
  if (filter.value !== undefined) {
    return hasValue(meta, filter.field, filter.value);
  }
  if (filter.values !== undefined) {
    return filter.values.some((v) => hasValue(meta, filter.field, v));
  }
  return values(meta, filter.field).some((v) =>
    (filter.gte === undefined || compare(v, filter.gte) >= 0) &&
    (filter.gt === undefined || compare(v, filter.gt) > 0) &&
    (filter.lte === undefined || compare(v, filter.lte) <= 0) &&
    (filter.lt === undefined || compare(v, filter.lt) < 0)
  );
}
