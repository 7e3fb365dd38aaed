/**
 * The HTTP service over any recommender: a `fetch`-style handler for
 * `Deno.serve`, with JSON errors mapped from the error classes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createHandler } from "./mod.ts";
 * import { EmbeddedRecommender } from "../embedded/recommender.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"] }];
 * const handler = createHandler({
 *   recommender: new EmbeddedRecommender({ manifest: manifestFor(documents, { primaryEvent: "buy" }), documents }),
 *   backend: "embedded",
 *   log: () => {},
 * });
 * const res = await handler(new Request("http://x/recommendations", {
 *   method: "POST",
 *   headers: { "content-type": "application/json" },
 *   body: JSON.stringify({ num: 0 }),
 * }));
 * assert.equal(res.status, 400);
 * ```
 *
 * @module
 */

export * from "./handler.ts";
export * from "./metrics.ts";
export * from "./openapi.ts";
export * from "./access_log.ts";
export * from "./cors.ts";
