/**
 * Item metadata for business rules: read an items file (CSV or NDJSON, plain
 * or `.gz`), merge it into the indicator documents, and type its fields.
 *
 * Every field has a {@linkcode MetadataType}: the built-in fields
 * ({@linkcode BUILTIN_METADATA}: `category` keyword, `available` boolean,
 * `popularity` number — the build sets it to the number of distinct users
 * with the primary event, a file value overrides —, `updated` date), the
 * fields declared in the settings (`items.fields`, e.g. `"expires": "date"`),
 * and otherwise the values' type: CSV values are keywords; NDJSON values
 * keep their JSON type (string or array of strings → keyword, number →
 * number, boolean → boolean). Dates are stored as ISO 8601 text and compared
 * as instants by both backends.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeItems, parseItems } from "./items.ts";
 * import { manifestFor } from "./manifest.ts";
 *
 * const items = await parseItems(
 *   "id,category,available\nA,tents,1\n",
 *   "items.csv",
 * );
 * const documents = [{ id: "A", indicators: [], scores: {} }];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * assert.deepEqual(mergeItems(model, items), { matched: 1, added: 0 });
 * assert.deepEqual(documents[0], {
 *   id: "A", indicators: [], scores: {}, metadata: { category: "tents", available: true },
 * });
 * assert.deepEqual(model.manifest.metadata, { category: "keyword", available: "boolean" });
 * ```
 *
 * @module
 */

import { ndjsonValues } from "./_ndjson_lines.ts";
import { CcoError } from "../errors/mod.ts";
import type {
  IndicatorDocument,
  ItemMetadata,
  MetadataValue,
} from "./document.ts";
import type { MetadataType, Model } from "./manifest.ts";

