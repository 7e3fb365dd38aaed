/**
 * Bulk indexing of a model's documents into one index, as they come (an
 * array or any async iterable), through the client's `helpers.bulk`, which
 * retries 429s. Any document it still drops fails the build with an
 * {@linkcode IndexingError}, and the final document count is verified. The
 * index is created first with the strict mapping of `mapping.ts` and a
 * write alias (`<index>-bulk`); every bulk action goes to that alias with
 * `require_alias`, so a bulk request can never create an index with
 * dynamic mappings: if the index is deleted under the build (by another
 * process), the alias goes with it and the next bulk request fails.
 *
 * @example Index a model (needs a running cluster)
 * ```ts ignore
 * import { Client } from "./client.ts";
 * import { indexDocuments } from "./indexing.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * const documents = [{ id: "tent", indicators: ["stove"] }, { id: "stove", indicators: ["tent"] }];
 * await indexDocuments(client, "items", { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents });
 * ```
 *
 * @module
 */

import type { Client } from "./client.ts";
import { clientError } from "./client.ts";
import { CcoError } from "../errors/mod.ts";
import type { IndexableDocument } from "../model/document.ts";
import type { ModelManifest } from "../model/manifest.ts";
import { indexBody, toSource } from "./mapping.ts";

/** Raised when a build loses documents or the index does not verify. */
export class IndexingError extends CcoError {
  /** Documents Elasticsearch rejected or that could not be sent. */
  readonly dropped: number;

  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param dropped Number of dropped documents.
   * @param options The underlying error.
   */
  constructor(message: string, dropped = 0, options?: ErrorOptions) {
    super(message, options);
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
  /**
   * Primary shards, 1 to 1024 (default: {@linkcode defaultShards} of the
   * manifest).
   */
  shards?: number;
  /** Replicas (default 0: a single node cannot place any). */
  replicas?: number;
  /** Extra `_meta.cco` entries stored with the manifest (e.g. build state). */
  meta?: Record<string, unknown>;
  /** Called with the number of documents indexed so far. */
  onProgress?: (indexed: number) => void;
  /** Called with each document as it is sent (e.g. to sample it). */
  onDocument?: (doc: IndexableDocument, n: number) => void;
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
 * Indicators (ids over all indicator fields) per primary shard that
 * {@linkcode defaultShards} aims at: about 4.3 GiB of primary store with
 * weighted fields (23 bytes per indicator, measured on 3M indicators after a
 * force merge, `_source` included; 11 bytes with `keyword` fields), under
 * Elasticsearch's advice of 10 to 50 GB per shard, so that one shard's
 * share of a query stays short.
 */
export const INDICATORS_PER_SHARD = 200_000_000;

/**
 * The default number of primary shards for a model: one per
 * {@linkcode INDICATORS_PER_SHARD} indicators (the manifest's counts over
 * every field), at least 1. Catalogues up to tens of millions of items with
 * the default 50 indicators per field fit one shard; sharding more buys
 * nothing on one node and, for unweighted fields, costs a statistics round
 * trip per query (`dfs_query_then_fetch`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultShards } from "./indexing.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const m = manifestFor([{ id: "a", indicators: ["b", "c"] }], { primaryEvent: "buy" });
 * assert.equal(defaultShards(m), 1);
 * ```
 *
 * @param manifest The model's manifest.
 * @returns Primary shards.
 */
export function defaultShards(manifest: ModelManifest): number {
  let indicators = 0;
  for (const field of manifest.fields) indicators += field.indicators;
  return Math.max(1, Math.ceil(indicators / INDICATORS_PER_SHARD));
}

/**
 * Checks bulk options before any work.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkIndexOptions } from "./indexing.ts";
 *
 * checkIndexOptions({ concurrency: 2 });
 * assert.throws(() => checkIndexOptions({ concurrency: 0 }), /concurrency must be an integer >= 1, got 0/);
 * ```
 *
 * @param options Bulk options.
 * @throws {IndexingError} For an option that cannot work.
 */
export function checkIndexOptions(options: IndexOptions): void {
  const { shards } = options;
  if (
    shards !== undefined &&
    (!Number.isInteger(shards) || shards < 1 || shards > 1024)
  ) {
    throw new IndexingError(
      `shards must be an integer from 1 to 1024, got ${shards}`,
    );
  }
  const positive = ["flushBytes", "concurrency"] as const;
  for (const key of positive) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new IndexingError(`${key} must be an integer >= 1, got ${v}`);
    }
  }
  for (const key of ["retries", "replicas", "retryWaitMs"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) {
      throw new IndexingError(`${key} must be an integer >= 0, got ${v}`);
    }
  }
}

