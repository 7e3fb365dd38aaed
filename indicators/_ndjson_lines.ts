/**
 * Internal: a build's documents as NDJSON lines written straight from its
 * typed rows: exactly `JSON.stringify` of each document (as
 * `LazyDocuments` makes it) and a line break, without making the document
 * objects, their id strings or one string per line. What `writeModel`
 * writes for a build (`NdjsonLines`).
 *
 * @module
 */

import type { IndicatorDocument } from "../model/document.ts";
import type { Weighting } from "../model/manifest.ts";
import type { NdjsonChunk } from "../model/ndjson.ts";
import type { IdDictionary } from "./sparse.ts";
import type { RowCursor } from "./_rows.ts";
import { indicatorIdf } from "./weights.ts";
import { JsonBytes } from "./_json_bytes.ts";

/** Bytes of lines per chunk. */
const CHUNK_BYTES = 1 << 20;

const encoder = new TextEncoder();

/** What the lines are written from, per field (a computed field). */
export interface LineField {
  /** Field name. */
  field: string;
  /** Items with at least one indicator (llr-idf weights). */
  docCount: number;
  /** Items listing each item (llr-idf weights). */
  df: Int32Array;
  /** The field's rows. */
  store: { cursor(): RowCursor };
}

/**
 * The NDJSON lines of the documents of `items` with `fields`, in chunks of
 * whole lines: the same bytes as `JSON.stringify` of each of `documents`
 * (which must be those documents, made from the same rows) and `"\n"`.
 *
 * @param items The item dictionary (document order).
 * @param fields The fields, in document order.
 * @param weighting Weights of fields whose rows carry none.
 * @param metadata Each document's metadata numbers, name and values.
 * @param documents The documents as objects (written from when a name
 * would make JSON order or write the keys otherwise).
 * @returns The chunks.
 */
export function* ndjsonLinesOf(
  items: IdDictionary,
  fields: readonly LineField[],
  weighting: Weighting,
  metadata: readonly (readonly [string, ArrayLike<number>])[],
  documents: Iterable<IndicatorDocument>,
): Generator<NdjsonChunk> {
  const keys = plainKeys(fields, metadata);
  let count = 0;
  if (!keys) {
    // names JSON would order or write otherwise: as the objects say
    const out = new JsonBytes(CHUNK_BYTES + (1 << 16));
    for (const doc of documents) {
      out.utf8(JSON.stringify(doc) + "\n");
      count++;
      if (out.length >= CHUNK_BYTES) {
        yield { bytes: out.take(), documents: count };
        count = 0;
      }
    }
    if (count > 0) yield { bytes: out.take(), documents: count };
    return;
  }
  const lines = new DocumentLines(items, fields, weighting, keys);
  try {
    for (let a = 0; a < items.size; a++) {
      lines.write(a);
      count++;
      if (lines.out.length >= CHUNK_BYTES) {
        yield { bytes: lines.out.take(), documents: count };
        count = 0;
      }
    }
    if (count > 0) yield { bytes: lines.out.take(), documents: count };
  } finally {
    lines.close();
  }
}

interface Keys {
  /** `,"name":[` of each field. */
  ids: Uint8Array[];
  /** `,"name":[]` of each field. */
  emptyIds: Uint8Array[];
  /** `"name":` of each field, after a comma from the second on. */
  numbers: Uint8Array[];
  /** `"name":[]` of each field, likewise. */
  emptyNumbers: Uint8Array[];
  /** `,"name":` of each field. */
  numbersAfter: Uint8Array[];
  /** `,"name":[]` of each field. */
  emptyNumbersAfter: Uint8Array[];
  /** `"name":` and the values of each metadata name, and with a comma. */
  metadata: [Uint8Array, Uint8Array, ArrayLike<number>][];
}

