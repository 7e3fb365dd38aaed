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
 * import assert from "node:assert/strict";
 * import { EmbeddedRecommender } from "./recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [
 *   { id: "tent", indicators: ["stove", "lamp"] },
 *   { id: "stove", indicators: ["tent"] },
 *   { id: "lamp", indicators: ["tent"] },
 * ];
 * const recommender = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * const recs = await recommender.recommend({ history: ["tent"] });
 * // equal scores: by id
 * assert.deepEqual(recs.map((r) => r.id), ["lamp", "stove"]);
 * ```
 *
 * @module
 */

import { keywordTermScore } from "./bm25.ts";
import { DeadlineError, ModelError } from "../errors/mod.ts";
import { applyDither } from "../serving/dither.ts";
import type {
  IndexableDocument,
  ItemMetadata,
  MetadataValue,
} from "../model/document.ts";
import { indicatorFieldsOf } from "../model/fields.ts";
import type { MetadataType, Model, ModelManifest } from "../model/manifest.ts";
import { dateMillis } from "../model/items.ts";
import {
  addItemIndicators,
  checkServingOptions,
  type Filter,
  type ItemIndicators,
  normalizeRequest,
  type Recommendation,
  type Recommender,
  type RecommendOptions,
  type RecommendRequest,
  type ResolvedServing,
  resolveServing,
  type ServingOptions,
} from "../serving/request.ts";
import { compareIds } from "../model/document.ts";
import { featureValue } from "../indicators/weights.ts";

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
 * In-memory recommender over a model's documents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EmbeddedRecommender } from "./recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const r = new EmbeddedRecommender({
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * assert.equal(r.size, 1);
 * ```
 */
export class EmbeddedRecommender implements Recommender {
  #ids: string[] = [];
  #docs: IndexableDocument[] = [];
  #byId = new Map<string, number>();
  #metadata: (ItemMetadata | undefined)[] = [];
  #fields = new Map<string, FieldIndex>();
  #manifest: ModelManifest;
  #serving: ResolvedServing;
  // documents in rankBy order (desc, missing last), then id, by rankBy list:
  // the backfill order
  #rankOrders = new Map<string, Int32Array>();
  // each rankBy field's values (missing: -Infinity)
  #rankValues = new Map<string, Float64Array>();

