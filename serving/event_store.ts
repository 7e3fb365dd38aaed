/**
 * Event stores: record live events and read a user's recent history, so
 * that a request can name a `user` instead of carrying the history.
 *
 * - {@linkcode MemoryEventStore}: in process, keeps each user's newest
 *   `maxEventsPerUser` events (default 1000).
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
 * import { MemoryEventStore, withUserHistory } from "./event_store.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 *
 * const store = new MemoryEventStore();
 * await store.recordEvent({ user: "u1", item: "b", event: "transaction", timestamp: 1 });
 * const recommender = withUserHistory(
 *   new EmbeddedRecommender([{ id: "a", indicators: ["b"] }]),
 *   store,
 * );
 * (await recommender.recommend({ user: "u1", backfill: false })).map((r) => r.id); // ["a"]
 * ```
 *
 * @module
 */

import type { Client } from "@elastic/elasticsearch";
import type { ElasticsearchClient } from "../elasticsearch/connection.ts";
import type { Event } from "../events/read.ts";
import type { EventStore } from "../http/handler.ts";
import type {
  Recommendation,
  Recommender,
  RecommendRequest,
} from "./request.ts";

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

function recent(
  events: Iterable<{ item: string; event: string }>,
  maxPerType: number,
): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const seen: Record<string, Set<string>> = {};
  for (const { item, event } of events) {
    const s = seen[event] ??= new Set();
    if (s.has(item) || s.size >= maxPerType) continue;
    s.add(item);
    (out[event] ??= []).push(item);
  }
  return out;
}

/**
 * An in-process event store.
 *
 * @example
 * ```ts
 * import { MemoryEventStore } from "./event_store.ts";
 *
 * const store = new MemoryEventStore();
 * await store.recordEvent({ user: "u", item: "a", event: "view", timestamp: 1 });
 * await store.recordEvent({ user: "u", item: "b", event: "view", timestamp: 2 });
 * await store.recentHistory("u", 20); // { view: ["b", "a"] }
 * ```
 */
export class MemoryEventStore implements HistoryStore {
  #byUser = new Map<string, Event[]>();
  #max: number;

  /**
   * Creates an empty store.
   *
   * @param maxEventsPerUser Newest events kept per user (default 1000).
   */
  constructor(maxEventsPerUser = 1000) {
    this.#max = maxEventsPerUser;
  }

  /**
   * Records one event.
   *
   * @param event The event.
   */
  recordEvent(event: Event): Promise<void> {
    const list = this.#byUser.get(event.user) ?? [];
    list.push({ ...event });
    list.sort((a, b) => a.timestamp - b.timestamp);
    if (list.length > this.#max) list.splice(0, list.length - this.#max);
    this.#byUser.set(event.user, list);
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
    const list = this.#byUser.get(user) ?? [];
    return Promise.resolve(recent([...list].reverse(), maxPerType));
  }
}

/**
 * An event store in an Elasticsearch index.
 *
 * @example
 * ```ts ignore
 * import { ElasticsearchEventStore } from "./event_store.ts";
 *
 * const store = new ElasticsearchEventStore(client, "cco-events");
 * await store.ensureIndex();
 * await store.recordEvent({ user: "u", item: "a", event: "view", timestamp: Date.now() });
 * ```
 */
export class ElasticsearchEventStore implements HistoryStore {
  readonly #client: Client;
  /** The index name. */
  readonly index: string;
  #refresh: boolean;

  /**
   * Uses `index` (create it with {@linkcode ElasticsearchEventStore.ensureIndex}).
   *
   * @param client A connected client.
   * @param index Index name (default `cco-events`).
   * @param options `refresh`: make each event searchable at once (tests;
   * default false).
   */
  constructor(
    client: ElasticsearchClient,
    index = "cco-events",
    options: { refresh?: boolean } = {},
  ) {
    this.#client = client as unknown as Client;
    this.index = index;
    this.#refresh = options.refresh ?? false;
  }

