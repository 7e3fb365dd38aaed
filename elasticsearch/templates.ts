/**
 * Search templates: `queries/recommend.mustache` and
 * `queries/similar_items.mustache` hold the ranking query as Elasticsearch
 * mustache templates. A cluster with the `lang-mustache` module can store
 * them ({@linkcode registerTemplates}) and serve `_search/template` calls;
 * without it (the integ-test distribution has none), cco-es renders the
 * same files client-side ({@linkcode renderTemplate}) and sends the result
 * as a normal search.
 *
 * @example Render a template locally
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTemplate, templateParams } from "./templates.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * const body = renderTemplate(
 *   '{"size": {{size}}, "should": {{#toJson}}clauses{{/toJson}}}',
 *   templateParams(normalizeRequest({ history: ["a"] }, manifest)),
 * );
 * assert.deepEqual(body, {
 *   size: 10,
 *   should: [{ term: { indicators: { value: "a", boost: 1 } } }],
 * });
 * ```
 *
 * @module
 */

import type { Client } from "./client.ts";
import { CcoError } from "../errors/mod.ts";
import {
  filterQuery,
  mustNotClauses,
  rankingClauses,
  rankSort,
} from "./query.ts";
import type { NormalizedRequest } from "../serving/request.ts";

/** The stored template names and their files in `queries/`. */
export const TEMPLATES = {
  "cco-recommend": "recommend.mustache",
  "cco-similar-items": "similar_items.mustache",
} as const;

/** A template name. */
export type TemplateName = keyof typeof TEMPLATES;

/**
 * The template source of `name`, read from `queries/` next to the library
 * (works from a local checkout and from a published package).
 *
 * @example
 * ```ts ignore
 * import { loadTemplate } from "./templates.ts";
 *
 * const source = await loadTemplate("cco-recommend");
 * ```
 *
 * @param name Template name.
 * @returns The mustache source.
 */
export async function loadTemplate(name: TemplateName): Promise<string> {
  const url = new URL(`./queries/${TEMPLATES[name]}`, import.meta.url);
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot load template ${url}: ${res.status}`);
  return await res.text();
}

/**
 * The parameters of the ranking templates for a request: the same clauses
 * {@linkcode buildRecommendQuery} builds.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { templateParams } from "./templates.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * assert.deepEqual(
 *   templateParams(normalizeRequest({ history: ["a"], exclude: ["x"] }, manifest)).must_not,
 *   [{ terms: { id: ["x", "a"] } }],
 * );
 * ```
 *
 * @param request A normalized request.
 * @returns `size`, `clauses`, `boosts`, `filters`, `must_not`, `sort`.
 */
export function templateParams(
  request: NormalizedRequest,
): Record<string, unknown> {
  const { should, boosts } = rankingClauses(request);
  return {
    size: request.window,
    clauses: should,
    boosts,
    filters: request.filters.filter((f) => !f.not).map(filterQuery),
    must_not: mustNotClauses(request),
    sort: rankSort(request.rankBy, true),
  };
}

/**
 * Renders the mustache subset the templates use, as Elasticsearch would:
 * `{{name}}` (a scalar, JSON-encoded) and `{{#toJson}}name{{/toJson}}`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { renderTemplate } from "./templates.ts";
 *
 * assert.deepEqual(renderTemplate('{"a": {{#toJson}}x{{/toJson}}}', { x: [1] }), { a: [1] });
 * ```
 *
 * @param source Template source.
 * @param params Parameters.
 * @returns The rendered JSON, parsed.
 * @throws {Error} For a missing parameter or an unsupported tag.
 */
export function renderTemplate(
  source: string,
  params: Record<string, unknown>,
): Record<string, unknown> {
  const value = (name: string) => {
    if (!(name in params)) {
      throw new Error(`template parameter "${name}" is missing`);
    }
    return JSON.stringify(params[name]);
  };
  const text = source
    .replace(
      /\{\{#toJson\}\}\s*([\w.]+)\s*\{\{\/toJson\}\}/g,
      (_, n) => value(n),
    )
    .replace(/\{\{\s*([\w.]+)\s*\}\}/g, (_, n) => value(n));
  const leftover = /\{\{[^}]*\}\}/.exec(text);
  if (leftover) throw new Error(`unsupported template tag ${leftover[0]}`);
  return JSON.parse(text);
}

/**
 * Stores the templates in the cluster (`PUT _scripts/<name>`), after
 * checking that it has the `lang-mustache` module.
 *
 * @example
 * ```ts ignore
 * import { registerTemplates } from "./templates.ts";
 *
 * await registerTemplates(client); // ["cco-recommend", "cco-similar-items"]
 * ```
 *
 * @param client A connected client.
 * @returns The names stored.
 * @throws {CcoError} When the cluster lacks `lang-mustache`, naming its modules.
 */
export async function registerTemplates(client: Client): Promise<string[]> {
  const info = await client.nodes.info({ metric: "plugins" });
  const nodes = Object.values(info.nodes ?? {});
  const modules = new Set(
    nodes.flatMap((n) =>
      [...(n.modules ?? []), ...(n.plugins ?? [])].map((m) => m.name)
    ),
  );
  if (!modules.has("lang-mustache")) {
    throw new CcoError(
      `this cluster has no lang-mustache module (it has ${
        [...modules].sort().join(", ")
      }), so it cannot store search templates; cco-es renders queries/*.mustache client-side instead`,
    );
  }
  for (const name of Object.keys(TEMPLATES) as TemplateName[]) {
    const source = await loadTemplate(name);
    await client.putScript({ id: name, script: { lang: "mustache", source } });
  }
  return Object.keys(TEMPLATES);
}
