/**
 * A fault-injecting HTTP proxy on 127.0.0.1 in front of Elasticsearch, for
 * failure tests: it forwards every request, except as its `faults` say.
 *
 * @module
 */

/** What to break. Change it at any time; it applies to the next request. */
export interface Faults {
  /** After this many `_bulk` requests, answer further ones 503. */
  failBulkAfter?: number;
  /** After this many `_bulk` requests, answer every request 502 (cluster gone). */
  downAfterBulk?: number;
  /** Alter documents returned by `_mget` (a corrupted read-back). */
  corruptMget?: boolean;
  /**
   * Hold each search (`_search`, `_search/template`, `_msearch`) this many
   * milliseconds before forwarding it; a search whose client goes away
   * meanwhile is counted in `abandonedSearches` and never forwarded.
   */
  delaySearchMs?: number;
  /** Hold each `_bulk` request this many milliseconds before forwarding it. */
  delayBulkMs?: number;
}

/** A running proxy. */
export interface FaultProxy {
  /** Base URL of the proxy. */
  url: string;
  /** The faults to inject (mutable). */
  faults: Faults;
  /** `_bulk` requests seen. */
  readonly bulks: number;
  /** Searches seen. */
  readonly searches: number;
  /** Searches forwarded to Elasticsearch. */
  readonly forwardedSearches: number;
  /** Delayed searches whose client went away before they were forwarded. */
  readonly abandonedSearches: number;
  /** Stops listening: connections to the proxy are refused (the cluster's host is down). */
  refuse(): Promise<void>;
  /** Listens again on the same port. */
  restore(): void;
  /** Stops the proxy. */
  close(): Promise<void>;
}

/**
 * Starts a proxy to `upstream`.
 *
 * @param upstream Elasticsearch base URL.
 * @returns The proxy.
 */
export function startFaultProxy(upstream: string): FaultProxy {
  const faults: Faults = {};
  let bulks = 0;
  let searches = 0, forwardedSearches = 0, abandonedSearches = 0;
  let down = false;
  const handler = async (request: Request) => {
    const url = new URL(request.url);
    if (down) return new Response("proxy: upstream down", { status: 502 });
    if (url.pathname.endsWith("/_bulk")) {
      bulks++;
      if (faults.delayBulkMs) {
        await new Promise((r) => setTimeout(r, faults.delayBulkMs));
      }
      if (
        faults.downAfterBulk !== undefined && bulks > faults.downAfterBulk
      ) {
        down = true;
        return new Response("proxy: upstream down", { status: 502 });
      }
      if (
        faults.failBulkAfter !== undefined && bulks > faults.failBulkAfter
      ) {
        return new Response(
          JSON.stringify({ error: "proxy: injected failure", status: 503 }),
          {
            status: 503,
            headers: {
              "content-type": "application/json",
              "x-elastic-product": "Elasticsearch",
            },
          },
        );
      }
    }
    const isSearch = /\/_(search|msearch)(\/template)?$/.test(url.pathname);
    if (isSearch) {
      searches++;
      const delay = faults.delaySearchMs ?? 0;
      if (delay > 0) {
        const gone = await new Promise<boolean>((resolve) => {
          if (request.signal.aborted) return resolve(true);
          const onAbort = () => {
            clearTimeout(timer);
            resolve(true);
          };
          const timer = setTimeout(() => {
            request.signal.removeEventListener("abort", onAbort);
            resolve(false);
          }, delay);
          request.signal.addEventListener("abort", onAbort);
        });
        if (gone) {
          abandonedSearches++;
          return new Response("proxy: client went away", { status: 499 });
        }
      }
      forwardedSearches++;
    }
    const headers = new Headers(request.headers);
    headers.delete("host");
    const response = await fetch(upstream + url.pathname + url.search, {
      method: request.method,
      headers,
      body: request.body ? await request.arrayBuffer() : undefined,
    });
    const outHeaders = new Headers(response.headers);
    outHeaders.delete("content-length");
    outHeaders.delete("content-encoding");
    if (faults.corruptMget && url.pathname.endsWith("/_mget")) {
      const body = await response.json();
      for (const doc of body.docs ?? []) {
        if (doc._source) doc._source.indicators = ["corrupted"];
      }
      return new Response(JSON.stringify(body), {
        status: response.status,
        headers: outHeaders,
      });
    }
    return new Response(response.body, {
      status: response.status,
      headers: outHeaders,
    });
  };
  let server: Deno.HttpServer | undefined = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    handler,
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    get bulks() {
      return bulks;
    },
    get searches() {
      return searches;
    },
    get forwardedSearches() {
      return forwardedSearches;
    },
    get abandonedSearches() {
      return abandonedSearches;
    },
    async refuse() {
      await server?.shutdown();
      server = undefined;
    },
    restore() {
      server ??= Deno.serve(
        { hostname: "127.0.0.1", port, onListen: () => {} },
        handler,
      );
    },
    close: async () => {
      await server?.shutdown();
      server = undefined;
    },
  };
}
