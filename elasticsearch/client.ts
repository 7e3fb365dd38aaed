// deno-lint-ignore-file no-import-prefix
/**
 * The Elasticsearch client cco-es speaks through (the official
 * `npm:@elastic/elasticsearch` 8.x, imported here and nowhere else, by its
 * full specifier, so this package imports without an import map), and the
 * translation of its failures into cco-es's errors:
 *
 * | client failure | cco-es error |
 * | --- | --- |
 * | no connection, no living node, 5xx, 429 | `UnavailableError` (503) |
 * | request timeout, aborted by the caller's signal | `DeadlineError` (504) |
 * | 400 caused by the request (a bad value for a field type, a term too long) | `RequestError` (400) |
 * | anything else (e.g. 404 on the alias) | `CcoError` (500) |
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientError, createClient } from "./client.ts";
 * import { UnavailableError } from "../errors/mod.ts";
 *
 * const client = createClient({ node: "http://127.0.0.1:9", maxRetries: 0, requestTimeout: 2000 });
 * const error = await client.count({ index: "x" }).catch((e) => clientError(e, "counting"));
 * assert.ok(error instanceof UnavailableError);
 * assert.match(error.message, /^counting: Elasticsearch is unreachable/);
 * await client.close();
 * ```
 *
 * @module
 */

import {
  CcoError,
  DeadlineError,
  RequestError,
  UnavailableError,
} from "../errors/mod.ts";
// The full specifier (not an import-map name), so that this package works
// when imported by path from another project, without copying our map.
import {
  Client as OfficialClient,
  errors,
} from "npm:@elastic/elasticsearch@8.19.2";

/** Options of a request to the cluster. */
export interface ClientRequestOptions {
  /** Cancels the request. */
  signal?: AbortSignal;
}

/** One search hit, as cco-es reads it. */
export interface SearchHit {
  /** Document id. */
  _id?: string;
  /** Score (a 32-bit float printed as its shortest decimal). */
  _score?: number | null;
  /** Named queries the document matched. */
  matched_queries?: string[] | Record<string, number>;
  /** The document, when requested. */
  _source?: unknown;
}

/** A search answer, as cco-es reads it. */
export interface SearchAnswer {
  /** The hits. */
  hits: { hits: SearchHit[] };
  /** Whether the search ran out of time (its hits are then partial). */
  timed_out?: boolean;
  /** Shards searched and failed (failed ones leave the hits partial). */
  _shards?: { total: number; failed: number };
}

/**
 * The members of the official `npm:@elastic/elasticsearch` 8.x client that
 * cco-es uses (the library, and its cluster tests and benchmarks: shard
 * placement, the elected master, the client's retries), typed by what
 * cco-es sends and reads. A client of that package satisfies it as it is
 * (no cast): pass `new Client({ node })` of the official package, or use
 * `createClient` / `connect`.
 */
