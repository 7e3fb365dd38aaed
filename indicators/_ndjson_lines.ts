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

/** Documents written at a time (their rows read ahead). */
const BATCH = 128;

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
    for (let a = 0; a < items.size; a += BATCH) {
      const to = Math.min(items.size, a + BATCH);
      lines.writeBatch(a, to);
      count += to - a;
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
  /** `"name":` of each field. */
  names: Uint8Array[];
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
  const key = (name: string) => encoder.encode(JSON.stringify(name) + ":");
  return {
    names: names.map(key),
    metadata: [...byName].map(([name, values]) => [
      key(name),
      encoder.encode("," + JSON.stringify(name) + ":"),
      values,
    ]),
  };
}

const ID = encoder.encode('{"id":');
const END = encoder.encode("}}\n");

/** What goes between two constant pieces of a line. */
const IDS = 0, SCORES = 1, STORED = 2, LLR = 3, LLR_IDF = 4;

/**
 * A line's text after the id and before the metadata values, for one
 * shape of document (which fields are empty, which carry weights): the
 * constant text in pieces, and what goes between them (kind * 2^16 +
 * field).
 */
interface Shape {
  pieces: Uint8Array[];
  parts: number[];
}

// idf values of document frequencies below this are kept per field
const IDF_TABLE = 1024;

