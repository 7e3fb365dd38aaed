/**
 * Building indicators: binarized, history-capped interactions per event
 * type, item-to-item co-occurrence scored by signed root LLR, top-k per item
 * above a threshold, and indicator weights; the result is a model (its
 * manifest and one document per item).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildIndicators } from "./mod.ts";
 *
 * const events = [
 *   { user: "u1", item: "tent", event: "buy", timestamp: 1 },
 *   { user: "u1", item: "stove", event: "buy", timestamp: 2 },
 *   { user: "u2", item: "tent", event: "buy", timestamp: 3 },
 *   { user: "u2", item: "stove", event: "buy", timestamp: 4 },
 *   { user: "u3", item: "novel", event: "buy", timestamp: 5 },
 * ];
 * const { documents, manifest } = await buildIndicators(events, {
 *   primaryEvent: "buy",
 *   minRootLlr: 0, // the default threshold (5) needs more data than this
 * });
 * assert.deepEqual(documents.find((d) => d.id === "tent")?.indicators, ["stove"]);
 * assert.equal(manifest.fields[0].name, "indicators");
 * ```
 *
 * @module
 */

export * from "./build.ts";
export * from "./interactions.ts";
export * from "./llr.ts";
export * from "./min_events.ts";
export * from "./rankings.ts";
export * from "./sparse.ts";
export * from "./weights.ts";
export * from "./learned.ts";
export * from "./significance.ts";
