/**
 * Ranking metrics for offline evaluation, with binary relevance: one
 * recommendation list and one set of relevant (held-out) items per user.
 *
 * - `precision@k` = hits in the top k / k
 * - `recall@k` = hits in the top k / relevant items
 * - `MAP@k` as Microsoft Recommenders' `map()`: the sum of precision at each
 *   hit's rank (within the top k) / the number of relevant items
 * - `nDCG@k` = Σ 1/log2(rank+1) over hits / the same for an ideal list
 * - `hit rate@k` = 1 when there is at least one hit
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userMetrics } from "./metrics.ts";
 *
 * const m = userMetrics(["a", "x", "b"], new Set(["a", "b", "c"]), 3);
 * assert.equal(m.precision, 2 / 3);
 * assert.equal(m.recall, 2 / 3);
 * assert.equal(m.map, (1 + 2 / 3) / 3); // precision at each hit, over min(k, relevant)
 * assert.equal(m.hit, 1);
 * ```
 *
 * @module
 */

import { mulberry32 } from "../random/mod.ts";

/** Metrics of one user's list. */
export interface UserMetrics {
  /** Precision at k. */
  precision: number;
  /** Recall at k. */
  recall: number;
  /** Average precision at k, divided by all relevant items. */
  map: number;
  /** Normalized discounted cumulative gain at k. */
  ndcg: number;
  /** 1 with at least one hit in the top k, else 0. */
  hit: number;
}

/**
 * The metrics of one recommendation list at cut-off `k`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userMetrics } from "./metrics.ts";
 *
 * assert.equal(userMetrics(["x"], new Set(["a"]), 10).hit, 0);
 * ```
 *
 * @param ranked Recommended item ids, best first.
 * @param relevant The user's relevant items (non-empty).
 * @param k Cut-off (>= 1).
 * @returns The metrics.
 * @throws {RangeError} When `relevant` is empty or `k < 1`.
 */
export function userMetrics(
  ranked: readonly string[],
  relevant: ReadonlySet<string>,
  k: number,
): UserMetrics {
  if (relevant.size === 0) throw new RangeError("no relevant items");
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`k must be >= 1, got ${k}`);
  }
  let hits = 0, apSum = 0, dcg = 0;
  const seen = new Set<string>();
  const top = Math.min(k, ranked.length);
  for (let i = 0; i < top; i++) {
    const id = ranked[i];
    if (seen.has(id)) continue; // a duplicate never counts twice
    seen.add(id);
    if (relevant.has(id)) {
      hits++;
      apSum += hits / (i + 1);
      dcg += 1 / Math.log2(i + 2);
    }
  }
  let idcg = 0;
  for (let i = 0; i < Math.min(k, relevant.size); i++) {
    idcg += 1 / Math.log2(i + 2);
  }
  return {
    precision: hits / k,
    recall: hits / relevant.size,
    map: apSum / relevant.size,
    ndcg: dcg / idcg,
    hit: hits > 0 ? 1 : 0,
  };
}

/**
 * Mean of each metric over users.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { meanMetrics } from "./metrics.ts";
 *
 * const mean = meanMetrics([
 *   { precision: 1, recall: 1, map: 1, ndcg: 1, hit: 1 },
 *   { precision: 0, recall: 0, map: 0, ndcg: 0, hit: 0 },
 * ]);
 * assert.equal(mean.ndcg, 0.5);
 * ```
 *
 * @param all Per-user metrics.
 * @returns Means (0 for no users).
 */
export function meanMetrics(all: readonly UserMetrics[]): UserMetrics {
  const out: UserMetrics = { precision: 0, recall: 0, map: 0, ndcg: 0, hit: 0 };
  if (all.length === 0) return out;
  for (const m of all) {
    for (const key of Object.keys(out) as (keyof UserMetrics)[]) {
      out[key] += m[key];
    }
  }
  for (const key of Object.keys(out) as (keyof UserMetrics)[]) {
    out[key] /= all.length;
  }
  return out;
}

/**
 * A bootstrap 95% interval of the mean of `values` (percentile method).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bootstrapInterval } from "./metrics.ts";
 *
 * assert.deepEqual(bootstrapInterval([1, 1, 1, 1]), [1, 1]);
 * ```
 *
 * @param values Per-user values.
 * @param resamples Resamples (default 500).
 * @param seed PRNG seed (default 1): the interval is deterministic.
 * @returns `[low, high]`.
 */
export function bootstrapInterval(
  values: readonly number[],
  resamples = 500,
  seed = 1,
): [number, number] {
  if (values.length === 0) return [0, 0];
  const random = mulberry32(seed);
  const means = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < values.length; i++) {
      sum += values[Math.floor(random() * values.length)];
    }
    means[r] = sum / values.length;
  }
  means.sort();
  return [
    means[Math.floor(0.025 * (resamples - 1))],
    means[Math.ceil(0.975 * (resamples - 1))],
  ];
}
