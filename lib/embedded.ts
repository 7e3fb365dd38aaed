/**
 * The embedded backend: an in-process inverted index over indicator
 * documents that answers {@linkcode Recommender} requests with the same
 * ranking and scores Elasticsearch gives for the same documents and query
 * (BM25 on a `keyword` field, summed over matched history items; ties by id).
 * No server needed: used by `deno task demo`, by `recommend` when no
 * `ES_URL` is set, and by offline evaluation.
 *
 * @example
 * ```ts
 * import { EmbeddedRecommender } from "./embedded.ts";
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
import {
  normalizeRequest,
  type Recommendation,
  type Recommender,
  type RecommendRequest,
} from "./recommender.ts";
import { compareIds } from "./sparse.ts";
import { INDICATORS_FIELD } from "./query.ts";

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
}

const INDICATOR_FIELD =
  /^(indicators|indicators_[A-Za-z0-9_-]+|similar_[A-Za-z0-9_-]+)$/;

/**
 * Whether a document property is an indicator field (indexed as `keyword`).
 *
 * @example
 * ```ts
 * import { isIndicatorField } from "./embedded.ts";
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
 * import { indicatorFieldsOf } from "./embedded.ts";
 *
 * indicatorFieldsOf({ id: "a", indicators: ["b"], scores: {} });
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

/** Postings and BM25 statistics of one keyword field. */
interface FieldIndex {
  postings: Map<string, number[]>;
  docCount: number;
  sumDocFreq: number;
}

/**
 * In-memory recommender over indicator documents.
 *
 * @example
 * ```ts
 * import { EmbeddedRecommender } from "./embedded.ts";
 *
 * const r = new EmbeddedRecommender([{ id: "a", indicators: ["b"] }]);
 * r.size; // 1
 * ```
 */
export class EmbeddedRecommender implements Recommender {
  #ids: string[] = [];
  #fields = new Map<string, FieldIndex>();

  /**
   * Indexes the documents. A later document with an id already seen
   * replaces the earlier one, as indexing into Elasticsearch would.
   *
   * @param documents Indicator documents.
   */
  constructor(documents: Iterable<IndexableDocument>) {
    const byId = new Map<string, IndexableDocument>();
    for (const doc of documents) byId.set(doc.id, doc);
    for (const [id, doc] of byId) {
      const d = this.#ids.length;
      this.#ids.push(id);
      for (const [field, values] of indicatorFieldsOf(doc)) {
        let index = this.#fields.get(field);
        if (!index) {
          index = { postings: new Map(), docCount: 0, sumDocFreq: 0 };
          this.#fields.set(field, index);
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
   * Ranks documents by BM25 over the history's matches in `indicators`,
   * excluding the history items themselves.
   *
   * @param request History and number of results.
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

  #recommend(request: RecommendRequest): Recommendation[] {
    const { history, num } = normalizeRequest(request);
    const scores = new Map<number, number>();
    const index = this.#fields.get(INDICATORS_FIELD);
    for (const term of index ? history : []) {
      const list = index!.postings.get(term);
      if (!list) continue;
      const s = keywordTermScore({
        docFreq: list.length,
        docCount: index!.docCount,
        sumDocFreq: index!.sumDocFreq,
      });
      for (const d of list) scores.set(d, (scores.get(d) ?? 0) + s);
    }
    const exclude = new Set(history);
    const hits: Recommendation[] = [];
    for (const [d, score] of scores) {
      const id = this.#ids[d];
      if (!exclude.has(id)) hits.push({ id, score: Math.fround(score) });
    }
    hits.sort((x, y) => (y.score - x.score) || compareIds(x.id, y.id));
    return hits.slice(0, num);
  }
}