// the JSON keys of the fields and metadata, when JSON.stringify writes a
// document's keys in the order they are set: no name that is an array
// index, no field named twice or as a key a document sets otherwise (a
// metadata name given twice keeps its first place and takes the later
// values, as in an object)
function plainKeys(
  fields: readonly LineField[],
  metadata: readonly (readonly [string, ArrayLike<number>])[],
): Keys | undefined {
  const index = /^(0|[1-9][0-9]*)$/;
  const names = fields.map((f) => f.field);
  const taken = new Set(["id", "scores", "weights", "metadata"]);
  for (const name of names) {
    if (index.test(name) || taken.has(name)) return undefined;
    taken.add(name);
  }
  const byName = new Map<string, ArrayLike<number>>();
  for (const [name, values] of metadata) {
    if (index.test(name)) return undefined;
    byName.set(name, values);
  }
  const bytes = (f: (key: string) => string) =>
    names.map((name) => encoder.encode(f(JSON.stringify(name) + ":")));
  return {
    ids: bytes((key) => `,${key}[`),
    emptyIds: bytes((key) => `,${key}[]`),
    numbers: names.map((name, f) =>
      encoder.encode(`${f > 0 ? "," : ""}${JSON.stringify(name)}:`)
    ),
    emptyNumbers: names.map((name, f) =>
      encoder.encode(`${f > 0 ? "," : ""}${JSON.stringify(name)}:[]`)
    ),
    numbersAfter: bytes((key) => `,${key}`),
    emptyNumbersAfter: bytes((key) => `,${key}[]`),
    metadata: [...byName].map(([name, values]) => [
      encoder.encode(JSON.stringify(name) + ":"),
      encoder.encode("," + JSON.stringify(name) + ":"),
      values,
    ]),
  };
}

const ID = encoder.encode('{"id":');
const SCORES = encoder.encode(',"scores":{');
const WEIGHTS = encoder.encode('},"weights":{');
const METADATA = encoder.encode('},"metadata":{');
const END = encoder.encode("}}\n");

// one document's line at a time, into `out`
class DocumentLines {
  readonly out = new JsonBytes(CHUNK_BYTES + (1 << 16));
  #items: IdDictionary;
  #fields: readonly LineField[];
  #weighting: Weighting;
  #keys: Keys;
  #cursors: RowCursor[];
  #weights: number[] = [];

  constructor(
    items: IdDictionary,
    fields: readonly LineField[],
    weighting: Weighting,
    keys: Keys,
  ) {
    this.#items = items;
    this.#fields = fields;
    this.#weighting = weighting;
    this.#keys = keys;
    this.#cursors = fields.map((f) => f.store.cursor());
  }

  // item a's line (the cursors at row a)
  write(a: number) {
    const out = this.out, items = this.#items, keys = this.#keys;
    const cursors = this.#cursors;
    const n = cursors.length;
    out.raw(ID);
    out.id(items, a);
    for (let f = 0; f < n; f++) {
      const c = cursors[f];
      c.next();
      if (c.start === c.end) out.raw(keys.emptyIds[f]);
      else {
        out.raw(keys.ids[f]);
        out.ids(items, c.items, c.start, c.end);
        out.byte(93); // ]
      }
    }
    out.raw(SCORES);
    for (let f = 0; f < n; f++) {
      const c = cursors[f];
      if (c.start === c.end) out.raw(keys.emptyNumbers[f]);
      else {
        out.raw(keys.numbers[f]);
        out.numbers(c.scores, c.start, c.end);
      }
    }
    if (this.#weighting !== "none") this.#writeWeights();
    out.raw(METADATA);
    let first = true;
    for (const [key, after, values] of keys.metadata) {
      const value = values[a];
      if (value === undefined) continue; // JSON leaves the key out
      out.raw(first ? key : after);
      first = false;
      out.number(value);
    }
    out.raw(END);
  }

  #writeWeights() {
    const out = this.out, keys = this.#keys, fields = this.#fields;
    const weighting = this.#weighting;
    out.raw(WEIGHTS);
    let first = true;
    for (let f = 0; f < fields.length; f++) {
      const c = this.#cursors[f];
      const stored = c.weights;
      // as LazyDocuments: stored weights, else the counted weighting's
      if (!stored && weighting !== "llr" && weighting !== "llr-idf") continue;
      const empty = c.start === c.end;
      const key = empty ? keys.emptyNumbersAfter[f] : keys.numbersAfter[f];
      // no comma before the first (a view past it, when fields before had
      // no weights)
      out.raw(
        !first
          ? key
          : f === 0
          ? (empty ? keys.emptyNumbers[0] : keys.numbers[0])
          : key.subarray(1),
      );
      first = false;
      if (empty) continue;
      if (stored) out.numbers(stored, c.start, c.end);
      else if (weighting === "llr") out.numbers(c.scores, c.start, c.end);
      else {
        const { docCount, df } = fields[f];
        const weights = this.#weights;
        weights.length = 0;
        for (let q = c.start; q < c.end; q++) {
          weights.push(c.scores[q] * indicatorIdf(docCount, df[c.items[q]]));
        }
        out.numberArray(weights);
      }
    }
  }

  close() {
    for (const c of this.#cursors) c.close();
  }
}
