/**
 * Thresholds as significance levels. Dunning's log-likelihood ratio of a
 * 2×2 table is asymptotically χ² with one degree of freedom when the two
 * items are independent, so a p-value α fixes a raw-LLR cutoff, the
 * (1 − α) quantile of χ²(1), and a signed-root cutoff, its square root
 * `z` with `P(|Z| ≥ z) = α` for a standard normal `Z`: α = 0.01 gives a
 * raw LLR of 6.63, a root LLR of 2.58.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rootLlrThreshold } from "./significance.ts";
 *
 * assert.equal(rootLlrThreshold(0.01).toFixed(4), "2.5758");
 * assert.equal((rootLlrThreshold(0.01) ** 2).toFixed(2), "6.63");
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";

/**
 * `erfc(x)` for x >= 0 (Numerical Recipes' Chebyshev fit, relative error
 * below 1.2e-7).
 */
function erfc(x: number): number {
  const t = 1 / (1 + 0.5 * x);
  return t * Math.exp(
    -x * x - 1.26551223 + t * (1.00002368 + t * (0.37409196 +
              t * (0.09678418 + t * (-0.18628806 + t * (0.27886807 +
                          t *
                            (-1.13520398 + t * (1.48851587 + t * (-0.82215223 +
                                      t * 0.17087277)))))))),
  );
}

/**
 * The two-sided tail of the standard normal, `P(|Z| >= z)`, which is also
 * the p-value of a raw LLR of `z²` under χ²(1).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalTwoSidedTail } from "./significance.ts";
 *
 * assert.equal(normalTwoSidedTail(1.959964).toFixed(5), "0.05000");
 * ```
 *
 * @param z A root LLR (its absolute value is used).
 * @returns The p-value, in (0, 1].
 */
export function normalTwoSidedTail(z: number): number {
  return erfc(Math.abs(z) / Math.SQRT2);
}

/**
 * The signed-root LLR cutoff for a significance level: the `z` with
 * `P(|Z| >= z) = alpha`, so that `rootLlr >= z` keeps the positively
 * associated pairs whose LLR test rejects independence at level `alpha`
 * (asymptotically). Accurate to about 1e-6.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rootLlrThreshold } from "./significance.ts";
 *
 * assert.equal(rootLlrThreshold(0.05).toFixed(4), "1.9600");
 * assert.equal(rootLlrThreshold(1), 0);
 * assert.throws(() => rootLlrThreshold(0), /significance must be a number in \(0, 1\], got 0/);
 * ```
 *
 * @param alpha The significance level, in (0, 1]; 1 keeps every pair.
 * @returns The root-LLR threshold (0 for alpha = 1).
 * @throws {ConfigError} Unless 0 < alpha <= 1.
 */
export function rootLlrThreshold(alpha: number): number {
  if (typeof alpha !== "number" || !(alpha > 0) || !(alpha <= 1)) {
    throw new ConfigError(
      "significance",
      `must be a number in (0, 1], got ${alpha}`,
    );
  }
  if (alpha === 1) return 0;
  // bisection on the monotone tail, then it is exact to the tail's accuracy
  let lo = 0, hi = 40;
  for (let i = 0; i < 200 && hi - lo > 1e-12; i++) {
    const mid = (lo + hi) / 2;
    if (normalTwoSidedTail(mid) > alpha) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}
