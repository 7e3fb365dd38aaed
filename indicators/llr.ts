/**
 * Dunning's log-likelihood ratio (G²) for 2×2 contingency tables, exactly as
 * Apache Mahout computes it (`org.apache.mahout.math.stats.LogLikelihood`).
 *
 * For items A (row) and B (column) over N users:
 *
 * |            | B     | not B |
 * | ---------- | ----- | ----- |
 * | **A**      | k11   | k12   |
 * | **not A**  | k21   | k22   |
 *
 * `k11` users interacted with both, `k12` with A but not B, `k21` with B but
 * not A, and `k22 = N - k11 - k12 - k21` with neither.
 *
 * @example Score one pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { logLikelihoodRatio, rootLogLikelihoodRatio } from "./llr.ts";
 *
 * // 20 users: 10 have both items, 10 neither: 2·N·MI = 40 ln 2
 * assert.ok(Math.abs(logLikelihoodRatio(10, 0, 0, 10) - 40 * Math.LN2) < 1e-12);
 * // anti-correlated: negative
 * assert.ok(rootLogLikelihoodRatio(0, 10, 10, 0) < -5.26);
 * ```
 *
 * @module
 */

function xLogX(x: number): number {
  return x === 0 ? 0 : x * Math.log(x);
}

/**
 * Unnormalised Shannon entropy of counts, as Mahout defines it:
 * `xLogX(sum) - Σ xLogX(k)`. Counts must be non-negative.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entropy } from "./llr.ts";
 *
 * assert.equal(entropy(1, 1), 2 * Math.LN2);
 * assert.equal(entropy(5), 0);
 * ```
 *
 * @param counts Non-negative counts.
 * @returns The entropy, in nats, scaled by the total count.
 * @throws {RangeError} When a count is negative or not finite.
 */
export function entropy(...counts: number[]): number {
  let sum = 0;
  let result = 0;
  for (const k of counts) {
    if (!(k >= 0) || !Number.isFinite(k)) {
      throw new RangeError(`entropy: counts must be >= 0, got ${k}`);
    }
    result += xLogX(k);
    sum += k;
  }
  return xLogX(sum) - result;
}

/**
 * Raw log-likelihood ratio (G² statistic) of a 2×2 contingency table, always
 * `>= 0`. Negative round-off is clamped to 0 as in Mahout.
 *
 * @example Mahout's own test vector
 * ```ts
 * import assert from "node:assert/strict";
 * import { logLikelihoodRatio } from "./llr.ts";
 *
 * assert.ok(Math.abs(logLikelihoodRatio(5, 1995, 0, 100000) - 39.33052) < 1e-5);
 * ```
 *
 * @param k11 Count of users with both A and B.
 * @param k12 Count of users with A and not B.
 * @param k21 Count of users with B and not A.
 * @param k22 Count of users with neither.
 * @returns The G² statistic.
 * @throws {RangeError} When a cell is negative.
 */
export function logLikelihoodRatio(
  k11: number,
  k12: number,
  k21: number,
  k22: number,
): number {
  const rowEntropy = entropy(k11 + k12, k21 + k22);
  const columnEntropy = entropy(k11 + k21, k12 + k22);
  const matrixEntropy = entropy(k11, k12, k21, k22);
  if (rowEntropy + columnEntropy < matrixEntropy) {
    // round-off error
    return 0;
  }
  return 2 * (rowEntropy + columnEntropy - matrixEntropy);
}