// one document's line at a time, into `out`
class DocumentLines {
  readonly out = new JsonBytes(CHUNK_BYTES + (1 << 16));
  #items: IdDictionary;
  #fields: readonly LineField[];
  #weighting: Weighting;
  #keys: Keys;
  #cursors: RowCursor[];
  #shapes = new Map<number, Shape>();
  #idf: Float64Array[];
  #weights: number[] = [];
  // the rows of a batch of documents, document d's row of field f at
  // d * fields + f: its arrays and bounds
  #rowItems: Int32Array[] = [];
  #rowScores: Float64Array[] = [];
  #rowWeights: (Float64Array | undefined)[] = [];
  #rowStart: Int32Array;
  #rowEnd: Int32Array;
  // the row part() writes from
  #row = 0;

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
    this.#idf = fields.map(() => new Float64Array(IDF_TABLE).fill(-1));
    this.#rowStart = new Int32Array(BATCH * fields.length);
    this.#rowEnd = new Int32Array(BATCH * fields.length);
  }

  // the lines of items a0 .. a1 (at most BATCH; the cursors at row a0):
  // their rows first, then the ids' keys and document frequencies they
  // will read (independent loads, whose cache misses overlap: items are
  // far apart), then the lines
  writeBatch(a0: number, a1: number) {
    const cursors = this.#cursors, n = cursors.length;
    for (let d = 0; d < a1 - a0; d++) {
      for (let f = 0; f < n; f++) {
        const c = cursors[f];
        c.next();
        const r = d * n + f;
        this.#rowItems[r] = c.items;
        this.#rowScores[r] = c.scores;
        this.#rowWeights[r] = c.weights;
        this.#rowStart[r] = c.start;
        this.#rowEnd[r] = c.end;
      }
    }
    const idf = this.#weighting === "llr-idf";
    let warm = 0;
    for (let r = 0; r < (a1 - a0) * n; r++) {
      const items = this.#rowItems[r], end = this.#rowEnd[r];
      warm += this.#items.touch(items, this.#rowStart[r], end);
      if (idf) {
        const df = this.#fields[r % n].df;
        for (let q = this.#rowStart[r]; q < end; q++) warm += df[items[q]];
      }
    }
    this.#warm = warm;
    for (let a = a0; a < a1; a++) this.#write(a, (a - a0) * n);
  }

  #warm = 0;

  // item a's line, its rows from row r0 of the batch
  #write(a: number, r0: number) {
    const out = this.out, n = this.#cursors.length;
    out.raw(ID);
    out.id(this.#items, a);
    // the shape: which rows are empty, which carry weights
    let empty = 0, stored = 0;
    for (let f = 0; f < n; f++) {
      if (this.#rowStart[r0 + f] === this.#rowEnd[r0 + f]) empty |= 1 << f;
      if (this.#rowWeights[r0 + f]) stored |= 1 << f;
    }
    const key = empty + stored * 2 ** n;
    let shape = this.#shapes.get(key);
    if (!shape) this.#shapes.set(key, shape = this.#shape(empty, stored));
    const { pieces, parts } = shape;
    this.#row = r0;
    for (let i = 0; i < parts.length; i++) {
      out.raw(pieces[i]);
      this.#part(parts[i]);
    }
    out.raw(pieces[parts.length]);
    let first = true;
    for (const [name, after, values] of this.#keys.metadata) {
      const value = values[a];
      if (value === undefined) continue; // JSON leaves the key out
      out.raw(first ? name : after);
      first = false;
      out.number(value);
    }
    out.raw(END);
  }

  #part(part: number) {
    const out = this.out;
    const f = part & 0xffff, kind = part >>> 16;
    const r = this.#row + f;
    const items = this.#rowItems[r], scores = this.#rowScores[r];
    const start = this.#rowStart[r], end = this.#rowEnd[r];
    if (kind === IDS) out.ids(this.#items, items, start, end);
    else if (kind === SCORES || kind === LLR) out.numbers(scores, start, end);
    else if (kind === STORED) out.numbers(this.#rowWeights[r]!, start, end);
    else {
      const { docCount, df } = this.#fields[f];
      const table = this.#idf[f];
      const weights = this.#weights;
      weights.length = 0;
      for (let q = start; q < end; q++) {
        const n = df[items[q]];
        let idf = n < IDF_TABLE ? table[n] : indicatorIdf(docCount, n);
        if (idf < 0) idf = table[n] = indicatorIdf(docCount, n);
        weights.push(scores[q] * idf);
      }
      out.numberArray(weights);
    }
  }

  // the pieces and parts of a shape, as LazyDocuments makes a document:
  // every field's ids, every field's scores, then (weighted) the weights
  // of fields with stored weights or a counted weighting
  #shape(empty: number, stored: number): Shape {
    const names = this.#keys.names, n = names.length;
    const weighting = this.#weighting;
    const pieces: Uint8Array[] = [];
    const parts: number[] = [];
    let text: number[] = [];
    const put = (bytes: Uint8Array | string) => {
      for (
        const b of typeof bytes === "string" ? encoder.encode(bytes) : bytes
      ) {
        text.push(b);
      }
    };
    const part = (kind: number, f: number) => {
      pieces.push(Uint8Array.from(text));
      text = [];
      parts.push(kind * 0x10000 + f);
    };
    const isEmpty = (f: number) => (empty & (1 << f)) !== 0;
    for (let f = 0; f < n; f++) {
      put(",");
      put(names[f]);
      if (isEmpty(f)) put("[]");
      else {
        put("[");
        part(IDS, f);
        put("]");
      }
    }
    put(',"scores":{');
    for (let f = 0; f < n; f++) {
      if (f > 0) put(",");
      put(names[f]);
      if (isEmpty(f)) put("[]");
      else part(SCORES, f);
    }
    put("}");
    if (weighting !== "none") {
      put(',"weights":{');
      let first = true;
      for (let f = 0; f < n; f++) {
        const kind = (stored & (1 << f)) !== 0
          ? STORED
          : weighting === "llr"
          ? LLR
          : weighting === "llr-idf"
          ? LLR_IDF
          : -1;
        if (kind < 0) continue;
        if (!first) put(",");
        first = false;
        put(names[f]);
        if (isEmpty(f)) put("[]");
        else part(kind, f);
      }
      put("}");
    }
    put(',"metadata":{');
    pieces.push(Uint8Array.from(text));
    return { pieces, parts };
  }

  close() {
    for (const c of this.#cursors) c.close();
  }
}
