/**
 * Connects to Elasticsearch with a clear one-line error when the cluster is
 * unreachable, refuses the credentials, or runs a major version the client
 * does not speak.
 *
 * Settings (URL, API key or basic auth, CA certificate or fingerprint,
 * timeout) come from options, `ES_*` environment variables, or a JSON config
 * file: see {@linkcode resolveConnection}. Secrets are never printed:
 * messages name the URL without credentials and which kind of credentials
 * was used, not their value.
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

import { type Client, createClient } from "./client.ts";
import { ConfigError, UnavailableError } from "../errors/mod.ts";

/** The Elasticsearch major version this client speaks. */
export const SUPPORTED_MAJOR = 8;

/**
 * How to reach Elasticsearch. Every field can also come from an environment
 * variable or a JSON config file (see {@linkcode resolveConnection}).
 */
export interface ConnectionOptions {
  /**
   * Cluster URL (`ES_URL`), or several nodes' URLs separated by commas: the
   * client spreads requests over them and retries a failed request on
   * another node (see {@linkcode nodeUrls}).
   */
  url?: string;
  /** API key, base64 `id:key` as Elasticsearch returns it (`ES_API_KEY`). */
  apiKey?: string;
  /** Basic-auth user (`ES_USERNAME`). */
  username?: string;
  /** Basic-auth password (`ES_PASSWORD`). */
  password?: string;
  /** Path of a PEM CA certificate to trust for https (`ES_CA_CERT`). */
  caCert?: string;
  /** SHA-256 fingerprint of the CA certificate (`ES_CA_FINGERPRINT`). */
  caFingerprint?: string;
  /** Per-request timeout in milliseconds, default 30 000 (`ES_TIMEOUT_MS`). */
  requestTimeoutMs?: number;
}

const ENV: Record<
  Exclude<keyof ConnectionOptions, "requestTimeoutMs">,
  string
> = {
  url: "ES_URL",
  apiKey: "ES_API_KEY",
  username: "ES_USERNAME",
  password: "ES_PASSWORD",
  caCert: "ES_CA_CERT",
  caFingerprint: "ES_CA_FINGERPRINT",
};

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name) || undefined;
  } catch {
    return undefined; // no --allow-env: treat as unset
  }
}

/**
 * Merges connection settings: explicit options first, then environment
 * variables (`ES_URL`, `ES_API_KEY`, `ES_USERNAME`, `ES_PASSWORD`,
 * `ES_CA_CERT`, `ES_CA_FINGERPRINT`, `ES_TIMEOUT_MS`), then a JSON config
 * file holding a {@linkcode ConnectionOptions} object (`configFile`, else
 * `$CCO_ES_CONFIG`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveConnection } from "./connection.ts";
 *
 * // explicit settings win over ES_* variables and the config file
 * const settings = resolveConnection({ url: "http://127.0.0.1:9200", requestTimeoutMs: 5000 });
 * assert.equal(settings.url, "http://127.0.0.1:9200");
 * assert.equal(settings.requestTimeoutMs, 5000);
 * ```
 *
 * @param options Explicit settings.
 * @param configFile Path of a JSON config file.
 * @returns The merged settings.
 * @throws {ConfigError} When the config file is unreadable or invalid.
 */
export function resolveConnection(
  options: ConnectionOptions = {},
  configFile: string | undefined = env("CCO_ES_CONFIG"),
): ConnectionOptions {
  let fromFile: ConnectionOptions = {};
  if (configFile) {
    try {
      fromFile = JSON.parse(Deno.readTextFileSync(configFile));
    } catch (error) {
      throw new ConfigError(
        configFile,
        `cannot be read as Elasticsearch settings: ${messageOf(error)}`,
      );
    }
    const known = new Set([...Object.keys(ENV), "requestTimeoutMs"]);
    const unknown = Object.keys(fromFile).filter((k) => !known.has(k));
    if (typeof fromFile !== "object" || fromFile === null || unknown.length) {
      throw new ConfigError(
        configFile,
        `has unknown keys ${unknown.join(", ")} (expected ${
          [...known].join(", ")
        })`,
      );
    }
  }
  const out: ConnectionOptions = {};
  for (const [key, variable] of Object.entries(ENV)) {
    const k = key as keyof typeof ENV;
    const value = options[k] ?? env(variable) ?? fromFile[k];
    if (value !== undefined) out[k] = value;
  }
  const timeout = options.requestTimeoutMs ??
    (env("ES_TIMEOUT_MS") ? Number(env("ES_TIMEOUT_MS")) : undefined) ??
    fromFile.requestTimeoutMs;
  if (timeout !== undefined) {
    if (!(Number.isFinite(timeout) && timeout > 0)) {
      throw new ConfigError(
        "requestTimeoutMs",
        `must be a positive number of milliseconds, got ${timeout}`,
      );
    }
    out.requestTimeoutMs = timeout;
  }
  return out;
}

