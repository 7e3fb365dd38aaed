/**
 * Turns a stream of events into binarized, history-capped user × item
 * matrices, one per event type, over a shared user and item dictionary.
 *
 * - **Binarized**: a user who viewed an item five times has one `view`
 *   interaction with it (its most recent timestamp counts).
 * - **History cap**: each user keeps only their `maxHistoryPerUser` most
 *   recent distinct items per event type (default 500, Mahout's
 *   `maxNumInteractions`). Unlike Mahout's downsampling, which drops a heavy
 *   user's interactions at random, the cap keeps their most recent ones. Ties
 *   on timestamp are broken by item id, so the result is deterministic.
 * - **Shared user dictionary**: every user with any event counts towards N,
 *   the number of users in the LLR contingency tables, as in Mahout's
 *   `SimilarityAnalysis`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const builder = new InteractionsBuilder({ maxHistoryPerUser: 2 });
 * builder.add({ user: "u1", item: "a", event: "view", timestamp: 1 });
 * builder.add({ user: "u1", item: "b", event: "view", timestamp: 2 });
 * builder.add({ user: "u1", item: "c", event: "view", timestamp: 3 });
 * builder.add({ user: "u2", item: "a", event: "buy", timestamp: 4 });
 * const interactions = builder.build();
 * assert.equal(interactions.users.size, 2);
 * assert.equal(interactions.matrix("view")!.rowLength(0), 2); // b and c: the most recent
 * ```
 *
 * @module
 */

import type { Event } from "../events/format.ts";
import { compareIds } from "../model/document.ts";
import { IdDictionary, SparseBinaryMatrix } from "./sparse.ts";

/** Events one by one or in batches, synchronously or not. */
export type EventStream =
  | AsyncIterable<Event | readonly Event[]>
  | Iterable<Event | readonly Event[]>;

/** Mahout's default cap on interactions per user (`maxNumInteractions`). */
export const DEFAULT_MAX_HISTORY_PER_USER = 500;

/** Options for {@linkcode InteractionsBuilder}. */
export interface InteractionOptions {
  /**
   * Keep at most this many of each user's most recent distinct items per
   * event type. Default {@linkcode DEFAULT_MAX_HISTORY_PER_USER} (500).
   */
  maxHistoryPerUser?: number;
}

/** Binarized, capped interactions of every event type. */
export interface Interactions {
  /** Every user with any event, in first-seen order. */
  readonly users: IdDictionary;
  /** Every item with any event, in first-seen order. */
  readonly items: IdDictionary;
  /** Event types in first-seen order. */
  readonly eventTypes: readonly string[];
  /** Events read per type (before binarizing and capping). */
  readonly eventsRead: Readonly<Record<string, number>>;
  /**
   * The `users.size × items.size` matrix of one event type, or `undefined`
   * when the type never occurred.
   */
  matrix(eventType: string): SparseBinaryMatrix | undefined;
}

class GrowableColumns {
  users = new Int32Array(1024);
  items = new Int32Array(1024);
  times = new Float64Array(1024);
  length = 0;

  push(user: number, item: number, time: number) {
    if (this.length === this.users.length) {
      const grow = <T extends Int32Array | Float64Array>(a: T): T => {
        const b = new (a.constructor as { new (n: number): T })(a.length * 2);
        b.set(a);
        return b;
      };
      this.users = grow(this.users);
      this.items = grow(this.items);
      this.times = grow(this.times);
    }
    this.users[this.length] = user;
    this.items[this.length] = item;
    this.times[this.length] = time;
    this.length++;
  }
}

/**
 * Accumulates events, then {@linkcode InteractionsBuilder.build | build}s
 * the capped binary matrices.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "transaction", timestamp: 0 });
 * assert.equal(b.build().matrix("transaction")!.nnz, 1);
 * ```
 */
export class InteractionsBuilder {
  #users = new IdDictionary();
  #items = new IdDictionary();
  #byType = new Map<string, GrowableColumns>();
  #cap: number;

  /**
   * Creates an empty builder.
   *
   * @param options History cap; see {@linkcode InteractionOptions}.
   * @throws {RangeError} When the cap is not a positive integer.
   */
  constructor(options: InteractionOptions = {}) {
    this.#cap = options.maxHistoryPerUser ?? DEFAULT_MAX_HISTORY_PER_USER;
    if (!Number.isInteger(this.#cap) || this.#cap < 1) {
      throw new RangeError(
        `maxHistoryPerUser must be a positive integer, got ${this.#cap}`,
      );
    }
  }

  /**
   * Records one event.
   *
   * @param event The event; its timestamp orders the user's history.
   */
  add(event: Event): void {
    let cols = this.#byType.get(event.event);
    if (!cols) this.#byType.set(event.event, cols = new GrowableColumns());
    cols.push(
      this.#users.intern(event.user),
      this.#items.intern(event.item),
      event.timestamp,
    );
  }

  /**
   * Records every event of a (possibly async) stream of events or of
   * batches of events (as {@linkcode readEventBatches} yields: faster).
   *
   * @param events The events, or arrays of events.
   * @returns This builder, once the stream is consumed.
   */
  async addAll(events: EventStream): Promise<InteractionsBuilder> {
    for await (const e of events) {
      if (Array.isArray(e)) { for (const one of e) this.add(one); }
      else this.add(e as Event);
    }
    return this;
  }

  /**
   * Binarizes and caps each event type into a CSR user × item matrix.
   *
   * @returns The interactions.
   */
  build(): Interactions {
    const users = this.#users;
    const items = this.#items;
    const matrices = new Map<string, SparseBinaryMatrix>();
    const eventsRead: Record<string, number> = {};
    for (const [type, cols] of this.#byType) {
      eventsRead[type] = cols.length;
      matrices.set(type, capAndBinarize(cols, users.size, items, this.#cap));
    }
    return {
      users,
      items,
      eventTypes: [...this.#byType.keys()],
      eventsRead,
      matrix: (type) => matrices.get(type),
    };
  }
}

function capAndBinarize(
  cols: GrowableColumns,
  numUsers: number,
  items: IdDictionary,
  cap: number,
): SparseBinaryMatrix {
  // Counting sort of the events by user.
  const start = new Uint32Array(numUsers + 1);
  for (let e = 0; e < cols.length; e++) start[cols.users[e] + 1]++;
  for (let u = 0; u < numUsers; u++) start[u + 1] += start[u];
  const order = new Uint32Array(cols.length);
  const fill = start.slice(0, numUsers);
  for (let e = 0; e < cols.length; e++) order[fill[cols.users[e]]++] = e;

  const ptr = new Uint32Array(numUsers + 1);
  const idx = new Int32Array(cols.length); // nnz <= events; trimmed below
  let nnz = 0;
  const latest = new Map<number, number>();
  for (let u = 0; u < numUsers; u++) {
    latest.clear();
    for (let k = start[u]; k < start[u + 1]; k++) {
      const e = order[k];
      const item = cols.items[e];
      const t = cols.times[e];
      const seen = latest.get(item);
      if (seen === undefined || t > seen) latest.set(item, t);
    }
    let kept: number[] = [...latest.keys()];
    if (kept.length > cap) {
      kept.sort((a, b) =>
        (latest.get(b)! - latest.get(a)!) ||
        compareIds(items.idOf(a), items.idOf(b))
      );
      kept = kept.slice(0, cap);
    }
    idx.set(kept, nnz);
    idx.subarray(nnz, nnz + kept.length).sort();
    nnz += kept.length;
    ptr[u + 1] = nnz;
  }
  return new SparseBinaryMatrix(numUsers, items.size, ptr, idx.slice(0, nnz));
}
