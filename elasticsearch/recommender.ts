/**
 * The Elasticsearch backend: serves {@linkcode Recommender} requests from an
 * index (or the alias of the index lifecycle) as one search each, plus one
 * for popularity backfill when the ranking runs short. The model's manifest
 * comes from the index's `_meta` (see `lifecycle.ts`); it is re-read when
 * the alias moves to another index.
 *
 * Scores are Lucene's 32-bit floats, returned exactly (Elasticsearch
 * prints the shortest text that round-trips the float), so they equal the
 * embedded backend's for the same model.
 *
 * @example Query an index (needs a running cluster)
 * ```ts ignore
 * import { Client } from "./client.ts";
 * import { ElasticsearchRecommender } from "./recommender.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * const recs = await new ElasticsearchRecommender(client, "cco-items")
 *   .recommend({ history: ["stove"] });
 * ```
 *
 * @module
 */

import { type Client, clientError, type SearchAnswer } from "./client.ts";
import { DeadlineError, ModelError, UnavailableError } from "../errors/mod.ts";
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
  addItemIndicators,
  checkServingOptions,
  type ItemIndicators,
  type NormalizedRequest,
  normalizeRequest,
  type Recommendation,
  type Recommender,
  type RecommendOptions,
  type RecommendRequest,
  type ResolvedServing,
  resolveServing,
  type ServingOptions,
} from "../serving/request.ts";
import { type ModelManifest, parseManifest } from "../model/manifest.ts";

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
 * @param shards Primary shards of the index.
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
export interface ElasticsearchServingOptions extends ServingOptions {
  /**
   * How queries are sent: `inline` (default, built by
   * {@linkcode buildRecommendQuery}), `template` (the `queries/*.mustache`
   * files rendered client-side), or `stored-template` (`_search/template`
   * with the templates `registerTemplates` stored; needs `lang-mustache`).
   */
  queries?: QueryMode;
  /**
   * How long a read manifest is trusted before the alias is checked again
   * for a new index (default 5000 ms).
   */
  manifestTtlMs?: number;
  /**
   * The search type, or `auto` (default): read the index's shard count
   * with its manifest (again whenever the alias is read again) and use
   * {@linkcode searchTypeFor}; when the settings cannot be read,
   * `dfs_query_then_fetch` (never wrong, and free on one shard, where
   * Elasticsearch runs it as `query_then_fetch`).
   */
  searchType?: SearchType | "auto";
}

/**
 * The manifest of the index `name` (an index or an alias of one index)
 * points to, from its `_meta.cco.manifest`.
 *
 * @example
 * ```ts ignore
 * import { readIndexManifest } from "./recommender.ts";
 *
 * const { index, manifest } = await readIndexManifest(client, "cco-items");
 * ```
 *
 * @param client A connected client.
 * @param name Index or alias.
 * @param options An abort signal.
 * @returns The concrete index and its manifest.
 * @throws {ModelError} When the name points to no index, to several, or to
 * one without a manifest.
 * @throws {UnavailableError} When the cluster cannot be reached.
 */
export async function readIndexManifest(
  client: Client,
  name: string,
  options: { signal?: AbortSignal } = {},
): Promise<{ index: string; manifest: ModelManifest }> {
  let mappings: Record<string, { mappings?: { _meta?: unknown } }>;
  try {
    mappings = await client.indices.getMapping(
      { index: name },
      { signal: options.signal },
    ) as typeof mappings;
  } catch (error) {
    const status = (error as { meta?: { statusCode?: number } }).meta
      ?.statusCode;
    if (status === 404) {
      throw new ModelError(
        `no index "${name}": build one with build-index (alias "${name}")`,
      );
    }
    throw clientError(error, `reading the model of "${name}"`);
  }
  const indices = Object.keys(mappings);
  if (indices.length !== 1) {
    throw new ModelError(
      `"${name}" points to ${indices.length} indices (${
        indices.join(", ")
      }); serve an alias of one index`,
    );
  }
  const index = indices[0];
  const meta = mappings[index].mappings?._meta as
    | { cco?: { manifest?: unknown } }
    | undefined;
  if (!meta?.cco?.manifest) {
    throw new ModelError(
      `index "${index}" has no model manifest in its _meta (built by cco-es 0.1?): rebuild it`,
    );
  }
  return {
    index,
    manifest: parseManifest(meta.cco.manifest, `index "${index}" _meta`),
  };
}