/**
 * The URL to use: `url` when given, else `ES_URL`, else `undefined`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveEsUrl } from "./connection.ts";
 *
 * assert.equal(resolveEsUrl("http://127.0.0.1:9200"), "http://127.0.0.1:9200");
 * ```
 *
 * @param url An explicit URL.
 * @returns The URL, if any.
 */
export function resolveEsUrl(url?: string): string | undefined {
  return url || env("ES_URL");
}

/**
 * The node URLs of a `url` setting: one URL, or several separated by commas
 * (all nodes of one cluster).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nodeUrls } from "./connection.ts";
 *
 * assert.deepEqual(nodeUrls("http://127.0.0.1:9200, http://127.0.0.1:9201"), [
 *   "http://127.0.0.1:9200",
 *   "http://127.0.0.1:9201",
 * ]);
 * ```
 *
 * @param url One URL or a comma-separated list.
 * @returns The URLs, trimmed, empty entries left out.
 */
export function nodeUrls(url: string): string[] {
  return url.split(",").map((u) => u.trim()).filter(Boolean);
}

/**
 * A URL fit for printing (each of a comma-separated list): no user,
 * password, query or fragment. Text that is not an http(s) URL is masked
 * the same way (everything before its last `@`, and after `?` or `#`),
 * since a password with `/` or `#` in it makes an unparseable URL that
 * still holds the password.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { redactUrl } from "./connection.ts";
 *
 * assert.equal(redactUrl("https://elastic:secret@host:9200/"), "https://***@host:9200/");
 * assert.equal(redactUrl("http://elastic:pa/ss@host:9200"), "http://***@host:9200");
 * assert.equal(redactUrl("http://host:9200/?api_key=secret"), "http://host:9200/?***");
 * ```
 *
 * @param url A URL.
 * @returns The URL without credentials.
 */
