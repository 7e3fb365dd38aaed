/**
 * The Elasticsearch backend and index lifecycle: connecting, the index
 * mapping of a model, bulk indexing, versioned builds published behind an
 * alias (verified before an atomic swap, rollback, retention), serving
 * requests as searches, search templates, and an event store.
 *
 * @example Publish a model and serve it (needs a running cluster)
 * ```ts ignore
 * import { connect, ElasticsearchRecommender, publishIndex } from "./mod.ts";
 *
 * const client = await connect({ url: "http://127.0.0.1:9200" });
 * await publishIndex(client, "cco-items", model);
 * const recs = await new ElasticsearchRecommender(client, "cco-items")
 *   .recommend({ history: ["stove"] });
 * await client.close();
 * ```
 *
 * @module
 */

export {
  type Client,
  clientError,
  type ClientOptions,
  type ClientRequestOptions,
  createClient,
  type SearchAnswer,
  type SearchHit,
} from "./client.ts";
export * from "./connection.ts";
export * from "./mapping.ts";
export * from "./indexing.ts";
export * from "./lifecycle.ts";
export * from "./recommender.ts";
export * from "./query.ts";
export * from "./templates.ts";
export * from "./event_store.ts";