/** Raised for a malformed items file: `file:line: cause`. */
export class ItemsError extends CcoError {
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

/**
 * The metadata fields cco-es knows without being told: `category`
 * (keyword), `available` (boolean), `popularity` (number; the build sets
 * it), `updated` (date). Declare other fields' types in the settings
 * (`items.fields`), e.g. `{ "expires": "date" }`.
 */
export const BUILTIN_METADATA: Readonly<Record<string, MetadataType>> = Object
  .freeze({
    category: "keyword",
    available: "boolean",
    popularity: "number",
    updated: "date",
  });

const RESERVED = /^(id|_.*|scores|indicators|indicators_.*|similar_.*)$/;
const FIELD_NAME = /^[A-Za-z][A-Za-z0-9_]*$/;

function coerce(
  field: string,
  value: unknown,
  where: string,
  fromCsv: boolean,
  types: Readonly<Record<string, MetadataType>>,
): MetadataValue {
  const fail = (what: string): never => {
    throw new ItemsError(
      `${where}: "${field}" must be ${what}, got ${JSON.stringify(value)}`,
    );
  };
  switch (types[field] ?? BUILTIN_METADATA[field]) {
    case "boolean":
      if (typeof value === "boolean") return value;
      if (value === "true" || value === "1") return true;
      if (value === "false" || value === "0") return false;
      return fail("true, false, 1 or 0");
    case "number": {
      const n = typeof value === "number" ? value : Number(value);
      if (
        typeof value === "string" &&
        !/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(value.trim())
      ) return fail("a number");
      if (!Number.isFinite(n)) return fail("a number");
      return n;
    }
    case "date": {
      const ms = dateMillis(value);
      if (ms === undefined) return fail("a date (ISO 8601 or unix ms)");
      return new Date(ms).toISOString();
    }
    case "keyword":
      if (typeof value === "string" && value !== "") return value;
      if (
        !fromCsv && Array.isArray(value) &&
        value.every((v) => typeof v === "string")
      ) return value;
      return fail("a non-empty string or array of strings");
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

// a date-time without an offset, which Date.parse would read as local time
const LOCAL_DATE_TIME = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?$/;

/**
 * Unix milliseconds of a date value: unix ms (a number or all digits) or
 * ISO 8601 text (UTC unless it names an offset, as in Elasticsearch);
 * `undefined` when it is neither.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dateMillis } from "./items.ts";
 *
 * assert.equal(dateMillis("2015-06-01T00:00:00Z"), 1433116800000);
 * assert.equal(dateMillis(1433116800000), 1433116800000);
 * assert.equal(dateMillis("2015-06-01T02:00:00"), 1433124000000); // UTC
 * assert.equal(dateMillis("someday"), undefined);
 * ```
 *
 * @param value A date value.
 * @returns Unix ms, or `undefined`.
 */
export function dateMillis(value: unknown): number | undefined {
  const text = String(value);
  const ms = typeof value === "number"
    ? value
    : /^\d+$/.test(text)
    ? Number(value)
    : LOCAL_DATE_TIME.test(text)
    ? Date.parse(text + "Z") // no offset: UTC, as Elasticsearch reads it
    : /^\d{4}-\d{2}-\d{2}/.test(text)
    ? Date.parse(text)
    : NaN;
  return Number.isFinite(ms) && Math.abs(ms) <= 8.64e15 ? ms : undefined;
}

/**
 * Parses an items file's text: CSV with a header holding `id` (or `itemid`)
 * and field names, or NDJSON objects with an `id`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseItems } from "./items.ts";
 *
 * const items = await parseItems(
 *   '{"id":"A","brand":"acme","stock":3,"expires":"2030-01-01"}\n',
 *   "items.ndjson",
 *   { expires: "date" },
 * );
 * assert.deepEqual(items.get("A"), {
 *   brand: "acme",
 *   stock: 3,
 *   expires: "2030-01-01T00:00:00.000Z",
 * });
 * ```
 *
 * @param text File content.
 * @param source File name: `.ndjson`/`.jsonl` (optionally `.gz`) means
 * NDJSON, anything else CSV.
 * @param types Declared field types beyond {@linkcode BUILTIN_METADATA}.
 * @returns Metadata by item id.
 * @throws {ItemsError} Naming file, line and cause.
 */
export function parseItems(
  text: string,
  source: string,
  types: Readonly<Record<string, MetadataType>> = {},
): Promise<Map<string, ItemMetadata>> {
  try {
    return Promise.resolve(
      /\.(nd)?jsonl?(\.gz)?$|\.ndjson(\.gz)?$/.test(source)
        ? parseNdjson(text, source, types)
        : parseCsv(text, source, types),
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

function parseCsv(
  text: string,
  source: string,
  types: Readonly<Record<string, MetadataType>>,
): Map<string, ItemMetadata> {
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
      meta[field] = coerce(field, cells[i], where, true, types);
    });
    items.set(id, meta);
  }
  return items;
}

function parseNdjson(
  text: string,
  source: string,
  types: Readonly<Record<string, MetadataType>>,
): Map<string, ItemMetadata> {
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
      meta[field] = coerce(field, v, where, false, types);
    }
    items.set(key, meta);
  }
  return items;
}

/**
 * Reads an items file (CSV or NDJSON, `.gz` allowed).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readItems } from "./items.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".csv" });
 * await Deno.writeTextFile(path, "id,category\nA,tents\n");
 * assert.deepEqual((await readItems(path)).get("A"), { category: "tents" });
 * await Deno.remove(path);
 * ```
 *
 * @param path File path.
 * @param types Declared field types beyond {@linkcode BUILTIN_METADATA}.
 * @returns Metadata by item id.
 * @throws {ItemsError} When unreadable or malformed.
 */
export async function readItems(
  path: string,
  types: Readonly<Record<string, MetadataType>> = {},
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
  return parseItems(new TextDecoder().decode(bytes), path, types);
}

/**
 * Merges metadata into a model's documents (in place). Items that have
 * metadata but no document get one with empty indicator fields, so filters
 * and backfill can still see them. The manifest's metadata types and
 * document count follow.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeItems } from "./items.ts";
 * import { manifestFor } from "./manifest.ts";
 *
 * const documents = [{ id: "A", indicators: ["B"], scores: {} }];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * assert.deepEqual(
 *   mergeItems(model, new Map([["Z", { category: "x" }]])),
 *   { matched: 0, added: 1 },
 * );
 * assert.deepEqual(documents[1], { id: "Z", indicators: [], scores: {}, metadata: { category: "x" } });
 * assert.equal(model.manifest.metadata.category, "keyword");
 * assert.equal(model.manifest.counts.documents, 2);
 * ```
 *
 * @param model The model (documents extended in place, manifest updated).
 * @param items Metadata by item id.
 * @param declared Declared field types beyond {@linkcode BUILTIN_METADATA}.
 * @returns How many documents got metadata, and how many were added.
 * @throws {ItemsError} When a field's values mix types.
 */
export function mergeItems(
  model: Model<IndicatorDocument>,
  items: ReadonlyMap<string, ItemMetadata>,
  declared: Readonly<Record<string, MetadataType>> = {},
): { matched: number; added: number } {
  const { documents, manifest } = model;
  const fields = manifest.fields.map((f) => f.name);
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
  manifest.metadata = metadataTypes(documents, {
    ...manifest.metadata,
    ...declared,
  });
  manifest.counts.documents = documents.length;
  return { matched, added };
}

/**
 * The type of every metadata field of some documents: the declared or
 * built-in type, else the values' JSON type (string or array of strings →
 * `keyword`, number → `number`, boolean → `boolean`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { metadataTypes } from "./items.ts";
 *
 * assert.deepEqual(
 *   metadataTypes([{ metadata: { category: "tents", stock: 3, tags: ["x"], expires: "2030-01-01T00:00:00.000Z" } }], { expires: "date" }),
 *   { category: "keyword", stock: "number", tags: "keyword", expires: "date" },
 * );
 * ```
 *
 * @param documents Documents with optional `metadata`.
 * @param declared Declared field types.
 * @returns Type by field.
 * @throws {ItemsError} When an undeclared field mixes types across items.
 */
export function metadataTypes(
  documents: Iterable<{ metadata?: ItemMetadata }>,
  declared: Readonly<Record<string, MetadataType>> = {},
): Record<string, MetadataType> {
  const types: Record<string, MetadataType> = {};
  for (const doc of documents) {
    for (const [field, value] of Object.entries(doc.metadata ?? {})) {
      const type = declared[field] ?? BUILTIN_METADATA[field] ??
        (typeof value === "boolean"
          ? "boolean"
          : typeof value === "number"
          ? "number"
          : "keyword");
      if (types[field] && types[field] !== type) {
        throw new ItemsError(
          `metadata field "${field}" mixes ${types[field]} and ${type} values`,
        );
      }
      types[field] = type;
    }
  }
  return types;
}
