/**
 * Item metadata for business rules: read an items file (CSV or NDJSON, plain
 * or `.gz`), merge it into the indicator documents, and map its fields.
 *
 * Known fields and their Elasticsearch types: `category` (keyword),
 * `available` (boolean; `true`/`false`/`1`/`0` in CSV), `popularity`
 * (float; the build sets it to the number of distinct users with the
 * primary event, a file value overrides), `updated` (date; ISO text or unix
 * milliseconds). Any other field is user-supplied: CSV values are keywords;
 * NDJSON values keep their JSON type (string or array of strings → keyword,
 * number → double, boolean → boolean).
 *
 * @example
 * ```ts
 * import { mergeItems, parseItems } from "./items.ts";
 * import type { IndicatorDocument } from "../indicators/build.ts";
 *
 * const items = await parseItems(
 *   "id,category,available\nA,tents,1\n",
 *   "items.csv",
 * );
 * const docs: IndicatorDocument[] = [{ id: "A", indicators: [], scores: {} }];
 * mergeItems(docs, items); // { matched: 1, added: 0 }
 * docs[0].metadata; // { category: "tents", available: true }
 * ```
 *
 * @module
 */

import { ndjsonValues } from "./_ndjson_lines.ts";
import type { IndicatorDocument } from "../indicators/build.ts";

/** A metadata value. */
export type MetadataValue = string | number | boolean | string[];

/** Metadata of one item. */
export type ItemMetadata = Record<string, MetadataValue>;

/** Raised for a malformed items file: `file:line: cause`. */
export class ItemsError extends Error {
  /**
   * Creates the error.
   *
   * @param message `file:line: cause`.
   */
  constructor(message: string) {
    super(message);
    this.name = "ItemsError";
  }
}

const KNOWN_TYPES: Record<string, string> = {
  category: "keyword",
  available: "boolean",
  popularity: "float",
  updated: "date",
};

const RESERVED = /^(id|_.*|scores|indicators|indicators_.*|similar_.*)$/;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function coerce(
  field: string,
  value: unknown,
  where: string,
  fromCsv: boolean,
): MetadataValue {
  const fail = (what: string): never => {
    throw new ItemsError(
      `${where}: "${field}" must be ${what}, got ${JSON.stringify(value)}`,
    );
  };
  switch (field) {
    case "available":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      return fail("true, false, 1 or 0");
    case "popularity": {
      const n = typeof value === "number" ? value : Number(value);
      if (value === "" || !Number.isFinite(n)) return fail("a number");
      return n;
    }
    case "updated": {
      const ms = typeof value === "number"
        ? value
        : /^\d+$/.test(String(value))
        ? Number(value)
        : Date.parse(String(value));
      if (!Number.isFinite(ms)) return fail("a date (ISO 8601 or unix ms)");
      return new Date(ms).toISOString();
    }
    case "category":
      if (typeof value !== "string" || value === "") {
        return fail("a non-empty string");
      }
      return value;
  }
  if (fromCsv) return String(value);
  if (
    typeof value === "string" || typeof value === "boolean" ||
    (typeof value === "number" && Number.isFinite(value))
  ) return value;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    return value;
  }
  return fail("a string, number, boolean or array of strings");
}

/**
 * Parses an items file's text: CSV with a header holding `id` (or `itemid`)
 * and field names, or NDJSON objects with an `id`.
 *
 * @example
 * ```ts
 * import { parseItems } from "./items.ts";
 *
 * const items = await parseItems('{"id":"A","brand":"acme","stock":3}\n', "items.ndjson");
 * items.get("A"); // { brand: "acme", stock: 3 }
 * ```
 *
 * @param text File content.
 * @param source File name: `.ndjson`/`.jsonl` (optionally `.gz`) means
 * NDJSON, anything else CSV.
 * @returns Metadata by item id.
 * @throws {ItemsError} Naming file, line and cause.
 */
export function parseItems(
  text: string,
  source: string,
): Promise<Map<string, ItemMetadata>> {
  try {
    return Promise.resolve(
      /\.(nd)?jsonl?(\.gz)?$|\.ndjson(\.gz)?$/.test(source)
        ? parseNdjson(text, source)
        : parseCsv(text, source),
    );
  } catch (error) {
    return Promise.reject(error);
  }
}

function checkField(field: string, where: string) {
  if (RESERVED.test(field) || !FIELD_NAME.test(field)) {
    throw new ItemsError(
      `${where}: "${field}" cannot be a metadata field (reserved or not a plain name)`,
    );
  }
}

function parseCsv(text: string, source: string): Map<string, ItemMetadata> {
  const lines = text.split("\n").map((l) =>
    l.endsWith("\r") ? l.slice(0, -1) : l
  );
  if (lines.at(-1) === "") lines.pop();
  if (lines.length === 0) throw new ItemsError(`${source}:1: empty items file`);
  const header = lines[0].split(",").map((h) => h.trim());
  const idCol = header.findIndex((h) => h === "id" || h === "itemid");
  if (idCol < 0) {
    throw new ItemsError(
      `${source}:1: missing header: expected an "id" (or "itemid") column, found "${
        lines[0]
      }"`,
    );
  }
  header.forEach((h, i) => i !== idCol && checkField(h, `${source}:1`));
  const items = new Map<string, ItemMetadata>();
  for (let n = 1; n < lines.length; n++) {
    const where = `${source}:${n + 1}`;
    const cells = lines[n].split(",");
    if (cells.length !== header.length) {
      throw new ItemsError(
        `${where}: expected ${header.length} columns, got ${cells.length}`,
      );
    }
    const id = cells[idCol];
    if (!id) throw new ItemsError(`${where}: empty item id`);
    if (items.has(id)) {
      throw new ItemsError(`${where}: duplicate item id "${id}"`);
    }
    const meta: ItemMetadata = {};
    header.forEach((field, i) => {
      if (i === idCol || cells[i] === "") return; // empty cell: no value
      meta[field] = coerce(field, cells[i], where, true);
    });
    items.set(id, meta);
  }
  return items;
}

