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
import { allocate, SparseBinaryMatrix } from "./sparse.ts";

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
 * (all event types together); the others are dropped, and no longer
 * count as users. The item dictionary is unchanged, so every item keeps
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
 * @param options `inPlace`: compact the matrices in their own arrays
 * (no second copy of the interactions; `interactions` must not be used
 * after). The arrays keep their kind (shared memory or not).
 * @returns The interactions of the users kept.
 * @throws {ConfigError} For an invalid minimum.
 */
export function withMinEventsPerUser(
  interactions: Interactions,
  min: number | undefined,
  options: { inPlace?: boolean } = {},
): Interactions {
  checkMinEventsPerUser(min);
  if (min === undefined || min <= 1) return interactions;
  const n = interactions.users.size;
  const counts = new Int32Array(n);
  const matrices = interactions.eventTypes.map((t) =>
    [t, interactions.matrix(t)!] as const
  );
  for (const [, { ptr }] of matrices) {
    for (let u = 0; u < n; u++) counts[u] += ptr[u + 1] - ptr[u];
  }
  let users = 0;
  for (let u = 0; u < n; u++) if (counts[u] >= min) users++;
  if (users === n) return interactions;
  const filtered = new Map<string, SparseBinaryMatrix>();
  for (const [type, m] of matrices) {
    const shared = m.idx.buffer instanceof SharedArrayBuffer;
    let nnz = 0;
    if (!options.inPlace) {
      for (let u = 0; u < n; u++) {
        if (counts[u] >= min) nnz += m.ptr[u + 1] - m.ptr[u];
      }
    }
    const ptr = options.inPlace
      ? m.ptr
      : allocate(Uint32Array, users + 1, shared);
    const idx = options.inPlace ? m.idx : allocate(Int32Array, nnz, shared);
    // rows move down (row r <= u, offset nnz <= ptr[u]): in place, each
    // write lands where it was already read
    nnz = 0;
    let r = 0;
    let from = m.ptr[0];
    for (let u = 0; u < n; u++) {
      const to = m.ptr[u + 1];
      if (counts[u] >= min) {
        if (options.inPlace) idx.copyWithin(nnz, from, to);
        else idx.set(m.idx.subarray(from, to), nnz);
        nnz += to - from;
        ptr[++r] = nnz;
      }
      from = to;
    }
    ptr[0] = 0;
    filtered.set(
      type,
      new SparseBinaryMatrix(
        users,
        m.cols,
        ptr.subarray(0, users + 1),
        idx.subarray(0, nnz),
      ),
    );
  }
  return {
    users: { size: users },
    items: interactions.items,
    eventTypes: interactions.eventTypes,
    eventsRead: interactions.eventsRead,
    matrix: (type) => filtered.get(type),
    itemRanks: () => interactions.itemRanks(),
  };
}
