/**
 * Dithering, Ted Dunning's recipe: re-rank by `log(rank) + N(0, log ε)`, so
 * that users also see items from deeper in the ranking over time, which is
 * how a recommender learns about them. `ε` (> 1) sets how far items move:
 * 1.5 barely, 3 a lot. The noise comes from a seed (a user or session id)
 * combined with a time bucket, so one user's pages stay stable for
 * `periodMs` and change after.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ditherOrder } from "./dither.ts";
 *
 * const order = ditherOrder(5, { epsilon: 2, seed: "user-42", now: 0 });
 * // a permutation of 0..4, the same for the same seed and period
 * assert.deepEqual([...order].sort(), [0, 1, 2, 3, 4]);
 * assert.deepEqual(order, ditherOrder(5, { epsilon: 2, seed: "user-42", now: 1 }));
 * ```
 *
 * @module
 */

import { mulberry32 } from "../random/mod.ts";

/** Dithering settings. */
export interface DitherOptions {
  /** Spread, > 1 (default 2). */
  epsilon?: number;
  /** What keeps a user's results stable, e.g. a user or session id. */
  seed: string;
  /** How long one seed gives the same order, ms (default 10 minutes). */
  periodMs?: number;
  /** Current time in ms (default `Date.now()`). */
  now?: number;
}

function fnv1a(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

/**
 * The dithered order of `n` ranked items: position `i` of the result holds
 * the original rank index to show there.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ditherOrder } from "./dither.ts";
 *
 * assert.deepEqual(ditherOrder(3, { epsilon: 1.0001, seed: "s", now: 0 }), Int32Array.from([0, 1, 2]));
 * ```
 *
 * @param n Number of ranked items.
 * @param options Spread, seed and period.
 * @returns A permutation of `0..n-1`.
 * @throws {RangeError} When `epsilon <= 1` or the period is not positive.
 */
export function ditherOrder(n: number, options: DitherOptions): Int32Array {
  const epsilon = options.epsilon ?? 2;
  const period = options.periodMs ?? 600_000;
  if (!(epsilon > 1)) {
    throw new RangeError(`epsilon must be > 1, got ${epsilon}`);
  }
  if (!(period > 0)) {
    throw new RangeError(`periodMs must be > 0, got ${period}`);
  }
  const bucket = Math.floor((options.now ?? Date.now()) / period);
  const random = mulberry32(fnv1a(`${options.seed}\u0000${bucket}`));
  const sigma = Math.log(epsilon);
  const keys = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    // Box-Muller
    const u = 1 - random(), v = random();
    const gauss = Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
    keys[i] = Math.log(i + 1) + sigma * gauss;
  }
  return Int32Array.from({ length: n }, (_, i) => i)
    .sort((a, b) => (keys[a] - keys[b]) || a - b);
}

/**
 * Applies a request's dithering to its ranked window (a no-op without it),
 * using the current time bucket.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyDither } from "./dither.ts";
 *
 * assert.deepEqual(applyDither([{ id: "a" }, { id: "b" }], {}), [{ id: "a" }, { id: "b" }]);
 * ```
 *
 * @param ranked Results in rank order.
 * @param request The normalized request's `dither` settings, if any.
 * @returns The results in dithered order.
 */
export function applyDither<T>(
  ranked: T[],
  request: { dither?: { seed: string; epsilon: number; periodMs: number } },
): T[] {
  if (!request.dither) return ranked;
  return Array.from(
    ditherOrder(ranked.length, request.dither),
    (i) => ranked[i],
  );
}