export interface Client {
  /** Searches. */
  search(
    params: {
      index: string;
      size?: number;
      query?: object;
      sort?: object[];
      _source?: boolean;
      track_scores?: boolean;
      track_total_hits?: boolean;
      search_type?: "query_then_fetch" | "dfs_query_then_fetch";
      allow_partial_search_results?: boolean;
    },
    options?: ClientRequestOptions,
  ): Promise<SearchAnswer>;
  /** Runs a stored search template. */
  searchTemplate(
    params: {
      index: string;
      id: string;
      params: Record<string, unknown>;
      search_type?: "query_then_fetch" | "dfs_query_then_fetch";
    },
    options?: ClientRequestOptions,
  ): Promise<SearchAnswer>;
  /** Counts documents. */
  count(
    params: { index: string },
    options?: ClientRequestOptions,
  ): Promise<{ count: number }>;
  /** Reads documents by id. */
  mget(
    params: { index: string; ids: string[] },
    options?: ClientRequestOptions,
  ): Promise<
    {
      docs: ({ _id: string; found?: boolean; _source?: unknown } | {
        _id: string;
        error: unknown;
      })[];
    }
  >;
  /** Indexes one document (`op_type: "create"` fails if it exists; `if_seq_no` and `if_primary_term` make it conditional). */
  index(
    params: {
      index: string;
      document: object;
      refresh?: boolean;
      id?: string;
      op_type?: "create" | "index";
      if_seq_no?: number;
      if_primary_term?: number;
    },
    options?: ClientRequestOptions,
  ): Promise<{ _seq_no?: number; _primary_term?: number }>;
  /** Reads one document by id (real time). */
  get(
    params: { index: string; id: string },
    options?: ClientRequestOptions,
  ): Promise<
    {
      found: boolean;
      _source?: unknown;
      _seq_no?: number;
      _primary_term?: number;
    }
  >;
  /** Deletes one document (conditionally with `if_seq_no` and `if_primary_term`). */
  delete(
    params: {
      index: string;
      id: string;
      if_seq_no?: number;
      if_primary_term?: number;
    },
    options?: ClientRequestOptions,
  ): Promise<unknown>;
  /** Sends bulk operations. */
  bulk(
    params: { operations: object[]; refresh?: boolean },
    options?: ClientRequestOptions,
  ): Promise<{ errors: boolean }>;
  /** Stores a script (a search template). */
  putScript(
    params: { id: string; script: { lang: string; source: string } },
    options?: ClientRequestOptions,
  ): Promise<unknown>;
  /** Closes the connections. */
  close(): Promise<void>;
  /** Index management. */
  indices: {
    create(
      params: {
        index: string;
        settings?: Record<string, unknown>;
        mappings?: Record<string, unknown>;
        aliases?: Record<string, object>;
        wait_for_active_shards?: number;
      },
      options?: ClientRequestOptions,
    ): Promise<unknown>;
    delete(
      params: { index: string | string[]; ignore_unavailable?: boolean },
      options?: ClientRequestOptions,
    ): Promise<unknown>;
    exists(
      params: { index: string; allow_no_indices?: boolean },
      options?: ClientRequestOptions,
    ): Promise<boolean>;
    getMapping(
      params: { index: string },
      options?: ClientRequestOptions,
    ): Promise<
      Record<
        string,
        { mappings?: { dynamic?: unknown; _meta?: Record<string, unknown> } }
      >
    >;
    putMapping(
      params: { index: string; _meta?: Record<string, unknown> },
      options?: ClientRequestOptions,
    ): Promise<unknown>;
    getSettings(
      params: { index: string },
      options?: ClientRequestOptions,
    ): Promise<
      Record<
        string,
        { settings?: { index?: { number_of_shards?: string | number } } }
      >
    >;
    stats(
      params: { index: string; metric: "docs" },
      options?: ClientRequestOptions,
    ): Promise<
      { _all?: { total?: { docs?: { count?: number; deleted?: number } } } }
    >;
    getAlias(
      params: { name: string },
      options?: ClientRequestOptions,
    ): Promise<Record<string, unknown>>;
    deleteAlias(
      params: { index: string; name: string },
      options?: ClientRequestOptions,
    ): Promise<unknown>;
    updateAliases(
      params: { actions: Record<string, { index: string; alias: string }>[] },
      options?: ClientRequestOptions,
    ): Promise<unknown>;
  };
  /** Compact listings. */
  cat: {
    indices(
      params: {
        index: string;
        format: "json";
        h: string[];
        expand_wildcards?: "open";
        /** Unit of sizes (`b`: bytes). */
        bytes?: "b";
      },
      options?: ClientRequestOptions,
    ): Promise<
      {
        index?: string;
        "docs.count"?: string | null;
        "pri.store.size"?: string | null;
      }[]
    >;
    /** Every shard copy: index, shard number, primary or replica, state, node. */
    shards(
      params: { index: string; format: "json"; h: string[] },
      options?: ClientRequestOptions,
    ): Promise<
      {
        index?: string;
        shard?: string;
        prirep?: string;
        state?: string;
        node?: string | null;
      }[]
    >;
    /** The elected master node. */
    master(
      params: { format: "json" },
      options?: ClientRequestOptions,
    ): Promise<{ node?: string }[]>;
  };
  /** Node information. */
  nodes: {
    info(
      params: { node_id?: string; metric?: string; filter_path?: string },
      options?: ClientRequestOptions,
    ): Promise<
      {
        nodes?: Record<
          string,
          {
            version?: string;
            modules?: { name: string }[];
            plugins?: { name: string }[];
          }
        >;
      }
    >;
  };
  /** Cluster health. */
  cluster: {
    health(
      params: {
        wait_for_status?: "green" | "yellow";
        wait_for_nodes?: string;
        wait_for_no_initializing_shards?: boolean;
        timeout?: string;
      },
      options?: ClientRequestOptions,
    ): Promise<
      {
        status: string;
        timed_out: boolean;
        number_of_nodes: number;
        number_of_data_nodes?: number;
      }
    >;
  };
  /** The client's events: `response` tells how often a request was retried. */
  diagnostic: {
    on(
      event: "response",
      listener: (
        error: unknown,
        result: { meta: { attempts: number } } | null,
      ) => void,
    ): unknown;
  };
  /** The client's helpers. */
  helpers: {
    bulk(options: {
      datasource: AsyncIterator<{ id: string }>;
      onDocument: (
        doc: { id: string },
      ) => {
        create: { _index: string; _id: string; require_alias?: boolean };
      };
      onDrop?: (
        dropped: {
          status: number;
          error: { type: string; reason?: string | null } | null;
          document: { id: string };
        },
      ) => void;
      onSuccess?: () => void;
      flushBytes?: number;
      concurrency?: number;
      retries?: number;
      wait?: number;
      refreshOnCompletion?: string;
    }): Promise<{ failed: number; aborted: boolean }>;
  };
}

