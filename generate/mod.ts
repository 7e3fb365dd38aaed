/**
 * A deterministic generator of event logs shaped like RetailRocket's, for
 * benchmarks and tests at any scale.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SynthLog } from "./mod.ts";
 *
 * const log = new SynthLog({ scale: 0.001, seed: 1 });
 * let n = 0;
 * for (const _row of log.rows()) n++;
 * assert.equal(n, log.counts.events);
 * ```
 *
 * @module
 */

export * from "./retailrocket.ts";
export * from "./stats.ts";
