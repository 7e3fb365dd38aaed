/**
 * Reading interaction logs: a streaming reader for delimited text (plain
 * or gzip), normalised to {@linkcode Event}s, with presets for known logs
 * and a format object for any other.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEvents } from "./mod.ts";
 *
 * const csv = "timestamp,visitorid,event,itemid,transactionid\n" +
 *   "1433221332117,257597,view,355908,\n";
 * assert.deepEqual(await Array.fromAsync(parseEvents(csv)), [
 *   { user: "257597", item: "355908", event: "view", timestamp: 1433221332117 },
 * ]);
 * ```
 *
 * @module
 */

export * from "./columns.ts";
export * from "./format.ts";
export * from "./read.ts";
