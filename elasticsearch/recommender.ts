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
  isIndicatorField,
} from "../embedded/recommender.ts";
import { UnavailableError } from "../errors/mod.ts";
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

/**
 * Where BM25 takes its statistics from: `query_then_fetch`, each shard's
 * own; `dfs_query_then_fetch`, the whole index's, gathered from every shard
 * first (one more round trip). Only `keyword` (unweighted) indicator fields
 * are scored with such statistics; weighted `sparse_vector` fields score
 * `boost × weight` whatever the sharding.
 */
export type SearchType = "query_then_fetch" | "dfs_query_then_fetch";

/**
 * The search type an index needs for shard-independent scores:
 * `dfs_query_then_fetch` when it has more than one shard and an unweighted
 * (`keyword`) indicator field, else `query_then_fetch`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { searchTypeFor } from "./recommender.ts";
 *
 * assert.equal(searchTypeFor(3, ["keyword"]), "dfs_query_then_fetch");
 * assert.equal(searchTypeFor(3, ["sparse_vector"]), "query_then_fetch");
 * assert.equal(searchTypeFor(1, ["keyword"]), "query_then_fetch");
 * ```
 *
 * @param shards Primary shards of the index (the largest, for several).
 * @param indicatorTypes The mapping types of its indicator fields.
 * @returns The search type.
 */
export function searchTypeFor(
  shards: number,
  indicatorTypes: Iterable<string>,
): SearchType {
  return shards > 1 && [...indicatorTypes].includes("keyword")
    ? "dfs_query_then_fetch"
    : "query_then_fetch";
}

/** Options of {@linkcode ElasticsearchRecommender}. */
export interface ElasticsearchRecommenderOptions extends RequestOptions {
  /** How the ranking query is sent (default `inline`). */
  queries?: QueryMode;
  /**
   * The search type, or `auto` (default): read the index's shard count and
   * indicator field types at the first query (and again whenever the alias
   * has moved to another index) and use {@linkcode searchTypeFor}; when
   * they cannot be read, `dfs_query_then_fetch` (never wrong, and free on
   * one shard, where Elasticsearch runs it as `query_then_fetch`).
   */
  searchType?: SearchType | "auto";
}

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

/**
 * Indicators (ids over all indicator fields) per primary shard that
 * {@linkcode defaultShards} aims at: about 4.3 GiB of primary store with
 * weighted fields (23 bytes per indicator, measured on 3M indicators after a
 * force merge, `_source` included; 11 bytes with `keyword` fields), under
 * Elasticsearch's advice of 10 to 50 GB per shard, so that one shard's
 * share of a query stays short.
 */
export const INDICATORS_PER_SHARD = 200_000_000;

/**
 * The default number of primary shards for documents: one per
 * {@linkcode INDICATORS_PER_SHARD} indicators, at least 1. Catalogues up to
 * tens of millions of items with the default 50 indicators per field fit one
 * shard; sharding more buys nothing on one node and, for unweighted fields,
 * costs a statistics round trip per query (`dfs_query_then_fetch`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultShards } from "./recommender.ts";
 *
 * assert.equal(defaultShards([{ id: "a", indicators: ["b", "c"] }]), 1);
 * ```
 *
 * @param documents The documents.
 * @returns Primary shards.
 */