export function redactUrl(url: string): string {
  if (url.includes(",")) return nodeUrls(url).map(redactUrl).join(",");
  const text = url.trim();
  try {
    const u = new URL(text);
    if (u.protocol === "http:" || u.protocol === "https:") {
      const credentials = u.username !== "" || u.password !== "";
      u.username = "";
      u.password = "";
      if (u.search) u.search = "?***";
      u.hash = "";
      return credentials ? u.href.replace("//", "//***@") : u.href;
    }
  } catch {
    // not a URL: masked below
  }
  let masked = text;
  const at = masked.lastIndexOf("@");
  if (at >= 0) {
    const scheme = /^[A-Za-z][A-Za-z0-9+.-]*:\/\//.exec(masked)?.[0] ?? "";
    masked = `${scheme}***${masked.slice(at)}`;
  }
  // deno-lint-ignore no-control-regex
  masked = masked.replace(/[?#].*$/s, "?***").replace(/[\x00-\x1f\x7f]/g, "?");
  return masked.length > 200 ? `${masked.slice(0, 200)}...` : masked;
}

/**
 * Checks that `url` is an http(s) URL the client can use, with a one-line
 * cause that never shows its credentials.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkEsUrl } from "./connection.ts";
 *
 * checkEsUrl("https://elastic:s3cret@host:9200");
 * assert.throws(() => checkEsUrl("host:9200"), /Elasticsearch URL host:9200 must start with http:\/\/ or https:\/\//);
 * assert.throws(
 *   () => checkEsUrl("http://elastic:pa/ss@host:9200"),
 *   { message: "Elasticsearch URL http://***@host:9200 is not a valid URL: percent-encode / # ? @ % and spaces in the user and password (e.g. %2F for /)" },
 * );
 * ```
 *
 * @param url The URL.
 * @throws {ConfigError} Naming what is wrong.
 */
export function checkEsUrl(url: string): void {
  const shown = redactUrl(url);
  const bad = (reason: string): never => {
    throw new ConfigError("", `Elasticsearch URL ${shown} ${reason}`);
  };
  let u: URL;
  try {
    u = new URL(url.trim());
  } catch {
    if (!/^[A-Za-z][A-Za-z0-9+.-]*:\/\//.test(url.trim())) {
      return bad("must start with http:// or https://");
    }
    if (/@[\/?#]*$/.test(url.trim())) return bad("has no host");
    if (url.includes("@")) {
      return bad(
        "is not a valid URL: percent-encode / # ? @ % and spaces in the user and password (e.g. %2F for /)",
      );
    }
    return bad("is not a valid URL (host or port?)");
  }
  if (u.protocol !== "http:" && u.protocol !== "https:") {
    bad("must start with http:// or https://");
  }
  try {
    decodeURIComponent(u.username);
    decodeURIComponent(u.password);
  } catch {
    bad(
      "has a malformed %-escape in its user or password (a literal % is %25)",
    );
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
 * @param options URL, timeout, config file, and `maxRetries`: retries of
 * a request that found no connection or timed out (default 2; the client
 * waits 1 to 4 s before each retry on the same node, so a service that
 * must answer 503 at once passes 0).
 * @returns A connected client (close it when done).
 * @throws {ConfigError} When no URL is set or the settings are invalid.
 * @throws {UnavailableError} When the cluster is unreachable, refuses the
 * credentials, or runs another major version.
 */
export async function connect(
  options: ConnectionOptions & {
    configFile?: string;
    maxRetries?: number;
  } = {},
): Promise<Client> {
  const { configFile, maxRetries, ...explicit } = options;
  const settings = resolveConnection(
    explicit,
    configFile ?? env("CCO_ES_CONFIG"),
  );
  const url = settings.url;
  if (!url?.trim()) {
    throw new ConfigError(
      "",
      "no Elasticsearch URL: set ES_URL or pass --es-url",
    );
  }
  for (const node of nodeUrls(url)) checkEsUrl(node);
  const where = redactUrl(url);
  // whatever the client says about the URL, its secrets are masked
  const scrub = (text: string) => text.split(url.trim()).join(where);
  let client: Client;
  try {
    let ca: string | undefined;
    if (settings.caCert) ca = await Deno.readTextFile(settings.caCert);
    const nodes = nodeUrls(url);
    client = createClient({
      node: nodes.length > 1 ? nodes : url,
      requestTimeout: settings.requestTimeoutMs ?? 30_000,
      // the client waits 1 to 4 s between retries on the same node: a
      // service that must fail fast passes 0; with several nodes a failed
      // request still tries each other node once
      maxRetries: nodes.length > 1
        ? Math.max(maxRetries ?? 2, nodes.length - 1)
        : maxRetries ?? 2,
      auth: settings.apiKey
        ? { apiKey: settings.apiKey }
        : settings.username !== undefined
        ? { username: settings.username, password: settings.password ?? "" }
        : undefined,
      caFingerprint: settings.caFingerprint,
      tls: ca ? { ca } : undefined,
    });
  } catch (error) {
    throw new ConfigError(
      "",
      `cannot set up the Elasticsearch client for ${where}: ${
        scrub(messageOf(error))
      }`,
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
    const status = (error as { meta?: { statusCode?: number } }).meta
      ?.statusCode;
    const auth = settings.apiKey
      ? "ES_API_KEY"
      : settings.username !== undefined
      ? "ES_USERNAME/ES_PASSWORD"
      : "no credentials";
    if (status === 401) {
      throw new UnavailableError(
        `authentication to Elasticsearch at ${where} failed (401, ${auth}): set a valid ES_API_KEY, or ES_USERNAME and ES_PASSWORD`,
        { cause: error },
      );
    }
    if (status === 403) {
      throw new UnavailableError(
        `Elasticsearch at ${where} refused the request (403): the user needs the monitor cluster privilege and index privileges`,
        { cause: error },
      );
    }
    throw new UnavailableError(
      `Elasticsearch at ${where} is unreachable: ${scrub(messageOf(error))}`,
      { cause: error },
    );
  }
  if (Number(version.split(".")[0]) !== SUPPORTED_MAJOR) {
    await client.close();
    throw new UnavailableError(
      `Elasticsearch at ${where} runs ${version}; this client needs ${SUPPORTED_MAJOR}.x`,
    );
  }
  return client;
}

function messageOf(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.split("\n")[0];
}
