/**
 * The Elasticsearch backend: index indicator documents (one per item, the
 * `indicators` field mapped as `keyword`, see `queries/index_mapping.json`)
 * and serve {@linkcode Recommender} requests as one search each.
 *
 * Indexing goes through the client's `helpers.bulk`, which retries 429s;
 * any document it still drops fails the build with an
 * {@linkcode IndexingError}, and the final document count is verified.
 *
 * @example Index and query (needs a running cluster)
 * ```ts ignore
 * import { Client } from "@elastic/elasticsearch";
 * import { ElasticsearchRecommender, indexDocuments } from "./recommender.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * await indexDocuments(client, "items", [
 *   { id: "tent", indicators: ["stove"] },
 *   { id: "stove", indicators: ["tent"] },
 * ], { replace: true });
 * const recs = await new ElasticsearchRecommender(client, "items")
 *   .recommend({ history: ["stove"] });
 * // [{ id: "tent", score: 0.287... }]
 * ```
 *
 * @module
 */

import type { Client } from "@elastic/elasticsearch";
import type { ElasticsearchClient } from "./connection.ts";
import mapping from "./queries/index_mapping.json" with { type: "json" };
import {
  type IndexableDocument,
  indicatorFieldsOf,
} from "../embedded/recommender.ts";
import { type ItemMetadata, metadataMapping } from "../model/items.ts";
import { applyDither } from "../serving/dither.ts";
import {
  buildBackfillQuery,
  buildRecommendQuery,
  clauseName,
} from "./query.ts";
import {
  loadTemplate,
  renderTemplate,
  type TemplateName,
  templateParams,
} from "./templates.ts";
import {
  type NormalizedRequest,
  normalizeRequest,
  type Recommendation,
  type Recommender,
  type RecommendRequest,
  type RequestOptions,
} from "../serving/request.ts";

/** Index settings and mappings used for indicator indices (base fields). */
export const INDEX_MAPPING: {
  settings: Record<string, unknown>;
  mappings: { properties: Record<string, unknown> } & Record<string, unknown>;
} = mapping;

/**
 * The index body for documents with these indicator fields: the base
 * mapping (`queries/index_mapping.json`) plus one `keyword` field (no norms,
 * no doc values) per indicator field, or a `sparse_vector` field for the
 * weighted ones (see `weights.ts`). Unknown fields are rejected (strict).
 *
 * @example
 * ```ts
 * import { indexMapping } from "./recommender.ts";
 *
 * const body = indexMapping(["indicators", "indicators_view"], ["indicators"]);
 * body.mappings.properties.indicators_view;
 * // { type: "keyword", norms: false, doc_values: false }
 * body.mappings.properties.indicators; // { type: "sparse_vector" }
 * ```
 *
 * @param fields Indicator field names.
 * @param weighted The fields whose indicators carry weights.
 * @returns Settings and mappings for `indices.create`.
 */
export function indexMapping(
  fields: Iterable<string>,
  weighted: Iterable<string> = [],
): typeof INDEX_MAPPING {
  const properties = { ...INDEX_MAPPING.mappings.properties };
  const sparse = new Set(weighted);
  for (const field of new Set([...fields, ...sparse])) {
    properties[field] = sparse.has(field)
      ? { type: "sparse_vector" }
      : INDEX_MAPPING.mappings.properties.indicators;
  }
  return {
    settings: INDEX_MAPPING.settings,
    mappings: { ...INDEX_MAPPING.mappings, properties },
  };
}

/**
 * The Elasticsearch `_source` of a document: `id`, the indicator fields and
 * the metadata fields (top level); `scores` are not indexed. A weighted
 * field is sent as a `sparse_vector` object, indicator id to weight.
 *
 * @example
 * ```ts
 * import { toSource } from "./recommender.ts";
 *
 * toSource({ id: "a", indicators: ["b"], metadata: { popularity: 3 } });
 * // { id: "a", indicators: ["b"], popularity: 3 }
 * toSource({ id: "a", indicators: ["b"], weights: { indicators: [2.5] } });
 * // { id: "a", indicators: { b: 2.5 } }
 * ```
 *
 * @param doc A document.
 * @returns The indexed source.
 */
export function toSource(
  doc: IndexableDocument & { metadata?: ItemMetadata },
): Record<string, unknown> {
  return Object.fromEntries([
    ["id", doc.id],
    ...indicatorFieldsOf(doc).map(([field, ids]) => {
      const weights = doc.weights?.[field];
      return weights
        ? [field, Object.fromEntries(ids.map((id, i) => [id, weights[i]]))]
        : [field, ids];
    }),
    ...Object.entries(doc.metadata ?? {}),
  ]);
}

/** How {@linkcode ElasticsearchRecommender} sends its ranking query. */
export type QueryMode = "inline" | "template" | "stored-template";

/** Raised when a build loses documents or the index does not verify. */
export class IndexingError extends Error {
  /** Documents Elasticsearch rejected or that could not be sent. */
  readonly dropped: number;

  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param dropped Number of dropped documents.
   */
  constructor(message: string, dropped = 0) {
    super(message);
    this.name = "IndexingError";
    this.dropped = dropped;
  }
}

