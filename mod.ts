/**
 * cco-es: a Mahout-style recommender that computes item-to-item LLR
 * indicators from interaction events and serves recommendations as search
 * queries, on Elasticsearch or on an embedded in-process backend.
 *
 * The pipeline:
 *
 * 1. {@linkcode readEvents} streams an events file (RetailRocket CSV by
 *    default; presets and a format option cover other logs).
 * 2. {@linkcode buildIndicators} turns events into one
 *    {@linkcode IndicatorDocument} per item: the items whose purchases
 *    co-occur with it more than chance (signed root LLR, top-k above a
 *    threshold, per-user history capped to the most recent interactions).
 * 3. {@linkcode indexDocuments} indexes them into Elasticsearch, or
 *    {@linkcode EmbeddedRecommender} holds them in memory.
 * 4. `recommend({ history })` ranks items by the summed strength of the
 *    history's matches in their indicators (root LLR × idf weights on
 *    `sparse_vector` fields, see {@linkcode indicatorWeights}; or BM25 on
 *    `keyword` fields with `weights: "none"`):
 *    {@linkcode ElasticsearchRecommender} and {@linkcode EmbeddedRecommender}
 *    give the same ranking.
 *
 * @example Build and recommend in process
 * ```ts
 * import { buildIndicators, EmbeddedRecommender, parseEvents } from "./mod.ts";
 *
 * const csv = `timestamp,visitorid,event,itemid,transactionid
 * 1000,1,transaction,tent,t1
 * 2000,1,transaction,stove,t1
 * 3000,2,transaction,tent,t2
 * 4000,2,transaction,stove,t2
 * 5000,3,transaction,novel,t3
 * `;
 * const { documents } = await buildIndicators(parseEvents(csv), {
 *   minRootLlr: 0, // the default threshold (5) needs more data than this
 * });
 * const recommender = new EmbeddedRecommender(documents);
 * await recommender.recommend({ history: ["tent"] });
 * // [{ id: "stove", score: 0.28... }]
 * ```
 *
 * @module
 */

export * from "./events/read.ts";
export * from "./indicators/llr.ts";
export * from "./indicators/sparse.ts";
export * from "./indicators/interactions.ts";
export * from "./indicators/build.ts";
export * from "./serving/request.ts";
export * from "./embedded/bm25.ts";
export * from "./indicators/weights.ts";
export * from "./elasticsearch/query.ts";
export * from "./embedded/recommender.ts";
export * from "./elasticsearch/connection.ts";
export * from "./elasticsearch/recommender.ts";
export * from "./elasticsearch/lifecycle.ts";
export * from "./model/ndjson.ts";
export * from "./model/items.ts";
export * from "./model/mahout.ts";
export * from "./http/handler.ts";
export * from "./serving/event_store.ts";
export * from "./serving/dither.ts";
export * from "./elasticsearch/templates.ts";
export * from "./evaluate/metrics.ts";
export * from "./evaluate/evaluate.ts";
export { TopK } from "./indicators/top_k.ts";
