/**
 * Builds the Elasticsearch search bodies for a recommendation request.
 *
 * A literal `terms` query is constant-score and cannot rank, so the history
 * becomes a `bool` of `should` clauses, one `term` per history item per
 * indicator field (boosted by the field boost): BM25 then sums over the
 * matched history items, and rare indicators weigh more. That `bool` is the
 * one `must` clause; metadata boosts are outer `should` clauses (they add to
 * the score, they exclude nothing); filters go in `filter` and exclusions in
 * `must_not`, which do not change scores. Ties are broken by the request's
 * `rankBy` fields (popularity by default), then by `id`, so the ranking is
 * deterministic and equals the embedded backend's. A request without
 * history but with boosts is ranked by its boosts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRecommendQuery } from "./query.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * assert.deepEqual(
 *   buildRecommendQuery(normalizeRequest({ history: ["a", "b"], num: 5 }, manifest)),
 *   {
 *     size: 5,
 *     query: { bool: {
 *       must: [{ bool: {
 *         should: [
 *           { term: { indicators: { value: "a", boost: 1 } } },
 *           { term: { indicators: { value: "b", boost: 1 } } },
 *         ],
 *         minimum_should_match: 1,
 *       } }],
 *       must_not: [{ terms: { id: ["a", "b"] } }],
 *     } },
 *     sort: [
 *       { _score: { order: "desc" } },
 *       { popularity: { order: "desc", missing: "_last", unmapped_type: "double" } },
 *       { id: { order: "asc" } },
 *     ],
 *     track_scores: true, track_total_hits: false, _source: false,
 *   },
 * );
 * ```
 *
 * @module
 */

import type { Filter, NormalizedRequest } from "../serving/request.ts";

/** An Elasticsearch search body (the parts cco-es uses). */
export type SearchBody = Record<string, unknown> & {
  size: number;
  query: { bool: Record<string, unknown[]> };
};

/**
 * The name of a history clause, as used for `explain` (`field:item`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { clauseName } from "./query.ts";
 *
 * assert.equal(clauseName({ field: "indicators_view", item: "42" }), "indicators_view:42");
 * ```
 *
 * @param clause Field and item.
 * @returns The name.
 */
export function clauseName(clause: { field: string; item: string }): string {
  return `${clause.field}:${clause.item}`;
}

/**
 * The `term` clause of one history item (named for `explain`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { termClause } from "./query.ts";
 *
 * assert.deepEqual(
 *   termClause({ field: "indicators", item: "a", boost: 2 }, false),
 *   { term: { indicators: { value: "a", boost: 2 } } },
 * );
 * ```
 *
 * @param clause Field, item and boost.
 * @param named Whether to name it `field:item`.
 * @returns The clause.
 */
export function termClause(
  clause: { field: string; item: string; boost: number },
  named: boolean,
): Record<string, unknown> {
  return {
    term: {
      [clause.field]: {
        value: clause.item,
        boost: clause.boost,
        ...(named ? { _name: clauseName(clause) } : {}),
      },
    },
  };
}

/**
 * The constant-score `terms` clause of a metadata boost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { boostClause } from "./query.ts";
 *
 * assert.deepEqual(
 *   boostClause({ field: "category", values: ["x"], boost: 2 }),
 *   { terms: { category: ["x"], boost: 2 } },
 * );
 * ```
 *
 * @param boost The boost.
 * @returns The clause.
 */
export function boostClause(
  boost: {
    field: string;
    values: readonly (string | number | boolean)[];
    boost: number;
  },
): Record<string, unknown> {
  return { terms: { [boost.field]: [...boost.values], boost: boost.boost } };
}

/**
 * An Elasticsearch query clause for a metadata filter.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { filterQuery } from "./query.ts";
 *
 * assert.deepEqual(filterQuery({ field: "popularity", gte: 5 }), { range: { popularity: { gte: 5 } } });
 * ```
 *
 * @param filter The filter.
 * @returns A `term`, `terms` or `range` clause.
 */
export function filterQuery(filter: Filter): Record<string, unknown> {
  if (filter.value !== undefined) {
    return { term: { [filter.field]: filter.value } };
  }
  if (filter.values !== undefined) {
    return { terms: { [filter.field]: [...filter.values] } };
  }
  const range: Record<string, unknown> = {};
  for (const k of ["gte", "gt", "lte", "lt"] as const) {
    if (filter[k] !== undefined) range[k] = filter[k];
  }
  return { range: { [filter.field]: range } };
}

function rules(
  request: NormalizedRequest,
  extraExclude: readonly string[] = [],
) {
  const bool: Record<string, unknown[]> = {};
  const keep = request.filters.filter((f) => !f.not);
  if (keep.length) bool.filter = keep.map(filterQuery);
  const mustNot = mustNotClauses(request, extraExclude);
  if (mustNot.length) bool.must_not = mustNot;
  return bool;
}