  /**
   * Indexes the model's documents. A later document with an id already seen
   * replaces the earlier one, as indexing into Elasticsearch would.
   *
   * @param model The manifest and the documents (with optional `metadata`).
   * @param options Serving settings (`maxQueryEvents`, default field
   * boosts) over the manifest's.
   * @throws {ConfigError} For an invalid serving setting.
   * @throws {ModelError} When a document disagrees with the manifest.
   */
  constructor(model: Model, options: ServingOptions = {}) {
    checkServingOptions(options);
    this.#manifest = model.manifest;
    this.#serving = resolveServing(model.manifest, options);
    const weighted = new Map(
      model.manifest.fields.map((f) => [f.name, f.weights !== "none"]),
    );
    const byId = new Map<string, IndexableDocument>();
    for (const doc of model.documents) byId.set(doc.id, doc);
    for (const [id, doc] of byId) {
      const d = this.#ids.length;
      this.#ids.push(id);
      this.#docs.push(doc);
      this.#byId.set(id, d);
      this.#metadata.push(doc.metadata);
      for (const [field, values] of indicatorFieldsOf(doc)) {
        const isWeighted = weighted.get(field);
        if (isWeighted === undefined) {
          throw new ModelError(
            `document "${id}": field "${field}" is not in the manifest (${
              [...weighted.keys()].join(", ")
            })`,
          );
        }
        let index = this.#fields.get(field);
        if (!index) {
          index = { postings: new Map(), docCount: 0, sumDocFreq: 0 };
          this.#fields.set(field, index);
        }
        const weights = doc.weights?.[field];
        if (isWeighted && values.length > 0) {
          if (!weights || weights.length !== values.length) {
            throw new ModelError(
              `document "${id}": field "${field}" has ${values.length} ids but ${
                weights?.length ?? 0
              } weights`,
            );
          }
          index.weights ??= new Map();
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
        if (isWeighted) continue;
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
   * The model's manifest.
   *
   * @returns The manifest.
   */
  manifest(): Promise<ModelManifest> {
    return Promise.resolve(this.#manifest);
  }

  /**
   * Ranks documents by the summed strength of the history's matches in
   * their indicator fields (weight, or BM25 on unweighted fields; plus
   * metadata boosts), applies filters and exclusions, pages, and backfills
   * with popular items, as the Elasticsearch backend does.
   *
   * @param request History, rules and paging.
   * @param options An abort signal (checked before the work starts).
   * @returns Up to `num` recommendations, best first, ties by id.
   * @throws {RequestError} On a malformed request.
   * @throws {DeadlineError} When the signal has fired.
   */
  recommend(
    request: RecommendRequest,
    options: RecommendOptions = {},
  ): Promise<Recommendation[]> {
    try {
      if (options.signal?.aborted) {
        throw new DeadlineError("the request was aborted");
      }
      return Promise.resolve(this.#recommend(request));
    } catch (error) {
      return Promise.reject(error);
    }
  }

  // a number field's values by document (missing: -Infinity, last in
  // descending order, as Elasticsearch's `missing: _last`)
  #rankValue(field: string): Float64Array {
    let v = this.#rankValues.get(field);
    if (!v) {
      v = Float64Array.from(this.#metadata, (m) => {
        const x = m?.[field];
        return typeof x === "number" ? x : -Infinity;
      });
      this.#rankValues.set(field, v);
    }
    return v;
  }

  // documents by the rankBy fields (desc), then id: the backfill order
  #rankOrder(rankBy: readonly string[]): Int32Array {
    const key = rankBy.join("\u0000");
    let order = this.#rankOrders.get(key);
    if (!order) {
      const compare = this.#tieBreak(rankBy);
      order = Int32Array.from(
        Array.from(this.#ids.keys()).sort(compare),
      );
      this.#rankOrders.set(key, order);
    }
    return order;
  }

  // the order of equal scores: rankBy fields descending, then id
  #tieBreak(rankBy: readonly string[]): (x: number, y: number) => number {
    const columns = rankBy.map((f) => this.#rankValue(f));
    return (x, y) => {
      for (const c of columns) {
        if (c[x] !== c[y]) return c[y] > c[x] ? 1 : -1;
      }
      return compareIds(this.#ids[x], this.#ids[y]);
    };
  }

  // a query item's indicator lists, as addItemIndicators takes them
  #indicatorsOf(id: string): ItemIndicators | undefined {
    const d = this.#byId.get(id);
    if (d === undefined) return undefined;
    const doc = this.#docs[d];
    const out: Record<
      string,
      { ids: readonly string[]; weights?: readonly number[] }
    > = {};
    for (const [field, ids] of indicatorFieldsOf(doc)) {
      const weights = doc.weights?.[field];
      out[field] = weights ? { ids, weights } : { ids };
    }
    return out;
  }

  #recommend(request: RecommendRequest): Recommendation[] {
    let r = normalizeRequest(request, this.#manifest, this.#serving);
    if (r.lookup) {
      const found = new Map<string, ItemIndicators>();
      for (const item of r.lookup.items) {
        const lists = this.#indicatorsOf(item);
        if (lists) found.set(item, lists);
      }
      r = addItemIndicators(r, this.#manifest, found);
    }
    const types = this.#manifest.metadata;
    const exclude = new Set(r.exclude);
    const passes = (d: number) =>
      !exclude.has(this.#ids[d]) &&
      r.filters.every((f) =>
        matchesFilter(this.#metadata[d], f, types[f.field]) !== !!f.not
      );
    // the boosts an item earns: their float sum, as Lucene sums them
    const boostOf = (d: number) => {
      let sum = 0, boosted = false;
      for (const b of r.boosts) {
        if (
          b.values.some((v) =>
            hasValue(this.#metadata[d], b.field, v, types[b.field])
          )
        ) {
          sum += Math.fround(b.boost);
          boosted = true;
        }
      }
      return boosted ? Math.fround(sum) : undefined;
    };
    const scored: { d: number; score: number }[] = [];
    const matched = new Map<number, number[]>();
    if (r.clauses.length > 0) {
      const scores = new Map<number, number>();
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
      for (const [d, sum] of scores) {
        if (!passes(d)) continue;
        // Lucene: the history bool's sum as a float, plus the boosts' float sum
        const score = Math.fround(sum);
        const boost = boostOf(d);
        scored.push({
          d,
          score: boost === undefined ? score : Math.fround(score + boost),
        });
      }
    } else if (r.boosts.length > 0) {
      // no history: the boosts rank the items they match
      for (let d = 0; d < this.#ids.length; d++) {
        const boost = boostOf(d);
        if (boost !== undefined && passes(d)) scored.push({ d, score: boost });
      }
    }
    const tie = this.#tieBreak(r.rankBy);
    scored.sort((x, y) => (y.score - x.score) || tie(x.d, y.d));
    const ranked = scored.map(({ d, score }): Recommendation => {
      const rec: Recommendation = { id: this.#ids[d], score };
      if (r.explain) {
        rec.because = (matched.get(d) ?? []).map((c) => ({
          field: r.clauses[c].field,
          item: r.clauses[c].item,
        }));
      }
      return rec;
    });
    const want = r.from + r.num;
    const list = applyDither(ranked.slice(0, r.window), r).slice(0, want);
    if (r.backfill && list.length < want) {
      const taken = new Set(ranked.map((x) => x.id));
      for (const d of this.#rankOrder(r.rankBy)) {
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
  type?: MetadataType,
): boolean {
  // a date compares as an instant (boost values arrive as unix ms)
  return values(meta, field).some((v) =>
    type === "date" ? dateMillis(v) === dateMillis(wanted) : v === wanted
  );
}

function compare(
  a: MetadataValue,
  b: number | string,
  type: MetadataType | undefined,
): number {
  if (type === "date") return dateMillis(a)! - dateMillis(b)!;
  if (typeof a === "number") return a - Number(b);
  return compareCodePoints(String(a), String(b));
}

// text in code point order, as Lucene orders keyword terms (by their UTF-8
// bytes); JavaScript's < compares UTF-16 units, which puts U+10000 and up
// before U+E000..U+FFFF
function compareCodePoints(x: string, y: string): number {
  for (let i = 0, j = 0; i < x.length && j < y.length;) {
    const a = x.codePointAt(i)!, b = y.codePointAt(j)!;
    if (a !== b) return a - b;
    i += a > 0xffff ? 2 : 1;
    j += b > 0xffff ? 2 : 1;
  }
  return (x.length - y.length) === 0 ? 0 : x.length < y.length ? -1 : 1;
}

/**
 * Whether item metadata passes a filter, as Elasticsearch's `term`, `terms`
 * and `range` queries judge it on the field's mapped type: numbers
 * numerically, dates as instants, keywords in code-unit order; a
 * multi-valued field matches when any value does. Filter values have been
 * checked against the type (see `normalizeRequest`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { matchesFilter } from "./recommender.ts";
 *
 * assert.ok(matchesFilter({ popularity: 7 }, { field: "popularity", gte: 5 }, "number"));
 * assert.ok(!matchesFilter({ category: "tents" }, { field: "category", values: ["stoves"] }, "keyword"));
 * // a date compares as an instant, a keyword as text
 * assert.ok(matchesFilter({ d: "2015-06-01T00:00:00.000Z" }, { field: "d", gt: "2015-06-01T01:00:00+02:00" }, "date"));
 * assert.ok(!matchesFilter({ d: "2015-06-01T00:00:00.000Z" }, { field: "d", gt: "2015-06-01T01:00:00+02:00" }, "keyword"));
 * ```
 *
 * @param meta Item metadata.
 * @param filter The filter.
 * @param type The field's type in the model (`undefined` when no item has it).
 * @returns True when the item passes.
 */
export function matchesFilter(
  meta: ItemMetadata | undefined,
  filter: Filter,
  type?: MetadataType,
): boolean {
  const equal = (v: MetadataValue, wanted: string | number | boolean) =>
    type === "date" ? dateMillis(v) === dateMillis(wanted) : v === wanted;
  if (filter.value !== undefined) {
    return values(meta, filter.field).some((v) => equal(v, filter.value!));
  }
  if (filter.values !== undefined) {
    return values(meta, filter.field).some((v) =>
      filter.values!.some((w) => equal(v, w))
    );
  }
  return values(meta, filter.field).some((v) =>
    (filter.gte === undefined || compare(v, filter.gte, type) >= 0) &&
    (filter.gt === undefined || compare(v, filter.gt, type) > 0) &&
    (filter.lte === undefined || compare(v, filter.lte, type) <= 0) &&
    (filter.lt === undefined || compare(v, filter.lt, type) < 0)
  );
}
