/**
 * Event stores: record live events and read a user's recent history, so
 * that a request can name a `user` instead of carrying the history.
 *
 * - {@linkcode MemoryEventStore}: in process, keeps each user's newest
 *   `maxEventsPerUser` events (default 1000), for at most `maxUsers` users
 *   (default 100 000) and `maxAgeMs` after their last event (default 30
 *   days).
 * - {@linkcode ElasticsearchEventStore}: an `events` index (`user`, `item`,
 *   `event` keywords, `timestamp` date). Retention: {@linkcode
 *   ElasticsearchEventStore.prune} deletes events older than a date; run it
 *   on a schedule (e.g. keep 90 days, more than any history cap needs).
 *
 * {@linkcode withUserHistory} wraps any recommender so `{ user }` requests
 * are answered from the store: the user's most recent distinct items per
 * event type (default 20 each), most recent first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryEventStore, withUserHistory } from "./event_store.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const store = new MemoryEventStore();
 * await store.recordEvent({ user: "u1", item: "b", event: "transaction", timestamp: 1 });
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const recommender = withUserHistory(
 *   new EmbeddedRecommender({
 *     manifest: manifestFor(documents, { primaryEvent: "transaction" }),
 *     documents,
 *   }),
 *   store,
 * );
 * assert.deepEqual((await recommender.recommend({ user: "u1", backfill: false })).map((r) => r.id), ["a"]);
 * ```
 *
 * @module
 */

import type { Event } from "../events/format.ts";
import { ConfigError, RequestError } from "../errors/mod.ts";
import { historyFields } from "../model/manifest.ts";
import {
  MAX_ID_LENGTH,
  type Recommendation,
  type Recommender,
  type RecommendOptions,
  type RecommendRequest,
} from "./request.ts";

/** Somewhere to record events. */
export interface EventStore {
  /**
   * Records one event.
   *
   * @param event The event.
   */
  recordEvent(event: Event): Promise<void>;
}

/** An event store that can also read a user's recent history. */
export interface HistoryStore extends EventStore {
  /**
   * The user's most recent distinct items per event type, newest first.
   *
   * @param user User id.
   * @param maxPerType Items kept per event type.
   * @returns Item ids by event type.
   */
  recentHistory(
    user: string,
    maxPerType: number,
  ): Promise<Record<string, string[]>>;
}

/**
 * A user's most recent distinct items per event type, newest first, from
 * their events newest first (at most `maxPerType` per type). Event names
 * are data: any name, `constructor` and `__proto__` included, is a plain
 * key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { recentDistinct } from "./event_store.ts";
 *
 * assert.deepEqual(
 *   recentDistinct([
 *     { item: "b", event: "view" },
 *     { item: "a", event: "view" },
 *     { item: "b", event: "view" },
 *     { item: "c", event: "constructor" },
 *   ], 20),
 *   { view: ["b", "a"], constructor: ["c"] },
 * );
 * ```
 *
 * @param events Events, newest first.
 * @param maxPerType Items kept per type.
 * @returns Item ids by event type.
 */
export function recentDistinct(
  events: Iterable<{ item: string; event: string }>,
  maxPerType: number,
): Record<string, string[]> {
  const out = new Map<string, string[]>();
  const seen = new Map<string, Set<string>>();
  for (const { item, event } of events) {
    let s = seen.get(event);
    if (!s) seen.set(event, s = new Set());
    if (s.has(item) || s.size >= maxPerType) continue;
    s.add(item);
    let list = out.get(event);
    if (!list) out.set(event, list = []);
    list.push(item);
  }
  return Object.fromEntries(out);
}

/** Bounds of a {@linkcode MemoryEventStore}. */
export interface MemoryEventStoreOptions {
  /** Newest events kept per user (default 1000). */
  maxEventsPerUser?: number;
  /**
   * Users kept (default 100 000): past it, the user whose last event was
   * recorded the longest ago is forgotten.
   */
  maxUsers?: number;
  /**
   * Milliseconds a user is kept after their last recorded event (default
   * 30 days): by the time events arrive, not their timestamps.
   */
  maxAgeMs?: number;
  /** Clock, for tests (default `Date.now`). */
  now?: () => number;
}

/** Default of {@linkcode MemoryEventStoreOptions.maxUsers}. */
export const DEFAULT_MAX_USERS = 100_000;
/** Default of {@linkcode MemoryEventStoreOptions.maxAgeMs}: 30 days. */
export const DEFAULT_MAX_AGE_MS = 30 * 24 * 3600 * 1000;

interface UserEvents {
  events: { item: string; event: string; timestamp: number }[];
  touched: number;
}

/**
 * An in-process event store, bounded in users and age (see
 * {@linkcode MemoryEventStoreOptions}): memory stays bounded however many
 * distinct users post events. Users are kept in a `Map` (no user id
 * collides with anything).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryEventStore } from "./event_store.ts";
 *
 * const store = new MemoryEventStore({ maxUsers: 2 });
 * await store.recordEvent({ user: "u", item: "a", event: "view", timestamp: 1 });
 * await store.recordEvent({ user: "u", item: "b", event: "view", timestamp: 2 });
 * assert.deepEqual(await store.recentHistory("u", 20), { view: ["b", "a"] });
 * await store.recordEvent({ user: "v", item: "a", event: "view", timestamp: 3 });
 * await store.recordEvent({ user: "w", item: "a", event: "view", timestamp: 4 });
 * assert.equal(store.users, 2); // "u" was the least recently active
 * assert.deepEqual(await store.recentHistory("u", 20), {});
 * ```
 */