/**
 * Creates `index` with the model's mapping and bulk-creates its documents,
 * then refreshes and verifies the document count and that no document was
 * written twice (a bulk request the client retried after losing a node
 * finds its documents already there: 409, counted as indexed, and no
 * deleted copy left behind, which BM25 statistics would count).
 *
 * @example
 * ```ts ignore
 * import { Client } from "./client.ts";
 * import { indexDocuments } from "./indexing.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * await indexDocuments(client, "items", model);
 * ```
 *
 * @param client A connected client.
 * @param index Index name.
 * @param model The manifest and the documents (an array or any iterable).
 * @param options Replace flag, bulk sizing, progress callback.
 * @returns What was indexed.
 * @throws {IndexingError} When the index exists (without `replace`), any
 * document is dropped, or the count does not match.
 */
export async function indexDocuments(
  client: Client,
  index: string,
  model: {
    manifest: ModelManifest;
    documents:
      | Iterable<IndexableDocument>
      | AsyncIterable<IndexableDocument>;
  },
  options: IndexOptions = {},
): Promise<IndexResult> {
  checkIndexOptions(options);
  const t0 = performance.now();
  const replicas = options.replicas ?? 0;
  const body = indexBody(model.manifest, {
    shards: options.shards ?? defaultShards(model.manifest),
    replicas,
    meta: options.meta,
  });
  try {
    if (await client.indices.exists({ index })) {
      if (!options.replace) {
        throw new IndexingError(
          `index "${index}" already exists (pass replace to overwrite it)`,
        );
      }
      await client.indices.delete({ index });
    }
    // Start indexing only once every replica that can be placed is active
    // (in sync): a replica still recovering when its primary's node dies
    // cannot take over, and the shard stops taking writes.
    const copies = replicas === 0 ? 1 : Math.min(
      replicas + 1,
      (await client.cluster.health({})).number_of_data_nodes ?? 1,
    );
    await client.indices.create({
      index,
      ...body,
      aliases: { [writeAlias(index)]: {} },
      wait_for_active_shards: copies,
    });
  } catch (error) {
    if (error instanceof IndexingError) throw error;
    throw new IndexingError(
      `creating index "${index}" failed: ${
        clientError(error, "creating the index").message
      }`,
      0,
      { cause: error },
    );
  }

  let sent = 0;
  let succeeded = 0;
  // `create` answered 409: already indexed by an earlier attempt of a bulk
  // request the client retried (its answer was lost with a node)
  let conflicts = 0;
  const dropped: string[] = [];
  async function* source() {
    for await (const doc of model.documents) {
      sent++;
      options.onDocument?.(doc, sent);
      yield toSource(doc) as { id: string };
    }
  }
  let stats: Awaited<ReturnType<Client["helpers"]["bulk"]>>;
  try {
    stats = await client.helpers.bulk({
      datasource: source(),
      // `create`, not `index`: a retried request then re-creates nothing
      // (re-indexing would leave deleted copies that BM25 statistics count)
      onDocument: (doc) => ({
        create: { _index: writeAlias(index), _id: doc.id, require_alias: true },
      }),
      onDrop: (d) => {
        if (
          d.status === 409 &&
          d.error?.type === "version_conflict_engine_exception"
        ) {
          conflicts++;
          succeeded++;
          options.onProgress?.(succeeded);
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
      onSuccess: () => {
        // counted whether or not anyone listens (`?.` would skip the ++)
        succeeded++;
        options.onProgress?.(succeeded);
      },
      flushBytes: options.flushBytes ?? 5_000_000,
      concurrency: options.concurrency ?? 2,
      retries: options.retries ?? 3,
      wait: options.retryWaitMs ?? 5000,
      refreshOnCompletion: index,
    });
  } catch (error) {
    throw new IndexingError(
      `bulk indexing into "${index}" failed after ${succeeded} of ${sent} documents: ${
        clientError(error, "indexing").message
      }`,
      Math.max(0, sent - succeeded),
      { cause: error },
    );
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
  let count: number;
  let deleted: number;
  try {
    await client.indices.deleteAlias({ index, name: writeAlias(index) });
    count = (await client.count({ index })).count;
    const docStats = await client.indices.stats({ index, metric: "docs" });
    deleted = docStats._all?.total?.docs?.deleted ?? 0;
  } catch (error) {
    throw new IndexingError(
      `counting "${index}" failed: ${clientError(error, "counting").message}`,
    );
  }
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
  if (deleted > 0) {
    throw new IndexingError(
      `index "${index}" holds ${deleted} deleted documents after the build, which would skew BM25 statistics`,
    );
  }
  return { index, documents: count, millis: performance.now() - t0 };
}

/**
 * The alias a build writes through (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { writeAlias } from "./indexing.ts";
 *
 * assert.equal(writeAlias("cco-items_20261125000000000"), "cco-items_20261125000000000-bulk");
 * ```
 *
 * @param index The index being built.
 * @returns Its write alias.
 */
export function writeAlias(index: string): string {
  return `${index}-bulk`;
}
