/**
 * Connects to Elasticsearch with a clear one-line error when the cluster is
 * unreachable or runs a major version the client does not speak.
 *
 * The URL comes from the `url` option, else the `ES_URL` environment
 * variable. Credentials in the URL are never printed.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connection.ts";
 *
 * const client = await connect({ url: "http://127.0.0.1:9200" });
 * await client.close();
 * ```
 *
 * @module
 */

import { Client } from "@elastic/elasticsearch";

/**
 * An `npm:@elastic/elasticsearch` 8.x `Client`, as the public API accepts and
 * returns it. Typed structurally (only the members cco-es uses) so that the
 * library's API does not re-export the client's declarations; pass a
 * `new Client({ node })` directly, and cast a returned one to `Client` to use
 * the rest of its API.
 */
export interface ElasticsearchClient {
  /** `Client.search`. */
  search(...args: never[]): Promise<unknown>;
  /** `Client.count`. */
  count(...args: never[]): Promise<unknown>;
  /** `Client.indices`. */
  indices: {
    /** `Client.indices.create`. */
    create(...args: never[]): Promise<unknown>;
    /** `Client.indices.delete`. */
    delete(...args: never[]): Promise<unknown>;
    /** `Client.indices.exists`. */
    exists(...args: never[]): Promise<unknown>;
  };
  /** `Client.helpers`. */
  helpers: {
    /** `Client.helpers.bulk`. */
    bulk(...args: never[]): unknown;
  };
  /** `Client.nodes`. */
  nodes: {
    /** `Client.nodes.info`. */
    info(...args: never[]): Promise<unknown>;
  };
  /** `Client.close`. */
  close(): Promise<void>;
}

/** The Elasticsearch major version this client speaks. */
export const SUPPORTED_MAJOR = 8;

/** Raised when Elasticsearch cannot be used; the message is one line. */
export class ConnectionError extends Error {
  /**
   * Creates the error.
   *
   * @param message One-line cause.
   * @param options The underlying error.
   */
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "ConnectionError";
  }
}

/** Options for {@linkcode connect}. */
export interface ConnectionOptions {
  /** Cluster URL; default: the `ES_URL` environment variable. */
  url?: string;
  /** Per-request timeout in milliseconds (default 30 000). */
  requestTimeoutMs?: number;
}

/**
 * The URL to use: `url` when given, else `ES_URL`, else `undefined`.
 *
 * @example
 * ```ts
 * import { resolveEsUrl } from "./connection.ts";
 *
 * resolveEsUrl("http://127.0.0.1:9200"); // "http://127.0.0.1:9200"
 * ```
 *
 * @param url An explicit URL.
 * @returns The URL, if any.
 */
export function resolveEsUrl(url?: string): string | undefined {
  if (url) return url;
  try {
    return Deno.env.get("ES_URL") || undefined;
  } catch {
    return undefined; // no --allow-env: treat as unset
  }
}

/**
 * Strips user and password from a URL for printing.
 *
 * @example
 * ```ts
 * import { redactUrl } from "./connection.ts";
 *
 * redactUrl("https://elastic:secret@host:9200/"); // "https://***@host:9200/"
 * ```
 *
 * @param url A URL.
 * @returns The URL without credentials.
 */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (!u.username && !u.password) return u.href;
    u.username = "";
    u.password = "";
    return u.href.replace("//", "//***@");
  } catch {
    return "<invalid URL>";
  }
}

/**
 * Creates a client and checks that the cluster answers and is version 8.
 *
 * @example
 * ```ts ignore
 * import { connect } from "./connection.ts";
 *
 * const client = await connect(); // uses ES_URL
 * ```
 *
 * @param options URL and timeout.
 * @returns A connected client (close it when done).
 * @throws {ConnectionError} When no URL is set, the cluster is unreachable,
 * or its major version differs.
 */
export async function connect(
  options: ConnectionOptions = {},
): Promise<ElasticsearchClient> {
  const url = resolveEsUrl(options.url);
  if (!url) {
    throw new ConnectionError(
      "no Elasticsearch URL: set ES_URL or pass --es-url",
    );
  }
  let client: Client;
  try {
    client = new Client({
      node: url,
      requestTimeout: options.requestTimeoutMs ?? 30_000,
      maxRetries: 2,
    });
  } catch (error) {
    throw new ConnectionError(
      `invalid Elasticsearch URL ${redactUrl(url)}: ${messageOf(error)}`,
      { cause: error },
    );
  }
  let version: string;
  try {
    // `GET /` (client.info) is absent from minimal distributions (no
    // rest-root module); the local node's info is always there.
    const info = await client.nodes.info({
      node_id: "_local",
      filter_path: "nodes.*.version",
    });
    version = Object.values(info.nodes ?? {})[0]?.version ?? "unknown";
  } catch (error) {
    await client.close();
    throw new ConnectionError(
      `Elasticsearch at ${redactUrl(url)} is unreachable: ${messageOf(error)}`,
      { cause: error },
    );
  }
  if (Number(version.split(".")[0]) !== SUPPORTED_MAJOR) {
    await client.close();
    throw new ConnectionError(
      `Elasticsearch at ${
        redactUrl(url)
      } runs ${version}; this client needs ${SUPPORTED_MAJOR}.x`,
    );
  }
  return client;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}
