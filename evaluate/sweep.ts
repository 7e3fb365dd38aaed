/**
 * Requests for evaluating many settings on one index: a history cap
 * applied per request ({@linkcode cappedRequest}, so one index answers for
 * every `maxQueryEvents`), and the stratified protocol's exclusions
 * ({@linkcode trainedItems}). Used by the tuning search (`tune.ts`) and
 * `deno task eval`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cappedRequest } from "./sweep.ts";
 *
 * const r = cappedRequest({ buy: ["c", "b", "a"], view: ["x", "y"] }, "buy", 1);
 * assert.deepEqual(r, { history: { buy: ["c"], view: ["x"] }, exclude: ["b", "a"] });
 * ```
 *
 * @module
 */

/**
 * The request that makes a backend with a large `maxQueryEvents` answer as
 * one with `maxQueryEvents: cap` answers `{ history }`: the newest `cap`
 * items per type query, and the rest of the primary history is still
 * excluded as seen. Lets one index serve every history cap of the grid.
 *
 * @param history History by event type, newest first.
 * @param primary The primary event type.
 * @param cap History items used per type.
 * @returns The request's history and exclusions.
 */
export function cappedRequest(
  history: Readonly<Record<string, readonly string[]>>,
  primary: string,
  cap: number,
): { history: Record<string, string[]>; exclude: string[] } {
  return {
    history: Object.fromEntries(
      Object.entries(history).map(([type, items]) => [
        type,
        items.slice(0, cap),
      ]),
    ),
    exclude: (history[primary] ?? []).slice(cap),
  };
}

/**
 * Every distinct item of each user's history, whatever the event type:
 * what the stratified protocol (SAR's) excludes from the lists, since
 * held-out items are never training items.
 *
 * @param history Histories by user (from `histories`).
 * @returns The items per user.
 */
export function trainedItems(
  history: ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [user, h] of history) {
    out.set(user, [...new Set(Object.values(h).flat())]);
  }
  return out;
}
