/**
 * What a model is: the item document, indicator field naming, the model
 * manifest, item metadata, and the NDJSON format a model is exported in.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyFields, manifestFor } from "./mod.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"], indicators_view: ["c"] }];
 * const manifest = manifestFor(documents, { primaryEvent: "buy" });
 * assert.equal(historyFields(manifest).get("view"), "indicators_view");
 * ```
 *
 * @module
 */

export * from "./document.ts";
export * from "./fields.ts";
export * from "./items.ts";
export * from "./manifest.ts";
export * from "./ndjson.ts";
export * from "./mahout.ts";