function parseNdjson(text: string, source: string): Map<string, ItemMetadata> {
  const items = new Map<string, ItemMetadata>();
  for (
    const [where, value] of ndjsonValues(text, source, (m) => new ItemsError(m))
  ) {
    const obj = value as Record<string, unknown>;
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new ItemsError(`${where}: expected a JSON object`);
    }
    const id = obj.id ?? obj.itemid;
    if (typeof id !== "string" && typeof id !== "number") {
      throw new ItemsError(`${where}: expected a string "id"`);
    }
    const key = String(id);
    if (items.has(key)) {
      throw new ItemsError(`${where}: duplicate item id "${key}"`);
    }
    const meta: ItemMetadata = {};
    for (const [field, v] of Object.entries(obj)) {
      if (field === "id" || field === "itemid" || v === null) continue;
      checkField(field, where);
      meta[field] = coerce(field, v, where, false);
    }
    items.set(key, meta);
  }
  return items;
}

/**
 * Reads an items file (CSV or NDJSON, `.gz` allowed).
 *
 * @example
 * ```ts ignore
 * import { readItems } from "./items.ts";
 *
 * const items = await readItems("items.csv");
 * ```
 *
 * @param path File path.
 * @returns Metadata by item id.
 * @throws {ItemsError} When unreadable or malformed.
 */
export async function readItems(
  path: string,
): Promise<Map<string, ItemMetadata>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new ItemsError(
      `${path}:0: cannot open: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (path.endsWith(".gz")) {
    bytes = new Uint8Array(
      await new Response(
        new Blob([bytes as Uint8Array<ArrayBuffer>]).stream().pipeThrough(
          new DecompressionStream("gzip"),
        ),
      ).arrayBuffer(),
    );
  }
  return parseItems(new TextDecoder().decode(bytes), path);
}

/**
 * Merges metadata into documents (in place). Items that have metadata but
 * no document get one with empty indicator fields, so filters and backfill
 * can still see them.
 *
 * @example
 * ```ts
 * import { mergeItems } from "./items.ts";
 *
 * const docs = [{ id: "A", indicators: ["B"], scores: {} }];
 * mergeItems(docs, new Map([["Z", { category: "x" }]])); // { matched: 0, added: 1 }
 * docs[1]; // { id: "Z", indicators: [], scores: {}, metadata: { category: "x" } }
 * ```
 *
 * @param documents Indicator documents (extended in place).
 * @param items Metadata by item id.
 * @returns How many documents got metadata, and how many were added.
 */
export function mergeItems(
  documents: IndicatorDocument[],
  items: ReadonlyMap<string, ItemMetadata>,
): { matched: number; added: number } {
  const fields = new Set<string>();
  for (const d of documents.slice(0, 1)) {
    for (const k of Object.keys(d)) {
      if (k !== "id" && k !== "scores" && k !== "metadata") fields.add(k);
    }
  }
  let matched = 0;
  const seen = new Set<string>();
  for (const doc of documents) {
    const meta = items.get(doc.id);
    if (!meta) continue;
    doc.metadata = { ...doc.metadata, ...meta };
    seen.add(doc.id);
    matched++;
  }
  let added = 0;
  for (const [id, meta] of items) {
    if (seen.has(id)) continue;
    const doc = { id, indicators: [] } as unknown as IndicatorDocument;
    for (const f of fields) {
      (doc as unknown as Record<string, string[]>)[f] = [];
    }
    doc.scores = {};
    doc.metadata = { ...meta };
    documents.push(doc);
    added++;
  }
  return { matched, added };
}

/**
 * Elasticsearch field mappings for the metadata of some documents.
 *
 * @example
 * ```ts
 * import { metadataMapping } from "./items.ts";
 *
 * metadataMapping([{ metadata: { category: "tents", stock: 3, tags: ["x"] } }]);
 * // { category: { type: "keyword" }, stock: { type: "double" }, tags: { type: "keyword" } }
 * ```
 *
 * @param documents Documents with optional `metadata`.
 * @returns Properties by field.
 * @throws {ItemsError} When a user field mixes types across items.
 */
export function metadataMapping(
  documents: Iterable<{ metadata?: ItemMetadata }>,
): Record<string, { type: string }> {
  const types: Record<string, string> = {};
  for (const doc of documents) {
    for (const [field, value] of Object.entries(doc.metadata ?? {})) {
      const type = KNOWN_TYPES[field] ??
        (typeof value === "boolean"
          ? "boolean"
          : typeof value === "number"
          ? "double"
          : "keyword");
      if (types[field] && types[field] !== type) {
        throw new ItemsError(
          `metadata field "${field}" mixes ${types[field]} and ${type} values`,
        );
      }
      types[field] = type;
    }
  }
  return Object.fromEntries(
    Object.entries(types).map(([f, type]) => [f, { type }]),
  );
}
