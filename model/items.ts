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

import { fileLines } from "./_lines.ts";
import { CcoError } from "../errors/mod.ts";
import type {
  IndicatorDocument,
  ItemMetadata,
  MetadataValue,
} from "./document.ts";
import type { MetadataType, Model, ModelManifest } from "./manifest.ts";

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
    const parser = new ItemsParser(source, types);
    const lines = text.split("\n");
    for (let i = 0; i < lines.length; i++) {
      const line = lines[i].endsWith("\r") ? lines[i].slice(0, -1) : lines[i];
      if (line.trim() !== "") parser.line(i + 1, line);
    }
    return Promise.resolve(parser.finish());
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

const isNdjson = (source: string) =>
  /\.(nd)?jsonl?(\.gz)?$|\.ndjson(\.gz)?$/.test(source);

/** Items file lines in, metadata by id out: one line at a time. */
class ItemsParser {
  #source: string;
  #types: Readonly<Record<string, MetadataType>>;
  #ndjson: boolean;
  #header?: string[];
  #idCol = -1;
  #items = new Map<string, ItemMetadata>();

  constructor(source: string, types: Readonly<Record<string, MetadataType>>) {
    this.#source = source;
    this.#types = types;
    this.#ndjson = isNdjson(source);
  }

  line(n: number, text: string) {
    const where = `${this.#source}:${n}`;
    if (this.#ndjson) return this.#json(where, text);
    if (!this.#header) {
      const header = text.split(",").map((h) => h.trim());
      this.#idCol = header.findIndex((h) => h === "id" || h === "itemid");
      if (this.#idCol < 0) {
        throw new ItemsError(
          `${where}: missing header: expected an "id" (or "itemid") column, found "${text}"`,
        );
      }
      header.forEach((h, i) => i !== this.#idCol && checkField(h, where));
      this.#header = header;
      return;
    }
    const header = this.#header;
    const cells = text.split(",");
    if (cells.length !== header.length) {
      throw new ItemsError(
        `${where}: expected ${header.length} columns, got ${cells.length}`,
      );
    }
    const id = cells[this.#idCol];
    if (!id) throw new ItemsError(`${where}: empty item id`);
    if (this.#items.has(id)) {
      throw new ItemsError(`${where}: duplicate item id "${id}"`);
    }
    const meta: ItemMetadata = {};
    header.forEach((field, i) => {
      if (i === this.#idCol || cells[i] === "") return; // empty cell: no value
      meta[field] = coerce(field, cells[i], where, true, this.#types);
    });
    this.#items.set(id, meta);
  }

  #json(where: string, text: string) {
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (e) {
      throw new ItemsError(`${where}: ${(e as Error).message}`);
    }
    const obj = value as Record<string, unknown>;
    if (typeof obj !== "object" || obj === null || Array.isArray(obj)) {
      throw new ItemsError(`${where}: expected a JSON object`);
    }
    const id = obj.id ?? obj.itemid;
    if (typeof id !== "string" && typeof id !== "number") {
      throw new ItemsError(`${where}: expected a string "id"`);
    }
    const key = String(id);
    if (this.#items.has(key)) {
      throw new ItemsError(`${where}: duplicate item id "${key}"`);
    }
    const meta: ItemMetadata = {};
    for (const [field, v] of Object.entries(obj)) {
      if (field === "id" || field === "itemid" || v === null) continue;
      checkField(field, where);
      meta[field] = coerce(field, v, where, false, this.#types);
    }
    this.#items.set(key, meta);
  }

  finish(): Map<string, ItemMetadata> {
    if (!this.#ndjson && !this.#header) {
      throw new ItemsError(`${this.#source}:1: empty items file`);
    }
    return this.#items;
  }
}

/**
 * Reads an items file (CSV or NDJSON, `.gz` allowed), streaming it line by
 * line: only the metadata is kept, never the file's text.
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
  const parser = new ItemsParser(path, types);
  const lines = fileLines(
    path,
    (m) =>
      new ItemsError(
        m.replace(/^cannot read ([^:]*): /, "$1:0: cannot open: "),
      ),
  );
  for await (const [n, text] of lines) parser.line(n, text);
  return parser.finish();
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

/** Documents to merge metadata into: an array, or any (async) iterable. */
export type DocumentSource =
  | Iterable<IndicatorDocument>
  | AsyncIterable<IndicatorDocument>;

/**
 * Merges metadata into documents as they stream (the streaming form of
 * {@linkcode mergeItems}, same result): the manifest is settled first
 * (metadata types, document count), then each document gets its item's
 * metadata as it passes, and items without a document follow at the end
 * with empty indicator fields. The documents may be iterated again (each
 * pass iterates the source again).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeItemsStreaming } from "./items.ts";
 * import { manifestFor } from "./manifest.ts";
 *
 * const documents = [{ id: "A", indicators: ["B"], scores: {} }];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * const items = new Map([["A", { category: "x" }], ["Z", { category: "y" }]]);
 * const merged = mergeItemsStreaming(model, items, (id) => id === "A" ? 0 : undefined);
 * assert.deepEqual([merged.matched, merged.added], [1, 1]);
 * assert.equal(merged.manifest.counts.documents, 2);
 * const out = await Array.fromAsync(merged.documents);
 * assert.deepEqual(out.map((d) => d.metadata), [{ category: "x" }, { category: "y" }]);
 * ```
 *
 * @param model Manifest and documents (not modified).
 * @param items Metadata by item id.
 * @param position The place of an item id among the documents, or
 * `undefined` when no document has it.
 * @param declared Declared field types beyond {@linkcode BUILTIN_METADATA}.
 * @returns The new manifest, the documents with metadata, and how many
 * documents got metadata and how many were added.
 * @throws {ItemsError} When a field's values mix types.
 */
export function mergeItemsStreaming(
  model: { manifest: ModelManifest; documents: DocumentSource },
  items: ReadonlyMap<string, ItemMetadata>,
  position: (id: string) => number | undefined,
  declared: Readonly<Record<string, MetadataType>> = {},
): {
  manifest: ModelManifest;
  documents: AsyncIterable<IndicatorDocument>;
  matched: number;
  added: number;
} {
  const placed: { at: number; meta: ItemMetadata }[] = [];
  const extra: [string, ItemMetadata][] = [];
  for (const [id, meta] of items) {
    const at = position(id);
    if (at === undefined) extra.push([id, meta]);
    else placed.push({ at, meta });
  }
  placed.sort((x, y) => x.at - y.at);
  const metadata = {
    ...model.manifest.metadata,
    ...metadataTypes(
      [...placed.map((p) => p.meta), ...extra.map((e) => e[1])].map((m) => ({
        metadata: m,
      })),
      { ...model.manifest.metadata, ...declared },
    ),
  };
  const manifest: ModelManifest = {
    ...model.manifest,
    metadata,
    counts: {
      ...model.manifest.counts,
      documents: model.manifest.counts.documents + extra.length,
    },
  };
  const fields = model.manifest.fields.map((f) => f.name);
  const source = model.documents;
  const documents = {
    async *[Symbol.asyncIterator](): AsyncGenerator<IndicatorDocument> {
      for await (const doc of source) {
        const meta = items.get(doc.id);
        yield meta ? { ...doc, metadata: { ...doc.metadata, ...meta } } : doc;
      }
      for (const [id, meta] of extra) {
        const doc = { id, indicators: [] } as unknown as IndicatorDocument;
        for (const f of fields) {
          (doc as unknown as Record<string, string[]>)[f] = [];
        }
        doc.scores = {};
        doc.metadata = { ...meta };
        yield doc;
      }
    },
  };
  return { manifest, documents, matched: placed.length, added: extra.length };
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
