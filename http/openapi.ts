/**
 * The HTTP service's routes and its OpenAPI 3.1 description, served at
 * `GET /openapi.json`. The request bodies' schemas are the JSON Schema
 * that validates requests (`serving/request.schema.json`, 2020-12, which
 * OpenAPI 3.1 uses as it is): its `$defs` become `components.schemas`, so
 * the description cannot drift from the validation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openApiDocument, ROUTES } from "./openapi.ts";
 *
 * const doc = JSON.parse(JSON.stringify(openApiDocument()));
 * assert.equal(doc.openapi, "3.1.0");
 * assert.deepEqual(Object.keys(doc.paths), Object.keys(ROUTES));
 * assert.deepEqual(
 *   doc.paths["/recommendations"].post.requestBody.content["application/json"].schema,
 *   { $ref: "#/components/schemas/RecommendRequest" },
 * );
 * ```
 *
 * @module
 */

import { REQUEST_SCHEMA } from "../serving/request.ts";
import { TOOL_VERSION } from "../model/manifest.ts";

/** One route: its method and what it does. */
export interface Route {
  /** The HTTP method it takes. */
  method: "GET" | "POST";
  /** A one-line summary. */
  summary: string;
  /** Whether the bearer token (when set) is needed. */
  auth: boolean;
}

/** Every route of the service: the handler routes by this table. */
export const ROUTES: Readonly<Record<string, Route>> = {
  "/recommendations": {
    method: "POST",
    summary: "Recommendations for a history, a user, items, or none (popular)",
    auth: true,
  },
  "/similar-items": {
    method: "POST",
    summary: "Items similar to an item or a basket",
    auth: true,
  },
  "/events": {
    method: "POST",
    summary: "Record an interaction event (needs an event store)",
    auth: true,
  },
  "/health": {
    method: "GET",
    summary: "Backend, index and status; 503 when the backend is down",
    auth: false,
  },
  "/metrics": {
    method: "GET",
    summary: "Prometheus metrics (text format 0.0.4)",
    auth: true,
  },
  "/openapi.json": {
    method: "GET",
    summary: "This OpenAPI 3.1 description",
    auth: false,
  },
};

type Json = Record<string, unknown>;

/** An OpenAPI 3.1 document (the parts cco-es writes). */
export interface OpenApiDocument {
  /** `3.1.0`. */
  openapi: string;
  /** Title, version (the package's), description, licence. */
  info: { title: string; version: string; [key: string]: unknown };
  /** Where the service runs, when known. */
  servers?: { url: string }[];
  /** Operations by path, then method. */
  paths: Record<string, Record<string, Record<string, unknown>>>;
  /** Schemas (the request schema's `$defs` among them) and security. */
  components: {
    schemas: Record<string, unknown>;
    securitySchemes: Record<string, unknown>;
  };
}

