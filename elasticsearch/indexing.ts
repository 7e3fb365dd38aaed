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
  /** Primary shards (default 1). */
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
  const positive = ["flushBytes", "concurrency", "shards"] as const;
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
 * Creates `index` with the model's mapping and bulk-indexes its documents,
 * then refreshes and verifies the document count.
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
  const body = indexBody(model.manifest, {
    shards: options.shards ?? 1,
    replicas: options.replicas ?? 0,
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
    await client.indices.create({
      index,
      ...body,
      aliases: { [writeAlias(index)]: {} },
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
      onDocument: (doc) => ({
        index: { _index: writeAlias(index), _id: doc.id, require_alias: true },
      }),
      onDrop: (d) => {
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
  if (dropped.length > 0 || stats.failed > 0 || stats.aborted) {
    const n = Math.max(dropped.length, stats.failed);
    throw new IndexingError(
      `${n} of ${sent} documents were dropped while indexing "${index}": ${
        dropped.filter(Boolean).join("; ") || "bulk aborted"
      }`,
      n,
    );
  }
  let count: number;
  try {
    await client.indices.deleteAlias({ index, name: writeAlias(index) });
    count = (await client.count({ index })).count;
  } catch (error) {
    throw new IndexingError(
      `counting "${index}" failed: ${clientError(error, "counting").message}`,
    );
  }
  if (count !== sent) {
    throw new IndexingError(
      `index "${index}" holds ${count} documents after the build, expected ${sent}`,
      Math.max(0, sent - count),
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
