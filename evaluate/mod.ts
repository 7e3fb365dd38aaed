/**
 * Offline evaluation: splits (time, last-k, stratified), ranking metrics
 * with bootstrap intervals, the evaluation loop over any recommender, the
 * settings sweep, and the Markdown/JSON/SVG report.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { userMetrics } from "./mod.ts";
 *
 * const m = userMetrics(["a", "x", "b"], new Set(["a", "b"]), 3);
 * assert.equal(m.precision, 2 / 3);
 * assert.equal(m.recall, 1);
 * ```
 *
 * @module
 */

export * from "./evaluate.ts";
export * from "./metrics.ts";
export * from "./sweep.ts";
export * from "./report.ts";
export * from "./tune.ts";