// "#/$defs/x" -> "#/components/schemas/x", everywhere in a schema
function relocate(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(relocate);
  if (typeof value !== "object" || value === null) return value;
  const out: Json = {};
  for (const [k, v] of Object.entries(value)) {
    out[k] = k === "$ref" && typeof v === "string"
      ? v.replace(/^#\/\$defs\//, "#/components/schemas/")
      : relocate(v);
  }
  return out;
}

const ERROR_SCHEMA = {
  type: "object",
  required: ["error"],
  properties: {
    error: {
      type: "object",
      required: ["status", "message"],
      properties: {
        status: { type: "integer" },
        message: { type: "string", description: "One line: the cause." },
      },
    },
  },
};

const HEALTH_SCHEMA = {
  type: "object",
  required: ["status", "backend"],
  properties: {
    status: { enum: ["ok", "unavailable"] },
    backend: { type: "string" },
    index: { type: "string" },
    error: { type: "string" },
  },
};

const RECOMMENDATIONS_SCHEMA = {
  type: "object",
  required: ["recommendations"],
  properties: {
    recommendations: {
      type: "array",
      items: { $ref: "#/components/schemas/recommendation" },
    },
  },
};

/**
 * The OpenAPI 3.1 document of the service.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openApiDocument } from "./openapi.ts";
 *
 * const doc = openApiDocument({ title: "shop recommendations" });
 * assert.equal(doc.info.title, "shop recommendations");
 * assert.ok(doc.components.schemas.filter);
 * ```
 *
 * @param options The title shown, and the servers to list.
 * @returns The document (plain JSON).
 */
export function openApiDocument(
  options: { title?: string; servers?: string[] } = {},
): OpenApiDocument {
  const { $defs, $schema: _s, $id: _i, ...request } = REQUEST_SCHEMA as Json;
  const schemas: Json = {
    RecommendRequest: relocate(request),
    ...relocate($defs) as Json,
    Recommendations: RECOMMENDATIONS_SCHEMA,
    Error: ERROR_SCHEMA,
    Health: HEALTH_SCHEMA,
  };
  const json = (schema: Json) => ({ "application/json": { schema } });
  const ref = (name: string) => ({ $ref: `#/components/schemas/${name}` });
  const errors = (...statuses: number[]) =>
    Object.fromEntries(
      statuses.map((s) => [String(s), {
        description: ERROR_TEXT[s],
        content: json(ref("Error")),
      }]),
    );
  const secured = (route: string) =>
    ROUTES[route].auth ? { security: [{ bearer: [] }, {}] } : {};
  const rank = (route: string, description: string) => ({
    post: {
      summary: ROUTES[route].summary,
      description,
      operationId: route === "/recommendations" ? "recommend" : "similarItems",
      ...secured(route),
      requestBody: { required: true, content: json(ref("RecommendRequest")) },
      responses: {
        "200": {
          description: "Ranked items, best first",
          content: json(ref("Recommendations")),
        },
        ...errors(400, 401, 413, 503, 504),
      },
    },
  });
  const paths = {
    "/recommendations": rank(
      "/recommendations",
      "A history per event type, a user (with an event store), items, business rules, paging. Without history, boosts rank the items they match and backfill fills up by rankBy.",
    ),
    "/similar-items": rank(
      "/similar-items",
      "The same request with item or items and no history.",
    ),
    "/events": {
      post: {
        summary: ROUTES["/events"].summary,
        operationId: "recordEvent",
        ...secured("/events"),
        requestBody: { required: true, content: json(ref("event")) },
        responses: {
          "202": { description: "Recorded" },
          ...errors(400, 401, 413, 501, 503),
        },
      },
    },
    "/health": {
      get: {
        summary: ROUTES["/health"].summary,
        operationId: "health",
        responses: {
          "200": { description: "Up", content: json(ref("Health")) },
          "503": { description: "Backend down", content: json(ref("Health")) },
        },
      },
    },
    "/metrics": {
      get: {
        summary: ROUTES["/metrics"].summary,
        operationId: "metrics",
        ...secured("/metrics"),
        responses: {
          "200": {
            description: "The metrics",
            content: { "text/plain": { schema: { type: "string" } } },
          },
          ...errors(401),
        },
      },
    },
    "/openapi.json": {
      get: {
        summary: ROUTES["/openapi.json"].summary,
        operationId: "openapi",
        responses: {
          "200": {
            description: "This document",
            content: json({ type: "object" }),
          },
        },
      },
    },
  };
  return {
    openapi: "3.1.0",
    info: {
      title: options.title ?? "cco-es recommendations",
      version: TOOL_VERSION,
      description:
        "Correlated cross-occurrence recommendations over Elasticsearch or an embedded index. Errors are JSON { error: { status, message } }; every answer carries an x-request-id header.",
      license: { name: "Apache-2.0", identifier: "Apache-2.0" },
    },
    ...(options.servers
      ? { servers: options.servers.map((url) => ({ url })) }
      : {}),
    paths,
    components: {
      schemas,
      securitySchemes: {
        bearer: {
          type: "http",
          scheme: "bearer",
          description:
            "Needed when serve runs with --token (or $CCO_SERVE_TOKEN).",
        },
      },
    },
  };
}

const ERROR_TEXT: Record<number, string> = {
  400: "Malformed JSON or an invalid request (the message names the JSON path)",
  401: "Missing or wrong bearer token",
  413: "Body over the size limit",
  501: "No event store configured",
  503: "The backend is unavailable",
  504: "No answer within the timeout",
};
