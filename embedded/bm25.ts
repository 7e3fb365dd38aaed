/**
 * Lucene's BM25 (k1 = 1.2, b = 0.75) as Elasticsearch applies it to a
 * `keyword` field, reproduced in single precision so that the embedded
 * backend scores exactly like Elasticsearch. Elasticsearch uses Lucene's
 * `LegacyBM25Similarity`, which multiplies the query boost by `k1 + 1`.
 *
 * A `keyword` field indexes no frequencies (`index_options: docs`, so
 * `freq = 1`) and no norms (so every document's length is 1), while the
 * average field length is `sumDocFreq / docCount` over the documents that
 * have the field. A matched term then scores
 * `(k1 + 1) · boost · idf · 1 / (1 + k1 · ((1 - b) + b / avgdl))` with
 * `idf = ln(1 + (docCount - df + 0.5) / (df + 0.5))`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keywordTermScore } from "./bm25.ts";
 *
 * // a term in 1 of 4 documents, 2 terms per document on average: a float
 * const score = keywordTermScore({ docFreq: 1, docCount: 4, sumDocFreq: 8 });
 * assert.equal(score, Math.fround(score));
 * assert.ok(Math.abs(score - 1.5135) < 1e-4);
 * ```
 *
 * @module
 */

const f = Math.fround;

// Lucene's defaults, held as Java floats as BM25Similarity holds them: every
// step of its formula is float arithmetic.
const K1 = f(1.2);
const B = f(0.75);

/** Index statistics one term's score depends on. */
export interface TermStats {
  /** Documents containing the term. */
  docFreq: number;
  /** Documents with at least one value in the field. */
  docCount: number;
  /** Sum of `docFreq` over all terms of the field (= total values). */
  sumDocFreq: number;
  /** Query boost of the clause (default 1). */
  boost?: number;
}

/**
 * Score contributed by one matched `term` clause on a `keyword` field, as a
 * 32-bit float exactly as Lucene computes it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { keywordTermScore } from "./bm25.ts";
 *
 * // as Elasticsearch 8.19 scores a term in 2 of 2 documents of one value each
 * assert.equal(keywordTermScore({ docFreq: 2, docCount: 2, sumDocFreq: 2 }), 0.18232156336307526);
 * ```
 *
 * @param stats Term and field statistics.
 * @returns The clause's score.
 */
export function keywordTermScore(stats: TermStats): number {
  const { docFreq, docCount, sumDocFreq, boost = 1 } = stats;
  const idf = f(Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5)));
  const avgdl = f(sumDocFreq / docCount);
  // BM25Similarity's cache entry for an encoded norm of 1 (length 1).
  const normInverse = f(1 / f(K1 * f(f(1 - B) + f(f(B * 1) / avgdl))));
  // LegacyBM25Similarity: boost · (1 + k1), in float, then BM25's weight
  const weight = f(f(f(boost) * f(1 + K1)) * idf);
  return f(weight - f(weight / f(1 + normInverse)));
}