/**
 * Serves recommendations from an index or alias built by `publishIndex`
 * or `indexDocuments`.
 *
 * @example
 * ```ts ignore
 * import { Client } from "./client.ts";
 * import { ElasticsearchRecommender } from "./recommender.ts";
 *
 * const r = new ElasticsearchRecommender(
 *   new Client({ node: "http://127.0.0.1:9200" }),
 *   "cco-items",
 * );
 * await r.recommend({ history: { transaction: ["a"], view: ["b"] }, num: 3 });
 * ```
 */
export class ElasticsearchRecommender implements Recommender {
  readonly #client: Client;
  readonly #alias: string;
  readonly #options: ElasticsearchServingOptions;
  #templates = new Map<TemplateName, string>();
  #model?: Promise<{
    index: string;
    manifest: ModelManifest;
    serving: ResolvedServing;
    searchType: SearchType;
    read: number;
  }>;

  /**
   * Serves from `alias` through `client`. Settings are checked here; the
   * manifest is read on the first request.
   *
   * @param client A connected client.
   * @param alias Index or alias to search.
   * @param options Serving settings over the manifest's, and how queries
   * are sent.
   * @throws {ConfigError} For an invalid setting.
   */
  constructor(
    client: Client,
    alias: string,
    options: ElasticsearchServingOptions = {},
  ) {
    checkServingOptions(options);
    this.#client = client;
    this.#alias = alias;
    this.#options = options;
  }

  // the model behind the alias, re-read after manifestTtlMs
  #current(signal?: AbortSignal) {
    const ttl = this.#options.manifestTtlMs ?? 5000;
    const cached = this.#model;
    const load = async () => {
      const { index, manifest } = await readIndexManifest(
        this.#client,
        this.#alias,
        { signal },
      );
      return {
        index,
        manifest,
        serving: resolveServing(manifest, this.#options),
        searchType: await this.#searchTypeOf(index, manifest, signal),
        read: Date.now(),
      };
    };
    if (!cached) {
      const p = load();
      this.#model = p;
      p.catch(() => {
        if (this.#model === p) this.#model = undefined;
      });
      return p;
    }
    return cached.then((m) => {
      if (Date.now() - m.read < ttl) return m;
      if (this.#model === cached) {
        const p = load();
        this.#model = p;
        p.catch(() => {
          if (this.#model === p) this.#model = cached;
        });
      }
      // a re-read that fails (a cluster electing a master answers mappings
      // with 503) answers from the model read before; an index gone since
      // is caught by recommend(), which reads the alias again
      return this.#model!.catch(() => m);
    });
  }

  async #searchTypeOf(
    index: string,
    manifest: ModelManifest,
    signal?: AbortSignal,
  ): Promise<SearchType> {
    const chosen = this.#options.searchType ?? "auto";
    if (chosen !== "auto") return chosen;
    const types = manifest.fields.map((f) =>
      f.weights === "none" ? "keyword" : "sparse_vector"
    );
    if (!types.includes("keyword")) return "query_then_fetch";
    try {
      const settings = await this.#client.indices.getSettings({ index }, {
        signal,
      });
      const shards = Number(settings[index]?.settings?.index?.number_of_shards);
      return Number.isFinite(shards)
        ? searchTypeFor(shards, types)
        : "dfs_query_then_fetch";
    } catch {
      // cannot tell (no right to read settings): global statistics are
      // never wrong
      return "dfs_query_then_fetch";
    }
  }

  /**
   * The search type the ranking query uses for the index the alias points
   * to (resolving `auto`, see
   * {@linkcode ElasticsearchServingOptions.searchType}).
   *
   * @returns `query_then_fetch` or `dfs_query_then_fetch`.
   */
  async searchType(): Promise<SearchType> {
    return (await this.#current()).searchType;
  }

  /**
   * The manifest of the model the alias points to.
   *
   * @returns The manifest.
   * @throws {ModelError} When the alias has no index with a manifest.
   */
  async manifest(): Promise<ModelManifest> {
    return (await this.#current()).manifest;
  }

  // the ranking search, inline or through a template
  async #rank(
    index: string,
    searchType: SearchType,
    request: RecommendRequest,
    r: NormalizedRequest,
    signal?: AbortSignal,
  ) {
    const mode = this.#options.queries ?? "inline";
    const name: TemplateName = request.history === undefined &&
        (request.item !== undefined || request.items !== undefined)
      ? "cco-similar-items"
      : "cco-recommend";
    if (mode === "stored-template") {
      return checkComplete(
        index,
        await this.#client.searchTemplate({
          index,
          id: name,
          params: templateParams(r),
          search_type: searchType,
        }, { signal }),
      );
    }
    let body: Record<string, unknown>;
    if (mode === "template") {
      let source = this.#templates.get(name);
      if (!source) this.#templates.set(name, source = await loadTemplate(name));
      body = renderTemplate(source, templateParams(r));
    } else {
      body = buildRecommendQuery(r);
    }
    return checkComplete(
      index,
      await this.#client.search({
        index,
        ...body,
        search_type: searchType,
        allow_partial_search_results: false,
      }, { signal }),
    );
  }

  // the query items' indicator lists, read from their documents
  async #indicatorsOf(
    index: string,
    manifest: ModelManifest,
    items: string[],
    signal?: AbortSignal,
  ): Promise<Map<string, ItemIndicators>> {
    const { docs } = await this.#client.mget({ index, ids: items }, {
      signal,
    });
    const found = new Map<string, ItemIndicators>();
    for (const doc of docs) {
      if (!("found" in doc) || !doc.found || !doc._source) continue;
      const source = doc._source as Record<string, unknown>;
      const lists: Record<
        string,
        { ids: readonly string[]; weights?: readonly number[] }
      > = {};
      for (const { name } of manifest.fields) {
        const value = source[name];
        if (Array.isArray(value)) lists[name] = { ids: value as string[] };
        else if (typeof value === "object" && value !== null) {
          // a sparse_vector: id -> weight
          const entries = Object.entries(value as Record<string, number>);
          lists[name] = {
            ids: entries.map(([id]) => id),
            weights: entries.map(([, w]) => w),
          };
        }
      }
      found.set(doc._id, lists);
    }
    return found;
  }

  /**
   * Runs the ranking query, then {@linkcode buildBackfillQuery} if needed.
   *
   * @param request History, rules and paging.
   * @param options An abort signal: cancels the Elasticsearch requests.
   * @returns Ranked recommendations, ties by id.
   * @throws {RequestError} On a malformed request.
   * @throws {UnavailableError} When the cluster cannot answer.
   * @throws {DeadlineError} When aborted or timed out.
   */
  async recommend(
    request: RecommendRequest,
    options: RecommendOptions = {},
  ): Promise<Recommendation[]> {
    const fail = (error: unknown) =>
      isIndexGone(error)
        ? clientError(error, `searching "${this.#alias}"`)
        : error;
    try {
      return await this.#recommend(request, options);
    } catch (error) {
      // the cached index was deleted (the alias moved on and retention
      // removed it): read the alias again and answer from its index
      if (!isIndexGone(error) || options.signal?.aborted) throw fail(error);
      this.#model = undefined;
      try {
        return await this.#recommend(request, options);
      } catch (again) {
        throw fail(again);
      }
    }
  }

  async #recommend(
    request: RecommendRequest,
    options: RecommendOptions,
  ): Promise<Recommendation[]> {
    const { signal } = options;
    try {
      if (signal?.aborted) throw new DeadlineError("the request was aborted");
      const { index, manifest, serving, searchType } = await this.#current(
        signal,
      );
      let r = normalizeRequest(request, manifest, serving);
      if (r.lookup) {
        r = addItemIndicators(
          r,
          manifest,
          await this.#indicatorsOf(index, manifest, r.lookup.items, signal),
        );
      }
      const want = r.from + r.num;
      let list: Recommendation[] = [];
      if (r.clauses.length > 0 || r.boosts.length > 0) {
        const response = await this.#rank(
          index,
          searchType,
          request,
          r,
          signal,
        );
        const names = new Map(r.clauses.map((c) => [clauseName(c), c]));
        for (const hit of response.hits.hits) {
          // Lucene scores are floats: Elasticsearch prints the shortest text
          // that reads back as the same float, fround recovers it exactly
          const rec: Recommendation = {
            id: hit._id!,
            score: Math.fround(hit._score ?? 0),
          };
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
        const response = checkComplete(
          index,
          await this.#client.search({
            index,
            ...body,
            allow_partial_search_results: false,
          }, { signal }),
        );
        for (const hit of response.hits.hits) {
          list.push({ id: hit._id!, score: 0, backfill: true });
        }
      }
      return list.slice(r.from);
    } catch (error) {
      if (signal?.aborted) {
        throw new DeadlineError("the request was aborted", { cause: error });
      }
      if (isIndexGone(error)) throw error;
      throw clientError(error, `searching "${this.#alias}"`);
    }
  }
}

// Shard failures and timeouts give partial hits with a 200: never serve them.
function checkComplete(index: string, response: SearchAnswer): SearchAnswer {
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
  return response;
}

// Elasticsearch's answer for a search of an index that no longer exists
function isIndexGone(error: unknown): boolean {
  const meta = (error as {
    meta?: { statusCode?: number; body?: { error?: { type?: string } } };
  }).meta;
  return meta?.statusCode === 404 &&
    meta.body?.error?.type === "index_not_found_exception";
}
