/**
 * The serving contract every backend implements: the request (history per
 * event type, item-based queries, business rules, paging, dithering), its
 * validation against the model, and event stores that supply a user's
 * history.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeRequest, resolveServing } from "./mod.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * assert.throws(
 *   () => normalizeRequest({ num: 0 }, manifest, resolveServing(manifest)),
 *   { name: "RequestError", message: "request.num must be >= 1, got 0" },
 * );
 * ```
 *
 * @module
 */

export * from "./request.ts";
export * from "./dither.ts";
export * from "./event_store.ts";
export * from "./batch.ts";
export * from "./batch_worker.ts";