/**
 * The `must_not` clauses of a request: its excluded ids, then its
 * negated filters (`not: true`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mustNotClauses } from "./query.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * const r = normalizeRequest({
 *   history: ["a"],
 *   fields: [{ name: "category", values: ["tablets"], bias: 0 }],
 * }, manifest);
 * assert.deepEqual(mustNotClauses(r), [
 *   { terms: { id: ["a"] } },
 *   { terms: { category: ["tablets"] } },
 * ]);
 * ```
 *
 * @param request A normalized request.
 * @param extraExclude More ids to exclude (e.g. those already ranked).
 * @returns The clauses (empty when nothing is excluded).
 */
export function mustNotClauses(
  request: NormalizedRequest,
  extraExclude: readonly string[] = [],
): Record<string, unknown>[] {
  const out: Record<string, unknown>[] = [];
  const exclude = [...request.exclude, ...extraExclude];
  if (exclude.length) out.push({ terms: { id: exclude } });
  for (const f of request.filters) if (f.not) out.push(filterQuery(f));
  return out;
}

/**
 * The sort of a ranking: score, then the `rankBy` fields (descending,
 * items without a value last), then the id; without `score`, the backfill
 * order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rankSort } from "./query.ts";
 *
 * assert.deepEqual(rankSort(["popularity"], true), [
 *   { _score: { order: "desc" } },
 *   { popularity: { order: "desc", missing: "_last", unmapped_type: "double" } },
 *   { id: { order: "asc" } },
 * ]);
 * ```
 *
 * @param rankBy Number fields, in order.
 * @param score Whether the score comes first.
 * @returns The `sort` array.
 */
export function rankSort(
  rankBy: readonly string[],
  score: boolean,
): Record<string, unknown>[] {
  return [
    ...(score ? [{ _score: { order: "desc" } }] : []),
    ...rankBy.map((field) => ({
      [field]: { order: "desc", missing: "_last", unmapped_type: "double" },
    })),
    { id: { order: "asc" } },
  ];
}

/**
 * The clauses that rank a request: one `term` per history clause or, for a
 * request without history but with boosts, its boosts (the items they
 * match, by their summed boosts); the metadata boosts that add to the
 * history's score.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { rankingClauses } from "./query.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * const boosts = [{ field: "category", values: ["tablets"], boost: 2 }];
 * assert.deepEqual(rankingClauses(normalizeRequest({ boosts }, manifest)), {
 *   should: [{ terms: { category: ["tablets"], boost: 2 } }],
 *   boosts: [],
 * });
 * ```
 *
 * @param request A normalized request.
 * @returns `should` (the ranking bool's clauses) and `boosts` (outer ones).
 */
export function rankingClauses(
  request: NormalizedRequest,
): { should: Record<string, unknown>[]; boosts: Record<string, unknown>[] } {
  if (request.clauses.length === 0) {
    return { should: request.boosts.map(boostClause), boosts: [] };
  }
  return {
    should: request.clauses.map((c) => termClause(c, request.explain)),
    boosts: request.boosts.map(boostClause),
  };
}

/**
 * The ranking search: the first `window` matches (`from + num`, more when
 * dithering; the caller slices the page, so that backfill can follow the
 * last match).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildRecommendQuery } from "./query.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * const body = buildRecommendQuery(normalizeRequest({ history: ["x"] }, manifest));
 * assert.equal(body.size, 10);
 * ```
 *
 * @param request A normalized request (with at least one clause).
 * @returns The search body.
 */
export function buildRecommendQuery(request: NormalizedRequest): SearchBody {
  const { should, boosts } = rankingClauses(request);
  const bool: Record<string, unknown[]> = {
    must: [{ bool: { should, minimum_should_match: 1 } }],
  };
  if (boosts.length) bool.should = boosts;
  Object.assign(bool, rules(request));
  return {
    size: request.window,
    query: { bool },
    sort: rankSort(request.rankBy, true),
    track_scores: true,
    track_total_hits: false,
    _source: false,
  };
}

/**
 * The backfill search: the most popular items passing the filters, minus the
 * excluded ones and those already ranked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildBackfillQuery } from "./query.ts";
 * import { normalizeRequest } from "../serving/request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([{ id: "x", indicators: [] }], { primaryEvent: "buy" });
 * assert.deepEqual(
 *   buildBackfillQuery(normalizeRequest({ history: [] }, manifest), [], 3).sort,
 *   [
 *     { popularity: { order: "desc", missing: "_last", unmapped_type: "double" } },
 *     { id: { order: "asc" } },
 *   ],
 * );
 * ```
 *
 * @param request A normalized request.
 * @param ranked Ids the ranking query returned.
 * @param size How many to fetch.
 * @returns The search body.
 */
export function buildBackfillQuery(
  request: NormalizedRequest,
  ranked: readonly string[],
  size: number,
): SearchBody {
  return {
    size,
    query: { bool: rules(request, ranked) },
    sort: rankSort(request.rankBy, false),
    track_total_hits: false,
    _source: false,
  };
}