/** Options for {@linkcode indexDocuments}. */
export interface IndexOptions {
  /** Delete an existing index of that name first (default false: error). */
  replace?: boolean;
  /** Bulk request size in bytes (default 5 MB). */
  flushBytes?: number;
  /** Concurrent bulk requests (default 2). */
  concurrency?: number;
  /** Retries of a bulk request answered 429 (default 3). */
  retries?: number;
  /** Milliseconds before the first 429 retry, doubling after (default 5000). */
  retryWaitMs?: number;
  /** Primary shards (default 1). */
  shards?: number;
  /** Replicas (default 0: a single node cannot place any). */
  replicas?: number;
  /** `_meta` stored in the index mapping (e.g. build state). */
  meta?: Record<string, unknown>;
  /**
   * Mappings of metadata fields beyond the built-in ones. Default: inferred
   * from the documents when they are an array.
   */
  metadataFields?: Record<string, { type: string }>;
  /** Called after each flushed document count changes. */
  onProgress?: (indexed: number) => void;
  /**
   * Indicator fields to map. Default: those of the documents when they are
   * an array, else `["indicators"]` (a document with another field is then
   * rejected, failing the build).
   */
  fields?: readonly string[];
  /**
   * Indicator fields mapped as `sparse_vector` (weighted). Default: those
   * with `weights` in the documents when they are an array, else none.
   */
  weightedFields?: readonly string[];
}

/** Outcome of {@linkcode indexDocuments}. */
export interface IndexResult {
  /** Index name. */
  index: string;
  /** Documents indexed and verified by count. */
  documents: number;
  /** Wall time in milliseconds. */
  millis: number;
}

/**
 * Creates `index` with {@linkcode INDEX_MAPPING} and bulk-indexes one
 * `{id, indicators}` document per item, then refreshes and verifies the
 * document count.
 *
 * @example
 * ```ts ignore
 * import { Client } from "@elastic/elasticsearch";
 * import { indexDocuments } from "./recommender.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * await indexDocuments(client, "items", [{ id: "a", indicators: [] }]);
 * ```
 *
 * @param client A connected client.
 * @param index Index name.
 * @param documents Documents; their indicator fields are sent (not `scores`).
 * @param options Replace flag, bulk sizing, progress callback.
 * @returns What was indexed.
 * @throws {IndexingError} When the index exists (without `replace`), any
 * document is dropped, or the count does not match.
 */
export async function indexDocuments(
  esClient: ElasticsearchClient,
  index: string,
  documents:
    | Iterable<IndexableDocument & { metadata?: ItemMetadata }>
    | AsyncIterable<IndexableDocument & { metadata?: ItemMetadata }>,
  options: IndexOptions = {},
): Promise<IndexResult> {
  const client = esClient as unknown as Client;
  const t0 = performance.now();
  if (await client.indices.exists({ index })) {
    if (!options.replace) {
      throw new IndexingError(
        `index "${index}" already exists (pass replace to overwrite it)`,
      );
    }
    await client.indices.delete({ index });
  }
  const fields = new Set(options.fields ?? ["indicators"]);
  if (!options.fields && Array.isArray(documents)) {
    for (const doc of documents) {
      for (const [field] of indicatorFieldsOf(doc)) fields.add(field);
    }
  }
  const weighted = new Set(options.weightedFields ?? []);
  if (!options.weightedFields && Array.isArray(documents)) {
    for (const doc of documents) {
      for (const field of Object.keys(doc.weights ?? {})) weighted.add(field);
    }
  }
  const body = indexMapping(fields, weighted);
  Object.assign(
    body.mappings.properties,
    options.metadataFields ??
      (Array.isArray(documents) ? metadataMapping(documents) : {}),
  );
  await client.indices.create(
    {
      index,
      settings: {
        ...body.settings,
        number_of_shards: options.shards ?? 1,
        number_of_replicas: options.replicas ?? 0,
      },
      mappings: {
        ...body.mappings,
        ...(options.meta ? { _meta: options.meta } : {}),
      },
    } as Parameters<Client["indices"]["create"]>[0],
  );

  let sent = 0;
  let succeeded = 0;
  const dropped: string[] = [];
  async function* source() {
    for await (const doc of documents) {
      sent++;
      yield toSource(doc) as { id: string };
    }
  }
  type BulkStats = Awaited<ReturnType<Client["helpers"]["bulk"]>>;
  let stats: BulkStats;
  try {
    stats = await bulk();
  } catch (error) {
    const cause = (error as Error).message.split("\n")[0];
    throw new IndexingError(
      `bulk indexing into "${index}" failed after ${succeeded} of ${sent} documents: ${cause}`,
      Math.max(0, sent - succeeded),
    );
  }
  function bulk() {
    return client.helpers.bulk<{ id: string }>({
      datasource: source(),
      onDocument: (doc) => ({ index: { _index: index, _id: doc.id } }),
      onDrop: (d) => {
        if (dropped.length < 3) {
          dropped.push(
            `${d.document.id}: ${d.error?.type ?? d.status} ${
              d.error?.reason ?? ""
            }`.trim(),
          );
        } else dropped.push("");
      },
      onSuccess: () => options.onProgress?.(++succeeded),
      flushBytes: options.flushBytes ?? 5_000_000,
      concurrency: options.concurrency ?? 2,
      retries: options.retries ?? 3,
      wait: options.retryWaitMs ?? 5000,
      refreshOnCompletion: index,
    });
  }
  if (dropped.length > 0 || stats.failed > 0 || stats.aborted) {
    const n = Math.max(dropped.length, stats.failed);
    throw new IndexingError(
      `${n} of ${sent} documents were dropped while indexing "${index}": ${
        dropped.filter(Boolean).join("; ") || "bulk aborted"
      }`,
      n,
    );
  }
  const { count } = await client.count({ index });
  if (count !== sent) {
    throw new IndexingError(
      `index "${index}" holds ${count} documents after the build, expected ${sent}`,
      Math.max(0, sent - count),
    );
  }
  return { index, documents: count, millis: performance.now() - t0 };
}

