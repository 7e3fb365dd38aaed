/**
 * How a model becomes an Elasticsearch index: the mapping (one field per
 * indicator field, `keyword` or `sparse_vector` as the manifest says; one
 * field per metadata field of the type the manifest gives it; the manifest
 * itself in `_meta`), and each document's `_source`.
 *
 * The mapping is strict: a document with a field the manifest does not
 * know is rejected, and indexing fails.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexBody, toSource } from "./mapping.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const doc = { id: "a", indicators: ["b"], weights: { indicators: [2.5] }, metadata: { popularity: 3 } };
 * const body = indexBody(manifestFor([doc], { primaryEvent: "buy" }));
 * assert.deepEqual(body.mappings.properties.indicators, { type: "sparse_vector" });
 * assert.deepEqual(body.mappings.properties.popularity, { type: "double" });
 * assert.deepEqual(toSource(doc), { id: "a", indicators: { b: 2.5 }, popularity: 3 });
 * ```
 *
 * @module
 */

import base from "./queries/index_mapping.json" with { type: "json" };
import type { IndexableDocument } from "../model/document.ts";
import { indicatorFieldsOf } from "../model/fields.ts";
import type { MetadataType, ModelManifest } from "../model/manifest.ts";

/** The index body `indices.create` takes. */
export interface IndexBody {
  /** Index settings. */
  settings: Record<string, unknown>;
  /** Mappings: strict, with `properties` and `_meta`. */
  mappings: {
    dynamic: string;
    properties: Record<string, Record<string, unknown>>;
    _meta: Record<string, unknown>;
  };
}

/** The mapping of an unweighted indicator field: BM25 on keywords. */
export const KEYWORD_INDICATORS: Readonly<Record<string, unknown>> = Object
  .freeze({
    type: "keyword",
    norms: false,
    doc_values: false,
  });

const ES_TYPES: Record<MetadataType, Record<string, unknown>> = {
  keyword: { type: "keyword" },
  number: { type: "double" },
  boolean: { type: "boolean" },
  date: { type: "date" },
};

/**
 * The index body for a model: `queries/index_mapping.json` (settings and
 * the `id` field) plus its indicator and metadata fields, and
 * `_meta.cco = { state, manifest, ...meta }`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indexBody } from "./mapping.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const m = manifestFor([{ id: "a", indicators: [], indicators_view: [] }], { primaryEvent: "buy" });
 * const body = indexBody(m, { shards: 2 });
 * assert.deepEqual(body.mappings.properties.indicators_view, { type: "keyword", norms: false, doc_values: false });
 * assert.equal(body.settings.number_of_shards, 2);
 * assert.equal((body.mappings._meta.cco as { manifest: unknown }).manifest, m);
 * ```
 *
 * @param manifest The model's manifest.
 * @param options Shards, replicas, and extra `_meta.cco` entries (e.g. the
 * build state).
 * @returns The body.
 */
export function indexBody(
  manifest: ModelManifest,
  options: {
    shards?: number;
    replicas?: number;
    meta?: Record<string, unknown>;
  } = {},
): IndexBody {
  const properties: Record<string, Record<string, unknown>> = {
    ...base.mappings.properties,
  };
  for (const field of manifest.fields) {
    properties[field.name] = field.weights === "none"
      ? { ...KEYWORD_INDICATORS }
      : { type: "sparse_vector" };
  }
  for (const [field, type] of Object.entries(manifest.metadata)) {
    properties[field] = { ...ES_TYPES[type] };
  }
  return {
    settings: {
      ...base.settings,
      ...(options.shards !== undefined
        ? { number_of_shards: options.shards }
        : {}),
      ...(options.replicas !== undefined
        ? { number_of_replicas: options.replicas }
        : {}),
    },
    mappings: {
      dynamic: base.mappings.dynamic,
      properties,
      _meta: { cco: { ...options.meta, manifest } },
    },
  };
}

/**
 * The Elasticsearch `_source` of a document: `id`, the indicator fields and
 * the metadata fields (top level); `scores` are not indexed. A weighted
 * field is sent as a `sparse_vector` object, indicator id to weight.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { toSource } from "./mapping.ts";
 *
 * assert.deepEqual(
 *   toSource({ id: "a", indicators: ["b"], metadata: { popularity: 3 } }),
 *   { id: "a", indicators: ["b"], popularity: 3 },
 * );
 * ```
 *
 * @param doc A document.
 * @returns The indexed source.
 */
export function toSource(doc: IndexableDocument): Record<string, unknown> {
  const source: Record<string, unknown> = { id: doc.id };
  for (const [field, ids] of indicatorFieldsOf(doc)) {
    const weights = doc.weights?.[field];
    if (!weights) {
      source[field] = ids;
      continue;
    }
    const vector: Record<string, number> = {};
    ids.forEach((id, i) => vector[id] = weights[i]);
    source[field] = vector;
  }
  for (const [k, v] of Object.entries(doc.metadata ?? {})) source[k] = v;
  return source;
}
