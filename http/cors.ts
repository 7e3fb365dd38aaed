/**
 * Cross-origin requests (CORS) for browsers calling the service from
 * another origin: an allowed origin gets `Access-Control-Allow-Origin` on
 * every answer, and a preflight `OPTIONS` is answered 204 with the
 * methods and headers the service takes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { corsHeaders } from "./cors.ts";
 *
 * assert.deepEqual(corsHeaders("https://shop.example", ["https://shop.example"]), {
 *   "access-control-allow-origin": "https://shop.example",
 *   "access-control-expose-headers": "x-request-id",
 *   vary: "Origin",
 * });
 * assert.equal(corsHeaders("https://evil.example", ["https://shop.example"]), undefined);
 * assert.equal(corsHeaders("https://any.example", "*")?.["access-control-allow-origin"], "*");
 * ```
 *
 * @module
 */

/** Allowed origins: `*` for any, or a list of exact origins. */
export type CorsOrigins = "*" | readonly string[];

/**
 * The CORS headers of an answer to `origin`, or `undefined` when it is not
 * allowed (or the request names no origin).
 *
 * @param origin The request's `Origin` header.
 * @param allowed The allowed origins.
 * @returns The headers to add.
 */
export function corsHeaders(
  origin: string | null,
  allowed: CorsOrigins,
): Record<string, string> | undefined {
  if (origin === null) return undefined;
  if (allowed === "*") {
    return {
      "access-control-allow-origin": "*",
      "access-control-expose-headers": "x-request-id",
    };
  }
  if (!allowed.includes(origin)) return undefined;
  return {
    "access-control-allow-origin": origin,
    "access-control-expose-headers": "x-request-id",
    vary: "Origin",
  };
}

/**
 * The answer to a preflight request: 204 with the CORS headers, or 403
 * when the origin is not allowed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { preflight } from "./cors.ts";
 *
 * const res = preflight("https://shop.example", "*");
 * assert.equal(res.status, 204);
 * assert.equal(res.headers.get("access-control-allow-methods"), "GET, POST, OPTIONS");
 * assert.equal(preflight("https://x.example", ["https://shop.example"]).status, 403);
 * ```
 *
 * @param origin The request's `Origin` header.
 * @param allowed The allowed origins.
 * @returns The answer.
 */
export function preflight(
  origin: string | null,
  allowed: CorsOrigins,
): Response {
  const headers = corsHeaders(origin, allowed);
  if (!headers) {
    return new Response(
      JSON.stringify({ error: { status: 403, message: "origin not allowed" } }),
      { status: 403, headers: { "content-type": "application/json" } },
    );
  }
  return new Response(null, {
    status: 204,
    headers: {
      ...headers,
      "access-control-allow-methods": "GET, POST, OPTIONS",
      "access-control-allow-headers":
        "authorization, content-type, x-request-id",
      "access-control-max-age": "600",
    },
  });
}
