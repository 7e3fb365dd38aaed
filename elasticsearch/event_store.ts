/**
 * An event store in an Elasticsearch index: `user`, `item`, `event`
 * keywords and a `timestamp` date. Retention:
 * {@linkcode ElasticsearchEventStore.prune} deletes events older than a
 * date; run it on a schedule (e.g. keep 90 days, more than any history cap
 * needs).
 *
 * @example
 * ```ts ignore
 * import { ElasticsearchEventStore } from "./event_store.ts";
 *
 * const store = new ElasticsearchEventStore(client, "cco-events");
 * await store.ensureIndex();
 * await store.recordEvent({ user: "u", item: "a", event: "view", timestamp: Date.now() });
 * ```
 *
 * @module
 */

import type { Client } from "./client.ts";
import type { Event } from "../events/format.ts";
import { recentDistinct } from "../serving/event_store.ts";
import type { HistoryStore } from "../serving/event_store.ts";

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
    client: Client,
    index = "cco-events",
    options: { refresh?: boolean } = {},
  ) {
    this.#client = client;
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
    const response = await this.#client.search({
      index: this.index,
      query: { term: { user } },
      sort: [{ timestamp: { order: "desc" } }, { item: { order: "asc" } }],
      size: 1000,
    });
    return recentDistinct(
      response.hits.hits.map((h) => h._source as Event),
      maxPerType,
    );
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