export class MemoryEventStore implements HistoryStore {
  #byUser = new Map<string, UserEvents>();
  #max: number;
  #maxUsers: number;
  #maxAge: number;
  #now: () => number;

  /**
   * Creates an empty store.
   *
   * @param options Bounds, or the newest events kept per user (default 1000).
   * @throws {ConfigError} For a bound that is not a positive integer.
   */
  constructor(options: number | MemoryEventStoreOptions = {}) {
    const o = typeof options === "number"
      ? { maxEventsPerUser: options }
      : options;
    for (const key of ["maxEventsPerUser", "maxUsers", "maxAgeMs"] as const) {
      const v = o[key];
      if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
        throw new ConfigError(key, `must be an integer >= 1, got ${v}`);
      }
    }
    this.#max = o.maxEventsPerUser ?? 1000;
    this.#maxUsers = o.maxUsers ?? DEFAULT_MAX_USERS;
    this.#maxAge = o.maxAgeMs ?? DEFAULT_MAX_AGE_MS;
    this.#now = o.now ?? Date.now;
  }

  /** Users held now. */
  get users(): number {
    return this.#byUser.size;
  }

  // users are in the order of their last event: the stale ones lead
  #expire(now: number) {
    for (const [user, u] of this.#byUser) {
      if (now - u.touched <= this.#maxAge) break;
      this.#byUser.delete(user);
    }
  }

  /**
   * Records one event.
   *
   * @param event The event.
   */
  recordEvent(event: Event): Promise<void> {
    const now = this.#now();
    this.#expire(now);
    const u = this.#byUser.get(event.user) ?? { events: [], touched: now };
    this.#byUser.delete(event.user); // re-inserted last: the most recent
    const list = u.events;
    const e = {
      item: event.item,
      event: event.event,
      timestamp: event.timestamp,
    };
    // sorted by timestamp; events mostly arrive in order
    let at = list.length;
    while (at > 0 && list[at - 1].timestamp > e.timestamp) at--;
    list.splice(at, 0, e);
    if (list.length > this.#max) list.splice(0, list.length - this.#max);
    u.touched = now;
    this.#byUser.set(event.user, u);
    for (const user of this.#byUser.keys()) {
      if (this.#byUser.size <= this.#maxUsers) break;
      this.#byUser.delete(user);
    }
    return Promise.resolve();
  }

  /**
   * The user's recent distinct items per event type, newest first.
   *
   * @param user User id.
   * @param maxPerType Items kept per type.
   * @returns Item ids by event type.
   */
  recentHistory(
    user: string,
    maxPerType: number,
  ): Promise<Record<string, string[]>> {
    this.#expire(this.#now());
    const list = this.#byUser.get(user)?.events ?? [];
    return Promise.resolve(recentDistinct([...list].reverse(), maxPerType));
  }
}

/**
 * Lets `recommender` answer `{ user }` requests from `store`: the user's
 * recent history (default 20 items per event type) joins any history in the
 * request (request items first). A plain-array history is the model's
 * primary event, as the recommender's manifest says.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MemoryEventStore, withUserHistory } from "./event_store.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const store = new MemoryEventStore();
 * await store.recordEvent({ user: "u1", item: "b", event: "buy", timestamp: 1 });
 * const r = withUserHistory(
 *   new EmbeddedRecommender({ manifest: manifestFor(documents, { primaryEvent: "buy" }), documents }),
 *   store,
 * );
 * assert.deepEqual((await r.recommend({ user: "u1", backfill: false })).map((x) => x.id), ["a"]);
 * ```
 *
 * @param recommender The backend.
 * @param store Where histories come from.
 * @param options History length per event type.
 * @returns A recommender that accepts `user`.
 */
export function withUserHistory(
  recommender: Recommender,
  store: HistoryStore,
  options: { maxPerType?: number } = {},
): Recommender {
  const maxPerType = options.maxPerType ?? 20;
  return {
    manifest: () => recommender.manifest(),
    async recommend(
      request: RecommendRequest,
      callOptions?: RecommendOptions,
    ): Promise<Recommendation[]> {
      if (typeof request !== "object" || request === null) {
        return recommender.recommend(request, callOptions);
      }
      const { user, ...rest } = request;
      if (user === undefined) {
        return recommender.recommend(request, callOptions);
      }
      if (typeof user !== "string" || user === "") {
        throw new RequestError("request.user", "must be a non-empty string");
      }
      if (user.length > MAX_ID_LENGTH) {
        throw new RequestError(
          "request.user",
          `must have at most ${MAX_ID_LENGTH} characters, got ${user.length}`,
        );
      }
      const [stored, manifest] = await Promise.all([
        store.recentHistory(user, maxPerType),
        recommender.manifest(),
      ]);
      const given: Record<string, readonly string[]> =
        Array.isArray(rest.history)
          ? { [manifest.primaryEvent]: rest.history as string[] }
          : (rest.history ?? {}) as Record<string, string[]>;
      // the store holds whatever events were recorded (by another version,
      // or before the limits): types the model lacks and ids no request
      // may carry are not the request's fault, and are left out
      const known = historyFields(manifest);
      const history = new Map<string, readonly string[]>(
        Object.entries(stored).filter(([type]) => known.has(type)).map((
          [type, items],
        ) => [
          type,
          items.filter((i) =>
            typeof i === "string" && i !== "" && i.length <= MAX_ID_LENGTH
          ),
        ]),
      );
      for (const [type, items] of Object.entries(given)) {
        history.set(
          type,
          Array.isArray(items)
            ? [...items, ...(history.get(type) ?? [])]
            : items,
        );
      }
      return recommender.recommend(
        { ...rest, history: Object.fromEntries(history) },
        callOptions,
      );
    },
  };
}
