/**
 * Builds the Elasticsearch search body for a recommendation request.
 *
 * A literal `terms` query is constant-score and cannot rank, so the history
 * becomes a `bool` of `should` clauses, one `term` per history item on the
 * `indicators` field: BM25 then sums over the matched history items, and
 * rare indicators weigh more. History items are excluded in `must_not`
 * (which does not affect scores). Ties are broken by `id`, ascending, so the
 * ranking is deterministic and equals the embedded backend's.
 *
 * @example
 * ```ts
 * import { buildRecommendQuery } from "./query.ts";
 *
 * buildRecommendQuery({ history: ["a", "b"], num: 5 });
 * // {
 * //   size: 5,
 * //   query: { bool: {
 * //     should: [
 * //       { term: { indicators: "a" } },
 * //       { term: { indicators: "b" } },
 * //     ],
 * //     minimum_should_match: 1,
 * //     must_not: [{ terms: { id: ["a", "b"] } }],
 * //   } },
 * //   sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
 * //   track_scores: true, track_total_hits: false, _source: false,
 * // }
 * ```
 *
 * @module
 */

import { normalizeRequest, type RecommendRequest } from "./recommender.ts";

/** Name of the keyword field holding purchase-indicators. */
export const INDICATORS_FIELD = "indicators";

/** The Elasticsearch request body produced by {@linkcode buildRecommendQuery}. */
export interface RecommendQueryBody {
  /** Number of hits. */
  size: number;
  /** The ranking query. */
  query: {
    bool: {
      should: {
        term: Record<string, string>;
      }[];
      minimum_should_match: 1;
      must_not: { terms: { id: string[] } }[];
    };
  };
  /** Score, then id. */
  sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }];
  /** Keep scores although sorting by fields too. */
  track_scores: true;
  /** No total count needed. */
  track_total_hits: false;
  /** Only ids are read. */
  _source: false;
}

/**
 * Builds the search body: one `term` clause per distinct history item.
 *
 * @example
 * ```ts
 * import { buildRecommendQuery } from "./query.ts";
 *
 * buildRecommendQuery({ history: ["x"] }).query.bool.should.length; // 1
 * ```
 *
 * @param request History and number of results.
 * @returns The search body.
 * @throws {TypeError} On a malformed request.
 */
export function buildRecommendQuery(
  request: RecommendRequest,
): RecommendQueryBody {
  const { history, num } = normalizeRequest(request);
  return {
    size: num,
    query: {
      bool: {
        should: history.map((item) => ({
          term: { [INDICATORS_FIELD]: item },
        })),
        minimum_should_match: 1,
        must_not: [{ terms: { id: history } }],
      },
    },
    sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
    track_scores: true,
    track_total_hits: false,
    _source: false,
  };
}
