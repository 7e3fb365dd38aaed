/**
 * The serving contract shared by every backend: a request made of a user's
 * recent history, answered with ranked item ids. The embedded backend
 * ({@linkcode EmbeddedRecommender}) and the Elasticsearch backend
 * ({@linkcode ElasticsearchRecommender}) both implement
 * {@linkcode Recommender} and return the same ranking for the same data.
 *
 * @example Validate a request
 * ```ts
 * import { normalizeRequest } from "./recommender.ts";
 *
 * normalizeRequest({ history: ["b", "a", "b"] });
 * // { history: ["b", "a"], num: 10 }
 * ```
 *
 * @module
 */

/** Default number of recommendations returned. */
export const DEFAULT_NUM = 10;
/** Largest accepted `num`. */
export const MAX_NUM = 1000;
/** Largest accepted history length (after deduplication). */
export const MAX_HISTORY = 1024;

/** A recommendation request. */
export interface RecommendRequest {
  /**
   * The user's recent primary-event items, most recent first. Each matches
   * the `indicators` field; duplicates are dropped; these items are never
   * recommended back.
   */
  history: readonly string[];
  /** How many items to return (default 10, at most 1000). */
  num?: number;
}

/** One recommended item. */
export interface Recommendation {
  /** Item id. */
  id: string;
  /** Relevance score (Lucene BM25 summed over matched history items). */
  score: number;
}

/** Anything that answers recommendation requests. */
export interface Recommender {
  /**
   * Ranked recommendations, best first; ties are ordered by item id.
   *
   * @param request The history and options.
   * @returns Up to `num` items.
   */
  recommend(request: RecommendRequest): Promise<Recommendation[]>;
}

/** A request after validation and defaults. */
export interface NormalizedRequest {
  /** Deduplicated history, order kept. */
  history: string[];
  /** Number of results. */
  num: number;
}

/**
 * Validates a request and applies defaults.
 *
 * @example
 * ```ts
 * import { normalizeRequest } from "./recommender.ts";
 *
 * normalizeRequest({ history: ["a"], num: 3 }); // { history: ["a"], num: 3 }
 * ```
 *
 * @param request The raw request.
 * @returns The normalized request.
 * @throws {TypeError} On a malformed request, with a one-line cause.
 */
export function normalizeRequest(request: RecommendRequest): NormalizedRequest {
  if (typeof request !== "object" || request === null) {
    throw new TypeError("request must be an object");
  }
  const { history, num = DEFAULT_NUM } = request;
  if (!Array.isArray(history)) {
    throw new TypeError("request.history must be an array of item ids");
  }
  const unique: string[] = [];
  const seen = new Set<string>();
  for (const [i, item] of history.entries()) {
    if (typeof item !== "string" || item === "") {
      throw new TypeError(
        `request.history[${i}] must be a non-empty string, got ${
          JSON.stringify(item)
        }`,
      );
    }
    if (!seen.has(item)) {
      seen.add(item);
      unique.push(item);
    }
  }
  if (unique.length > MAX_HISTORY) {
    throw new TypeError(
      `request.history has ${unique.length} distinct items; at most ${MAX_HISTORY} are accepted`,
    );
  }
  if (!Number.isInteger(num) || num < 1 || num > MAX_NUM) {
    throw new TypeError(
      `request.num must be an integer from 1 to ${MAX_NUM}, got ${num}`,
    );
  }
  return { history: unique, num };
}