/**
 * Signed square root of the log-likelihood ratio: positive when A and B
 * co-occur more often than chance (`k11/(k11+k12) > k21/(k21+k22)`), negative
 * when less. This is the score cco-es thresholds and ranks indicators by, so
 * that anti-correlated pairs never become indicators.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rootLogLikelihoodRatio } from "./llr.ts";
 *
 * // two users: raw LLR 4 ln 2, whatever the sign of the association
 * assert.equal(rootLogLikelihoodRatio(1, 0, 0, 1), Math.sqrt(4 * Math.LN2));
 * assert.equal(rootLogLikelihoodRatio(0, 1, 1, 0), -Math.sqrt(4 * Math.LN2));
 * ```
 *
 * @param k11 Count of users with both A and B.
 * @param k12 Count of users with A and not B.
 * @param k21 Count of users with B and not A.
 * @param k22 Count of users with neither.
 * @returns The signed root LLR.
 */
export function rootLogLikelihoodRatio(
  k11: number,
  k12: number,
  k21: number,
  k22: number,
): number {
  const root = Math.sqrt(logLikelihoodRatio(k11, k12, k21, k22));
  return k11 / (k11 + k12) < k21 / (k21 + k22) ? -root : root;
}

/**
 * Signed root LLR for many tables over the same N users, with `x·ln x`
 * looked up in a precomputed table instead of computed: the same arithmetic
 * as {@linkcode rootLogLikelihoodRatio}, so bit-for-bit the same results,
 * several times faster in the indicator loops.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LlrTable, rootLogLikelihoodRatio } from "./llr.ts";
 *
 * const table = new LlrTable(20);
 * assert.equal(table.rootLlr(10, 0, 0, 10) === rootLogLikelihoodRatio(10, 0, 0, 10), true);
 * ```
 */
export class LlrTable {
  /** Largest count (the number of users). */
  readonly n: number;
  #xlogx: Float64Array;

  /**
   * Precomputes `x·ln x` for every count from 0 to `n` (or wraps a table
   * made before, e.g. shared with workers: see {@linkcode LlrTable.table}).
   *
   * @param n The number of users: every cell and margin is at most `n`.
   * @param options `shared`: keep the table in a `SharedArrayBuffer`;
   * `table`: use this precomputed table (of `n + 1` values) instead.
   */
  constructor(
    n: number,
    options: { shared?: boolean; table?: Float64Array } = {},
  ) {
    if (!Number.isInteger(n) || n < 0) {
      throw new RangeError(`n must be a non-negative integer, got ${n}`);
    }
    this.n = n;
    if (options.table) {
      if (options.table.length !== n + 1) {
        throw new RangeError(`table must hold ${n + 1} values`);
      }
      this.#xlogx = options.table;
      return;
    }
    this.#xlogx = options.shared
      ? new Float64Array(new SharedArrayBuffer((n + 1) * 8))
      : new Float64Array(n + 1);
    for (let x = 1; x <= n; x++) this.#xlogx[x] = xLogX(x);
  }

  /** The precomputed `x·ln x` values, index 0 to `n`. */
  get table(): Float64Array {
    return this.#xlogx;
  }

  /**
   * Signed root LLR of a table whose cells sum to at most `n`.
   *
   * @param k11 Users with both.
   * @param k12 Users with A and not B.
   * @param k21 Users with B and not A.
   * @param k22 Users with neither.
   * @returns Exactly {@linkcode rootLogLikelihoodRatio}`(k11, k12, k21, k22)`.
   */
  rootLlr(k11: number, k12: number, k21: number, k22: number): number {
    const t = this.#xlogx;
    const total = t[k11 + k12 + k21 + k22];
    // same association as entropy(): xLogX(sum) - (Σ xLogX(k))
    const rowEntropy = total - (t[k11 + k12] + t[k21 + k22]);
    const columnEntropy = total - (t[k11 + k21] + t[k12 + k22]);
    const matrixEntropy = total - (t[k11] + t[k12] + t[k21] + t[k22]);
    const llr = rowEntropy + columnEntropy < matrixEntropy
      ? 0
      : 2 * (rowEntropy + columnEntropy - matrixEntropy);
    const root = Math.sqrt(llr);
    return k11 / (k11 + k12) < k21 / (k21 + k22) ? -root : root;
  }
}