export function defaultShards(
  documents: Iterable<IndexableDocument>,
): number {
  let indicators = 0;
  for (const doc of documents) {
    for (const [, ids] of indicatorFieldsOf(doc)) indicators += ids.length;
  }
  return Math.max(1, Math.ceil(indicators / INDICATORS_PER_SHARD));
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
  /**
   * Primary shards (default: {@linkcode defaultShards} of the documents when
   * they are an array, else 1).
   */
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
 * Creates `index` with {@linkcode INDEX_MAPPING} and bulk-creates one
 * `{id, indicators}` document per item, then refreshes and verifies the
 * document count and that no document was written twice (a bulk request
 * the client retried after losing a node finds its documents already there:
 * 409, counted as indexed, and no deleted copy left behind).
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
  const shards = options.shards ??
    (Array.isArray(documents) ? defaultShards(documents) : 1);
  if (!Number.isInteger(shards) || shards < 1 || shards > 1024) {
    throw new IndexingError(
      `shards must be an integer from 1 to 1024, got ${shards}`,
    );
  }
  const replicas = options.replicas ?? 0;
  if (!Number.isInteger(replicas) || replicas < 0) {
    throw new IndexingError(
      `replicas must be an integer >= 0, got ${replicas}`,
    );
  }
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
  // Start indexing only once every replica that can be placed is active
  // (in sync): a replica still recovering when its primary's node dies
  // cannot take over, and the shard stops taking writes.
  const copies = replicas === 0 ? 1 : Math.min(
    replicas + 1,
    (await client.cluster.health()).number_of_data_nodes,
  );
  await client.indices.create(
    {
      index,
      wait_for_active_shards: copies,
      settings: {
        ...body.settings,
        number_of_shards: shards,
        number_of_replicas: replicas,
      },
      mappings: {
        ...body.mappings,
        ...(options.meta ? { _meta: options.meta } : {}),
      },
    } as Parameters<Client["indices"]["create"]>[0],
  );

  let sent = 0;
  let succeeded = 0;
  // `create` answered 409: already indexed by an earlier attempt of a bulk
  // request the client retried (its answer was lost with a node)
  let conflicts = 0;
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
      // `create`, not `index`: a retried request then re-creates nothing
      // (re-indexing would leave deleted copies that BM25 statistics count)
      onDocument: (doc) => ({ create: { _index: index, _id: doc.id } }),
      onDrop: (d) => {
        if (
          d.status === 409 &&
          d.error?.type === "version_conflict_engine_exception"
        ) {
          conflicts++;
          options.onProgress?.(++succeeded);
          return;
        }
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
  if (dropped.length > 0 || stats.failed > conflicts || stats.aborted) {
    const n = Math.max(dropped.length, stats.failed - conflicts);
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
      `index "${index}" holds ${count} documents after the build, expected ${sent}${
        conflicts ? ` (${conflicts} were sent twice: are ids unique?)` : ""
      }`,
      Math.max(0, sent - count),
    );
  }
  // Deleted documents still count in BM25's term statistics (and can differ
  // between a shard's copies): `create` above leaves none, even through
  // retried bulk requests. Check.
  const docStats = await client.indices.stats({ index, metric: "docs" });
  const deleted = docStats._all.total?.docs?.deleted ?? 0;
  if (deleted > 0) {
    throw new IndexingError(
      `index "${index}" holds ${deleted} deleted documents after the build, which would skew BM25 statistics`,
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
  readonly #options: ElasticsearchRecommenderOptions;
  #templates = new Map<TemplateName, string>();
  // auto search type: the decision and the indices it was read from
  #searchType?: Promise<{ type: SearchType; indices?: Set<string> }>;

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
   * `lang-mustache` module), and the search type (default `auto`, see
   * {@linkcode ElasticsearchRecommenderOptions.searchType}).
   */
  constructor(
    client: ElasticsearchClient,
    index: string,
    options: ElasticsearchRecommenderOptions = {},
  ) {
    this.#client = client as unknown as Client;
    this.#index = index;
    this.#options = options;
  }

  /**
   * The search type the ranking query uses (resolving `auto` against the
   * index when needed).
   *
   * @returns `query_then_fetch` or `dfs_query_then_fetch`.
   */
  async searchType(): Promise<SearchType> {
    const chosen = this.#options.searchType ?? "auto";
    if (chosen !== "auto") return chosen;
    this.#searchType ??= this.#readSearchType();
    return (await this.#searchType).type;
  }

  async #readSearchType(): Promise<
    { type: SearchType; indices?: Set<string> }
  > {
    try {
      const info = await this.#client.indices.get({
        index: this.#index,
        filter_path: [
          "*.settings.index.number_of_shards",
          "*.mappings.properties.*.type",
        ],
      });
      const indices = Object.values(info);
      const shards = Math.max(
        ...indices.map((i) => Number(i.settings?.index?.number_of_shards)),
      );
      const types = indices.flatMap((i) =>
        Object.entries(i.mappings?.properties ?? {})
          .filter(([field]) => isIndicatorField(field))
          .map(([, p]) => (p as { type?: string }).type ?? "")
      );
      return {
        type: searchTypeFor(shards, types),
        indices: new Set(Object.keys(info)),
      };
    } catch {
      // cannot tell (no such index yet, or no right to read its settings):
      // global statistics are never wrong; not read again
      return { type: "dfs_query_then_fetch" };
    }
  }

  // after an alias swap, read the new index's shape before the next query
  async #checkIndices(hits: { _index: string }[]) {
    const current = await this.#searchType;
    const known = current?.indices;
    if (known && hits.some((h) => !known.has(h._index))) {
      this.#searchType = undefined;
    }
  }

  // a search that is complete: partial results would rank silently wrong
  async #search(
    params: Record<string, unknown>,
    searchType?: SearchType,
  ) {
    const response = await this.#client.search(
      {
        index: this.#index,
        ...params,
        ...(searchType ? { search_type: searchType } : {}),
        allow_partial_search_results: false,
      } as Parameters<Client["search"]>[0],
    );
    checkComplete(this.#index, response);
    return response;
  }

  // the ranking search, inline or through a template
  async #rank(request: RecommendRequest, r: NormalizedRequest) {
    const mode = this.#options.queries ?? "inline";
    const name: TemplateName = request.history === undefined &&
        (request.item !== undefined || request.items !== undefined)
      ? "cco-similar-items"
      : "cco-recommend";
    const searchType = await this.searchType();
    if (mode === "stored-template") {
      const response = await this.#client.searchTemplate({
        index: this.#index,
        id: name,
        params: templateParams(r),
        search_type: searchType,
      });
      checkComplete(this.#index, response);
      return response;
    }
    let body: Record<string, unknown>;
    if (mode === "template") {
      let source = this.#templates.get(name);
      if (!source) this.#templates.set(name, source = await loadTemplate(name));
      body = renderTemplate(source, templateParams(r));
    } else {
      body = buildRecommendQuery(r);
    }
    return await this.#search(body, searchType);
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
      await this.#checkIndices(response.hits.hits);
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
      const response = await this.#search(body);
      for (const hit of response.hits.hits) {
        list.push({ id: hit._id!, score: 0, backfill: true });
      }
    }
    return list.slice(r.from);
  }
}

// Shard failures and timeouts give partial hits with a 200: never serve them.
function checkComplete(
  index: string,
  response: {
    timed_out?: boolean;
    _shards?: { total: number; failed: number };
  },
) {
  const shards = response._shards;
  if (response.timed_out || (shards && shards.failed > 0)) {
    throw new UnavailableError(
      `search on "${index}" was incomplete (${
        response.timed_out
          ? "timed out"
          : `${shards!.failed} of ${shards!.total} shards failed`
      })`,
    );
  }
}