  /** Creates the index with its mapping when it does not exist. */
  async ensureIndex(): Promise<void> {
    if (await this.#client.indices.exists({ index: this.index })) return;
    await this.#client.indices.create({
      index: this.index,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: {
        dynamic: "strict",
        properties: {
          user: { type: "keyword" },
          item: { type: "keyword" },
          event: { type: "keyword" },
          timestamp: { type: "date", format: "epoch_millis" },
        },
      },
    });
  }

  /**
   * Records one event.
   *
   * @param event The event.
   */
  async recordEvent(event: Event): Promise<void> {
    await this.#client.index({
      index: this.index,
      document: { ...event },
      refresh: this.#refresh,
    });
  }

  /**
   * The user's recent distinct items per event type, newest first (reads
   * at most the newest 1000 events of the user).
   *
   * @param user User id.
   * @param maxPerType Items kept per type.
   * @returns Item ids by event type.
   */
  async recentHistory(
    user: string,
    maxPerType: number,
  ): Promise<Record<string, string[]>> {
    const response = await this.#client.search<Event>({
      index: this.index,
      query: { term: { user } },
      sort: [{ timestamp: { order: "desc" } }, { item: { order: "asc" } }],
      size: 1000,
    });
    return recent(response.hits.hits.map((h) => h._source!), maxPerType);
  }

  /**
   * Deletes events older than `before` (retention).
   *
   * @param before Cut-off date.
   * @returns How many events were deleted.
   */
  async prune(before: Date): Promise<number> {
    // No _delete_by_query: minimal distributions lack the reindex module.
    // Search the old events in pages and bulk-delete them by id.
    let deleted = 0;
    for (;;) {
      const page = await this.#client.search({
        index: this.index,
        query: { range: { timestamp: { lt: before.getTime() } } },
        size: 1000,
        _source: false,
      });
      const ids = page.hits.hits.map((h) => h._id!);
      if (ids.length === 0) return deleted;
      const result = await this.#client.bulk({
        operations: ids.map((_id) => ({ delete: { _index: this.index, _id } })),
        refresh: true,
      });
      if (result.errors) {
        throw new Error(`pruning ${this.index}: some deletes failed`);
      }
      deleted += ids.length;
    }
  }
}

/**
 * Lets `recommender` answer `{ user }` requests from `store`: the user's
 * recent history (default 20 items per event type) joins any history in the
 * request (request items first).
 *
 * @example
 * ```ts ignore
 * const r = withUserHistory(recommender, store, { maxPerType: 50 });
 * await r.recommend({ user: "u1", num: 10 });
 * ```
 *
 * @param recommender The backend.
 * @param store Where histories come from.
 * @param options History length per event type; the primary event type
 * (what an array history means, default `transaction`).
 * @returns A recommender that accepts `user`.
 */
export function withUserHistory(
  recommender: Recommender,
  store: HistoryStore,
  options: { maxPerType?: number; primaryEvent?: string } = {},
): Recommender {
  const maxPerType = options.maxPerType ?? 20;
  const primary = options.primaryEvent ?? "transaction";
  return {
    async recommend(request: RecommendRequest): Promise<Recommendation[]> {
      const { user, ...rest } = request;
      if (user === undefined) return recommender.recommend(request);
      if (typeof user !== "string" || user === "") {
        throw new TypeError("request.user must be a non-empty string");
      }
      const stored = await store.recentHistory(user, maxPerType);
      const given = Array.isArray(rest.history)
        ? { [primary]: rest.history as string[] }
        : (rest.history ?? {}) as Record<string, string[]>;
      const history: Record<string, string[]> = { ...stored };
      for (const [type, items] of Object.entries(given)) {
        history[type] = [...items, ...(stored[type] ?? [])];
      }
      return recommender.recommend({ ...rest, history });
    },
  };
}
