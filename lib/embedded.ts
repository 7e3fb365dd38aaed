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

/** The part of a document the embedded backend indexes. */
export interface IndexableDocument {
  /** Item id. */
  id: string;
  /** Indicator item ids (the `indicators` keyword field). */
  indicators: readonly string[];
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
  #postings = new Map<string, number[]>();
  #docCount = 0;
  #sumDocFreq = 0;

  /**
   * Indexes the documents. A later document with an id already seen
   * replaces the earlier one, as indexing into Elasticsearch would.
   *
   * @param documents Indicator documents.
   */
  constructor(documents: Iterable<IndexableDocument>) {
    const byId = new Map<string, readonly string[]>();
    for (const doc of documents) byId.set(doc.id, doc.indicators);
    for (const [id, indicators] of byId) {
      const d = this.#ids.length;
      this.#ids.push(id);
      // a keyword field holds each distinct value once per document
      const terms = new Set(indicators);
      if (terms.size > 0) this.#docCount++;
      this.#sumDocFreq += terms.size;
      for (const term of terms) {
        let list = this.#postings.get(term);
        if (!list) this.#postings.set(term, list = []);
        list.push(d);
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
    for (const term of history) {
      const list = this.#postings.get(term);
      if (!list) continue;
      const s = keywordTermScore({
        docFreq: list.length,
        docCount: this.#docCount,
        sumDocFreq: this.#sumDocFreq,
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