/** How to construct a {@linkcode Client} (the official options cco-es uses). */
export interface ClientOptions {
  /** Cluster URL, or several nodes' URLs. */
  node: string | string[];
  /** Per-request timeout in milliseconds (default 30 000). */
  requestTimeout?: number;
  /** Retries of a failed request on another node (default 3). */
  maxRetries?: number;
  /** API key or basic-auth credentials. */
  auth?: { apiKey: string } | { username: string; password: string };
  /** SHA-256 fingerprint of the CA certificate. */
  caFingerprint?: string;
  /** TLS settings: a PEM CA certificate to trust. */
  tls?: { ca?: string };
}

/**
 * Constructs a {@linkcode Client} (no request is sent; `connect` also
 * checks that the cluster answers).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createClient } from "./client.ts";
 *
 * const client = createClient({ node: "http://127.0.0.1:9200" });
 * assert.equal(typeof client.search, "function");
 * await client.close();
 * ```
 *
 * @param options Node(s), timeout, credentials.
 * @returns The client (close it when done).
 */
export function createClient(options: ClientOptions): Client {
  return new OfficialClient(options);
}

/** The official client's error classes, to tell its failures apart. */
export { errors };

/**
 * The cco-es error for a failure of the client (see the module
 * documentation); a `CcoError` passes through unchanged.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clientError, errors } from "./client.ts";
 *
 * const e = clientError(new errors.TimeoutError("Request timed out"), "searching");
 * assert.equal(e.name, "DeadlineError");
 * assert.equal(e.message, "searching: Elasticsearch did not answer in time (Request timed out)");
 * ```
 *
 * @param error What the client threw.
 * @param what What was being done, for the message (e.g. `searching "cco-items"`).
 * @returns The error to throw.
 */
export function clientError(error: unknown, what: string): CcoError {
  if (error instanceof CcoError) return error;
  const message = (error instanceof Error ? error.message : String(error))
    .split("\n")[0];
  if (
    error instanceof errors.RequestAbortedError ||
    (error instanceof Error && error.name === "AbortError")
  ) {
    return new DeadlineError(`${what}: the request was aborted`, {
      cause: error,
    });
  }
  if (error instanceof errors.TimeoutError) {
    return new DeadlineError(
      `${what}: Elasticsearch did not answer in time (${message})`,
      { cause: error },
    );
  }
  if (
    error instanceof errors.ConnectionError ||
    error instanceof errors.NoLivingConnectionsError
  ) {
    return new UnavailableError(
      `${what}: Elasticsearch is unreachable (${message})`,
      { cause: error },
    );
  }
  if (error instanceof errors.ResponseError) {
    const status = error.meta.statusCode ?? 0;
    const reason = rootCause(error.meta.body) ?? message;
    if (status >= 500 || status === 429) {
      return new UnavailableError(
        `${what}: Elasticsearch answered ${status} (${reason})`,
        { cause: error },
      );
    }
    if (status === 400) {
      return new RequestError(
        "request",
        `was rejected by Elasticsearch: ${reason}`,
        { cause: error },
      );
    }
    return new CcoError(
      `${what}: Elasticsearch answered ${status} (${reason})`,
      {
        cause: error,
      },
    );
  }
  return new CcoError(`${what}: ${message}`, { cause: error });
}

function rootCause(body: unknown): string | undefined {
  const e = (body as { error?: unknown })?.error;
  if (typeof e === "string") return e;
  const error = e as {
    type?: string;
    reason?: string;
    root_cause?: { type?: string; reason?: string }[];
    caused_by?: { type?: string; reason?: string };
  } | undefined;
  if (!error) return undefined;
  const deepest = error.caused_by ?? error.root_cause?.[0] ?? error;
  return `${deepest.type ?? error.type}: ${deepest.reason ?? error.reason}`
    .split("\n")[0].slice(0, 300);
}
