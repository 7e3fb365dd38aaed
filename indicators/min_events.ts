/**
 * Minimum events per user (the Universal Recommender's `minEventsPerUser`):
 * users with fewer distinct interactions than the minimum, all event types
 * together, are left out of the build, as if they had no events: they do
 * not count towards N, the number of users of the LLR tables, and their
 * interactions count towards no co-occurrence and no popularity.
 *
 * An interaction is a distinct (item, event type) pair of the user, after
 * binarizing and the history cap; the UR counts raw events instead (a user
 * who viewed one item five times has 5 events there, 1 interaction here).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 * import { withMinEventsPerUser } from "./min_events.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "buy", timestamp: 1 });
 * b.add({ user: "u1", item: "b", event: "view", timestamp: 2 });
 * b.add({ user: "u2", item: "a", event: "buy", timestamp: 3 });
 * b.add({ user: "u2", item: "a", event: "buy", timestamp: 4 }); // the same
 * const kept = withMinEventsPerUser(b.build(), 2);
 * assert.equal(kept.users.size, 1);
 * assert.deepEqual(Array.from(kept.matrix("buy")!.columnCounts()), [1, 0]);
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import type { Interactions } from "./interactions.ts";
import { IdDictionary, SparseBinaryMatrix } from "./sparse.ts";

/**
 * Checks a `minEventsPerUser` setting.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkMinEventsPerUser } from "./min_events.ts";
 *
 * checkMinEventsPerUser(3);
 * assert.throws(() => checkMinEventsPerUser(0), /minEventsPerUser must be an integer >= 1, got 0/);
 * ```
 *
 * @param min The setting (undefined: none).
 * @throws {ConfigError} When it is not an integer >= 1.
 */
export function checkMinEventsPerUser(min: number | undefined): void {
  if (min !== undefined && (!Number.isInteger(min) || min < 1)) {
    throw new ConfigError(
      "minEventsPerUser",
      `must be an integer >= 1, got ${min}`,
    );
  }
}

/**
 * The interactions of the users with at least `min` distinct interactions
 * (all event types together); the others are dropped, from the user
 * dictionary too. The item dictionary is unchanged, so every item keeps
 * its document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 * import { withMinEventsPerUser } from "./min_events.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "buy", timestamp: 1 });
 * const all = b.build();
 * assert.equal(withMinEventsPerUser(all, 1), all);
 * assert.equal(withMinEventsPerUser(all, 2).matrix("buy")!.nnz, 0);
 * ```
 *
 * @param interactions Built interactions.
 * @param min The minimum (undefined or 1: every user is kept, the same
 * object is returned).
 * @returns The interactions of the users kept.
 * @throws {ConfigError} For an invalid minimum.
 */
export function withMinEventsPerUser(
  interactions: Interactions,
  min: number | undefined,
): Interactions {
  checkMinEventsPerUser(min);
  if (min === undefined || min <= 1) return interactions;
  const n = interactions.users.size;
  const counts = new Int32Array(n);
  const matrices = interactions.eventTypes.map((t) =>
    [t, interactions.matrix(t)!] as const
  );
  for (const [, m] of matrices) {
    for (let u = 0; u < n; u++) counts[u] += m.rowLength(u);
  }
  const users = new IdDictionary();
  const kept: number[] = [];
  for (let u = 0; u < n; u++) {
    if (counts[u] >= min) {
      kept.push(u);
      users.intern(interactions.users.idOf(u));
    }
  }
  if (kept.length === n) return interactions;
  const filtered = new Map<string, SparseBinaryMatrix>();
  for (const [type, m] of matrices) {
    const ptr = new Uint32Array(kept.length + 1);
    let nnz = 0;
    kept.forEach((u, r) => {
      nnz += m.rowLength(u);
      ptr[r + 1] = nnz;
    });
    const idx = new Int32Array(nnz);
    kept.forEach((u, r) => idx.set(m.row(u), ptr[r]));
    filtered.set(type, new SparseBinaryMatrix(kept.length, m.cols, ptr, idx));
  }
  return {
    users,
    items: interactions.items,
    eventTypes: interactions.eventTypes,
    eventsRead: interactions.eventsRead,
    matrix: (type) => filtered.get(type),
  };
}
