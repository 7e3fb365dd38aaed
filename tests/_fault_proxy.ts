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
}

/** A running proxy. */
export interface FaultProxy {
  /** Base URL of the proxy. */
  url: string;
  /** The faults to inject (mutable). */
  faults: Faults;
  /** `_bulk` requests seen. */
  readonly bulks: number;
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
  let down = false;
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    async (request) => {
      const url = new URL(request.url);
      if (down) return new Response("proxy: upstream down", { status: 502 });
      if (url.pathname.endsWith("/_bulk")) {
        bulks++;
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
    },
  );
  const { port } = server.addr as Deno.NetAddr;
  return {
    url: `http://127.0.0.1:${port}`,
    faults,
    get bulks() {
      return bulks;
    },
    close: () => server.shutdown(),
  };
}
