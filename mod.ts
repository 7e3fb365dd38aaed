/**
 * cco-es: a recommender in the line of Apache Mahout's correlated
 * cross-occurrence and the Universal Recommender. It computes item-to-item
 * LLR indicators from interaction events and serves recommendations as
 * search queries, on Elasticsearch or on an embedded in-process backend
 * that gives the same ranking.
 *
 * This module is the common path, and loads no Elasticsearch client:
 *
 * 1. {@linkcode readEvents} streams an events log (RetailRocket CSV by
 *    default; {@linkcode PRESETS} and an {@linkcode EventFormat} cover others).
 * 2. {@linkcode buildIndicators} turns events into a model: its
 *    {@linkcode ModelManifest} (primary event, fields and their settings,
 *    counts) and one {@linkcode IndicatorDocument} per item.
 * 3. {@linkcode writeModel} / {@linkcode readModel} store it as NDJSON.
 * 4. {@linkcode EmbeddedRecommender} answers {@linkcode RecommendRequest}s
 *    from it in process.
 *
 * The stages have their own modules: `@cco/recommender/events`,
 * `/indicators`, `/model`, `/serving`, `/embedded`, `/elasticsearch` (the
 * cluster backend and index lifecycle), `/http`, `/evaluate`, `/generate`,
 * `/config`, `/errors`.
 *
 * @example Build and recommend in process
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildIndicators, EmbeddedRecommender, parseEvents } from "./mod.ts";
 *
 * const csv = `timestamp,visitorid,event,itemid,transactionid
 * 1000,1,transaction,tent,t1
 * 2000,1,transaction,stove,t1
 * 3000,2,transaction,tent,t2
 * 4000,2,transaction,stove,t2
 * 5000,3,transaction,novel,t3
 * `;
 * const model = await buildIndicators(parseEvents(csv), {
 *   primaryEvent: "transaction",
 *   minRootLlr: 0, // the default threshold (5) needs more data than this
 * });
 * const recommender = new EmbeddedRecommender(model);
 * const recs = await recommender.recommend({ history: ["tent"] });
 * assert.deepEqual(recs.map((r) => [r.id, !!r.backfill]), [
 *   ["stove", false], // bought with tents
 *   ["novel", true], // then the most popular items, as backfill
 * ]);
 * ```
 *
 * @module
 */

export {
  type Event,
  type EventFormat,
  PRESETS,
  type TimestampUnit,
} from "./events/format.ts";
export {
  EventParseError,
  parseEvents,
  readEventBatches,
  readEvents,
  type ReadOptions,
  type SkipReport,
} from "./events/read.ts";
export {
  buildIndicators,
  type BuildOptions,
  type BuildStats,
  type IndicatorModel,
  type IndicatorOptions,
} from "./indicators/build.ts";
export type {
  IndexableDocument,
  IndicatorDocument,
  ItemMetadata,
  MetadataValue,
} from "./model/document.ts";
export {
  type FieldManifest,
  manifestFor,
  type MetadataType,
  type Model,
  type ModelManifest,
  type Weighting,
} from "./model/manifest.ts";
export { ItemsError, mergeItems, readItems } from "./model/items.ts";
export { openModel, readModel, writeModel } from "./model/ndjson.ts";
export type {
  Boost,
  Filter,
  Recommendation,
  Recommender,
  RecommendOptions,
  RecommendRequest,
  ServingOptions,
} from "./serving/request.ts";
export type {
  BatchWorkerSource,
  ForkableRecommender,
} from "./serving/batch.ts";
export { EmbeddedRecommender } from "./embedded/recommender.ts";
export {
  CcoError,
  ConfigError,
  DeadlineError,
  ModelError,
  RequestError,
  UnavailableError,
} from "./errors/mod.ts";
