/**
 * The embedded backend: an in-process inverted index over a model that
 * answers requests with the same ranking and scores as Elasticsearch,
 * without a server and without loading the Elasticsearch client.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EmbeddedRecommender } from "./mod.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [
 *   { id: "tent", indicators: ["stove"] },
 *   { id: "stove", indicators: ["tent"] },
 * ];
 * const r = new EmbeddedRecommender({ manifest: manifestFor(documents, { primaryEvent: "buy" }), documents });
 * const [first] = await r.recommend({ history: ["stove"] });
 * assert.equal(first.id, "tent");
 * ```
 *
 * @module
 */

export * from "./recommender.ts";
export * from "./bm25.ts";
