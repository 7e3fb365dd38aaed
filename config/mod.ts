/**
 * The settings file (`cco.json`), its JSON Schema, and the small schema
 * validator behind both.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSettings } from "./mod.ts";
 *
 * assert.throws(
 *   () => parseSettings({ elasticsearch: { alias: "Bad" } }, "cco.json"),
 *   /cco.json: elasticsearch.alias must match/,
 * );
 * ```
 *
 * @module
 */

export * from "./settings.ts";
export * from "./schema.ts";