/**
 * Serves recommendations from an index (or alias) built by
 * {@linkcode publishIndex} or {@linkcode indexDocuments}: one search for
 * the ranking, and one more for popularity backfill when the ranking runs
 * short.
 *
 * @example
 * ```ts ignore
 * import { Client } from "@elastic/elasticsearch";
 * import { ElasticsearchRecommender } from "./recommender.ts";
 *
 * const r = new ElasticsearchRecommender(
 *   new Client({ node: "http://127.0.0.1:9200" }),
 *   "items",
 * );
 * await r.recommend({ history: { transaction: ["a"], view: ["b"] }, num: 3 });
 * ```
 */
export class ElasticsearchRecommender implements Recommender {
  readonly #client: Client;
  readonly #index: string;
  readonly #options: RequestOptions & { queries?: QueryMode };
  #templates = new Map<TemplateName, string>();

  /**
   * Serves from `index` through `client`.
   *
   * @param client A connected client.
   * @param index Index (or alias) to search.
   * @param options The primary event type (default `transaction`), and
   * how queries are sent: `inline` (default, built by
   * {@linkcode buildRecommendQuery}), `template` (the `queries/*.mustache`
   * files rendered client-side), or `stored-template` (`_search/template`
   * with the templates {@linkcode registerTemplates} stored; needs the
   * `lang-mustache` module).
   */
  constructor(
    client: ElasticsearchClient,
    index: string,
    options: RequestOptions & { queries?: QueryMode } = {},
  ) {
    this.#client = client as unknown as Client;
    this.#index = index;
    this.#options = options;
  }

  // the ranking search, inline or through a template
  async #rank(request: RecommendRequest, r: NormalizedRequest) {
    const mode = this.#options.queries ?? "inline";
    const name: TemplateName = request.history === undefined &&
        (request.item !== undefined || request.items !== undefined)
      ? "cco-similar-items"
      : "cco-recommend";
    if (mode === "stored-template") {
      return await this.#client.searchTemplate({
        index: this.#index,
        id: name,
        params: templateParams(r),
      });
    }
    let body: Record<string, unknown>;
    if (mode === "template") {
      let source = this.#templates.get(name);
      if (!source) this.#templates.set(name, source = await loadTemplate(name));
      body = renderTemplate(source, templateParams(r));
    } else {
      body = buildRecommendQuery(r);
    }
    return await this.#client.search(
      {
        index: this.#index,
        ...body,
      } as Parameters<Client["search"]>[0],
    );
  }

  /**
   * Runs the ranking query, then {@linkcode buildBackfillQuery} if needed.
   *
   * @param request History, rules and paging.
   * @returns Ranked recommendations, ties by id.
   * @throws {TypeError} On a malformed request.
   */
  async recommend(request: RecommendRequest): Promise<Recommendation[]> {
    const r = normalizeRequest(request, this.#options);
    const want = r.from + r.num;
    let list: Recommendation[] = [];
    if (r.clauses.length > 0) {
      const response = await this.#rank(request, r);
      const names = new Map(r.clauses.map((c) => [clauseName(c), c]));
      for (const hit of response.hits.hits) {
        const rec: Recommendation = { id: hit._id!, score: hit._score ?? 0 };
        if (r.explain) {
          const matched = new Set(hit.matched_queries as string[] ?? []);
          rec.because = [...names.entries()]
            .filter(([name]) => matched.has(name))
            .map(([, c]) => ({ field: c.field, item: c.item }));
        }
        list.push(rec);
      }
    }
    const ranked = list.map((x) => x.id);
    list = applyDither(list, r).slice(0, want);
    if (r.backfill && list.length < want) {
      const body = buildBackfillQuery(r, ranked, want - list.length);
      const response = await this.#client.search(
        {
          index: this.#index,
          ...body,
        } as Parameters<Client["search"]>[0],
      );
      for (const hit of response.hits.hits) {
        list.push({ id: hit._id!, score: 0, backfill: true });
      }
    }
    return list.slice(r.from);
  }
}
