/**
 * The serving contract shared by every backend: a request made of a user's
 * recent history per event type (or items to find similar ones for) and
 * business rules, answered with ranked item ids. The embedded backend
 * ({@linkcode EmbeddedRecommender}) and the Elasticsearch backend
 * ({@linkcode ElasticsearchRecommender}) both implement
 * {@linkcode Recommender} and return the same ranking for the same data.
 *
 * Each history event type queries its own indicator field: the primary
 * type (default `transaction`) the `indicators` field, any other type `S`
 * the `indicators_S` field. A plain array is the primary history.
 *
 * @example Validate a request
 * ```ts
 * import { normalizeRequest } from "./request.ts";
 *
 * normalizeRequest({ history: { transaction: ["b", "a", "b"], view: ["c"] } }).clauses;
 * // [
 * //   { field: "indicators", item: "b", boost: 1 },
 * //   { field: "indicators", item: "a", boost: 1 },
 * //   { field: "indicators_view", item: "c", boost: 1 },
 * // ]
 * ```
 *
 * @module
 */

/** Default number of recommendations returned. */
export const DEFAULT_NUM = 10;
/** Largest accepted `num`. */
export const MAX_NUM = 1000;
/** Largest accepted `from + num`. */
export const MAX_WINDOW = 10_000;
/** Largest accepted history length per event type (after deduplication). */
export const MAX_HISTORY = 1024;

/** A metadata filter: exactly one of `value`, `values`, or range bounds. */
export interface Filter {
  /** Metadata field, e.g. `category`, `available`, `popularity`. */
  field: string;
  /** Must equal this. */
  value?: string | number | boolean;
  /** Must equal one of these. */
  values?: readonly (string | number | boolean)[];
  /** Range bounds (numbers, or ISO dates for date fields). */
  gte?: number | string;
  /** Greater than. */
  gt?: number | string;
  /** Less than or equal. */
  lte?: number | string;
  /** Less than. */
  lt?: number | string;
}

/** Raise the score of items whose `field` has one of `values`. */
export interface Boost {
  /** Metadata field. */
  field: string;
  /** Values that earn the boost. */
  values: readonly (string | number | boolean)[];
  /** Added to the score of a matching item (> 0). */
  boost: number;
}

/** A recommendation request. */
export interface RecommendRequest {
  /**
   * The user's recent items, most recent first: per event type
   * (`{ transaction: [...], view: [...] }`), or an array for the primary
   * type. Duplicates are dropped.
   */
  history?: readonly string[] | Readonly<Record<string, readonly string[]>>;
  /**
   * A user whose recent history an event store supplies (see
   * {@linkcode withUserHistory}); the backends alone reject it.
   */
  user?: string;
  /** Similar items for one item (item-based): queries `indicators`. */
  item?: string;
  /** Similar items for a basket (item-based). */
  items?: readonly string[];
  /** Multiply the scores of each field's matches (default 1 each). */
  fieldBoosts?: Readonly<Record<string, number>>;
  /** How many items to return (default 10, at most 1000). */
  num?: number;
  /** Offset into the ranking, for pagination (default 0). */
  from?: number;
  /** Only items whose metadata passes every filter. */
  filters?: readonly Filter[];
  /** Score boosts on metadata values (they do not exclude others). */
  boosts?: readonly Boost[];
  /** Item ids never to return. */
  exclude?: readonly string[];
  /**
   * Never return the items of the primary-event history (what the user
   * bought) or the query items (default true), as the Universal
   * Recommender's default blacklist does. Viewed or carted items stay
   * recommendable: people buy what they viewed.
   */
  excludeSeen?: boolean;
  /** Only items whose date `field` (default `updated`) is in the range. */
  dateRange?: { field?: string; after?: string; before?: string };
  /** Fill up to `num` with popular items passing the rules (default true). */
  backfill?: boolean;
  /** Report which history items each result matched (default false). */
  explain?: boolean;
  /**
   * Opt-in dithering (see {@linkcode ditherOrder}): re-rank the top
   * `(from + num) × window` matches (window default 3) by
   * `log(rank) + N(0, log epsilon)`, with noise seeded by `seed` (a user or
   * session id) and stable for `periodMs` (default 10 minutes).
   */
  dither?: {
    seed: string;
    epsilon?: number;
    periodMs?: number;
    window?: number;
  };
}

/** One recommended item. */
export interface Recommendation {
  /** Item id. */
  id: string;
  /**
   * Relevance score: Lucene BM25 summed over matched history items (times
   * field boosts), plus metadata boosts. 0 for backfill.
   */
  score: number;
  /** True when the item comes from popularity backfill. */
  backfill?: boolean;
  /** With `explain`: the history clauses the item matched. */
  because?: { field: string; item: string }[];
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

/** One `term` clause of the ranking query. */
export interface Clause {
  /** Indicator field. */
  field: string;
  /** History item searched for in the field. */
  item: string;
  /** Clause boost (the field boost). */
  boost: number;
}

/** A request after validation and defaults. */
export interface NormalizedRequest {
  /** Ranking clauses, in request order. */
  clauses: Clause[];
  /** Number of results. */
  num: number;
  /** Offset. */
  from: number;
  /** Filters, the date range included. */
  filters: Filter[];
  /** Metadata boosts. */
  boosts: Boost[];
  /** Excluded ids (explicit and, with excludeSeen, the query items). */
  exclude: string[];
  /** Whether to backfill. */
  backfill: boolean;
  /** Whether to explain. */
  explain: boolean;
  /** How many ranked matches to fetch (`from + num`, more when dithering). */
  window: number;
  /** Dithering, when requested. */
  dither?: { seed: string; epsilon: number; periodMs: number };
}

/** Backend settings that shape requests. */
export interface RequestOptions {
  /** The primary event type, whose history queries `indicators` (default `transaction`). */
  primaryEvent?: string;
  /**
   * History items used per event type: the first (most recent) ones are
   * kept, the rest ignored (default 100, the Universal Recommender's
   * `maxQueryEvents`). Over {@linkcode MAX_HISTORY} is an error.
   */
  maxQueryEvents?: number;
}

/** Default of {@linkcode RequestOptions.maxQueryEvents}. */
export const DEFAULT_MAX_QUERY_EVENTS = 100;

const KEYS = new Set([
  "history",
  "user",
  "item",
  "items",
  "fieldBoosts",
  "num",
  "from",
  "filters",
  "boosts",
  "exclude",
  "excludeSeen",
  "dateRange",
  "backfill",
  "explain",
  "dither",
]);
const FIELD = /^[A-Za-z][A-Za-z0-9_-]*$/;

function fail(message: string): never {
  throw new TypeError(message);
}

function ids(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) fail(`${where} must be an array of item ids`);
  const out: string[] = [];
  const seen = new Set<string>();
  for (const [i, item] of (value as unknown[]).entries()) {
    if (typeof item !== "string" || item === "") {
      fail(
        `${where}[${i}] must be a non-empty string, got ${
          JSON.stringify(item)
        }`,
      );
    }
    if (!seen.has(item)) {
      seen.add(item);
      out.push(item);
    }
  }
  if (out.length > MAX_HISTORY) {
    fail(
      `${where} has ${out.length} distinct items; at most ${MAX_HISTORY} are accepted`,
    );
  }
  return out;
}

function scalar(v: unknown): v is string | number | boolean {
  return typeof v === "string" || typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v));
}

function checkFilter(f: unknown, where: string): Filter {
  if (typeof f !== "object" || f === null) fail(`${where} must be an object`);
  const filter = f as Filter;
  if (typeof filter.field !== "string" || !FIELD.test(filter.field)) {
    fail(`${where}.field must be a field name`);
  }
  const range = ["gte", "gt", "lte", "lt"].filter((k) => k in filter);
  const kinds = ["value" in filter, "values" in filter, range.length > 0]
    .filter(Boolean).length;
  if (kinds !== 1) {
    fail(`${where} needs exactly one of value, values, or range bounds`);
  }
  if ("value" in filter && !scalar(filter.value)) {
    fail(`${where}.value must be a string, number or boolean`);
  }
  if (
    "values" in filter &&
    (!Array.isArray(filter.values) || filter.values.length === 0 ||
      !filter.values.every(scalar))
  ) {
    fail(
      `${where}.values must be a non-empty array of strings, numbers or booleans`,
    );
  }
  for (const k of range) {
    const v = (filter as unknown as Record<string, unknown>)[k];
    if (typeof v !== "number" && typeof v !== "string") {
      fail(`${where}.${k} must be a number or a date string`);
    }
  }
  const extra = Object.keys(filter).filter((k) =>
    !["field", "value", "values", "gte", "gt", "lte", "lt"].includes(k)
  );
  if (extra.length) fail(`${where} has unknown keys: ${extra.join(", ")}`);
  return filter;
}

/**
 * Validates a request and applies defaults.
 *
 * @example
 * ```ts
 * import { normalizeRequest } from "./request.ts";
 *
 * normalizeRequest({ history: ["a"], num: 3 }).num; // 3
 * ```
 *
 * @param request The raw request.
 * @param options The primary event type.
 * @returns The normalized request.
 * @throws {TypeError} On a malformed request, with a one-line cause.
 */
export function normalizeRequest(
  request: RecommendRequest,
  options: RequestOptions = {},
): NormalizedRequest {
  if (
    typeof request !== "object" || request === null || Array.isArray(request)
  ) {
    fail("request must be an object");
  }
  const unknown = Object.keys(request).filter((k) => !KEYS.has(k));
  if (unknown.length) fail(`request has unknown keys: ${unknown.join(", ")}`);
  if (request.user !== undefined) {
    fail(
      "request.user needs an event store (serve with --event-store, or withUserHistory)",
    );
  }
  const primary = options.primaryEvent ?? "transaction";
  const cap = options.maxQueryEvents ?? DEFAULT_MAX_QUERY_EVENTS;
  if (!Number.isInteger(cap) || cap < 1 || cap > MAX_HISTORY) {
    fail(
      `maxQueryEvents must be an integer from 1 to ${MAX_HISTORY}, got ${cap}`,
    );
  }
  const fieldOf = (type: string) =>
    type === primary ? "indicators" : `indicators_${type}`;
  const fieldBoosts = request.fieldBoosts ?? {};
  if (typeof fieldBoosts !== "object" || fieldBoosts === null) {
    fail("request.fieldBoosts must map fields to numbers");
  }
  for (const [f, b] of Object.entries(fieldBoosts)) {
    if (typeof b !== "number" || !(b > 0) || !Number.isFinite(b)) {
      fail(`request.fieldBoosts.${f} must be a positive number`);
    }
  }
  const clauses: Clause[] = [];
  const seen = new Set<string>();
  const add = (field: string, items: string[]) => {
    for (const item of items) {
      clauses.push({ field, item, boost: fieldBoosts[field] ?? 1 });
      if (field === "indicators") seen.add(item); // primary or query items
    }
  };
  const history = request.history;
  if (Array.isArray(history)) {
    const all = ids(history, "request.history");
    all.forEach((item) => seen.add(item));
    add("indicators", all.slice(0, cap));
  } else if (history !== undefined) {
    if (typeof history !== "object" || history === null) {
      fail(
        "request.history must be an array or an object of arrays by event type",
      );
    }
    for (const [type, list] of Object.entries(history)) {
      if (!FIELD.test(type)) {
        fail(`request.history: "${type}" is not an event type name`);
      }
      const all = ids(list, `request.history.${type}`);
      if (type === primary) all.forEach((item) => seen.add(item));
      add(fieldOf(type), all.slice(0, cap));
    }
  }
  const basket = new Set([
    ...(request.item !== undefined ? ids([request.item], "request.item") : []),
    ...(request.items !== undefined ? ids(request.items, "request.items") : []),
  ]);
  for (const c of clauses) if (c.field === "indicators") basket.delete(c.item);
  add("indicators", [...basket]);
  const num = request.num ?? DEFAULT_NUM;
  if (!Number.isInteger(num) || num < 1 || num > MAX_NUM) {
    fail(`request.num must be an integer from 1 to ${MAX_NUM}, got ${num}`);
  }
  const from = request.from ?? 0;
  if (!Number.isInteger(from) || from < 0 || from + num > MAX_WINDOW) {
    fail(
      `request.from must be an integer >= 0 with from + num <= ${MAX_WINDOW}, got ${from}`,
    );
  }
  const filters = (request.filters ?? []).map((f, i) =>
    checkFilter(f, `request.filters[${i}]`)
  );
  if (!Array.isArray(request.filters ?? [])) {
    fail("request.filters must be an array");
  }
  if (request.dateRange !== undefined) {
    const { field = "updated", after, before, ...rest } = request.dateRange;
    if (Object.keys(rest).length) {
      fail(
        `request.dateRange has unknown keys: ${Object.keys(rest).join(", ")}`,
      );
    }
    for (const [k, v] of [["after", after], ["before", before]] as const) {
      if (
        v !== undefined &&
        (typeof v !== "string" || !Number.isFinite(Date.parse(v)))
      ) {
        fail(`request.dateRange.${k} must be an ISO date`);
      }
    }
    if (after === undefined && before === undefined) {
      fail("request.dateRange needs after or before");
    }
    filters.push(checkFilter({
      field,
      ...(after !== undefined ? { gte: after } : {}),
      ...(before !== undefined ? { lt: before } : {}),
    }, "request.dateRange"));
  }
  const boosts = (request.boosts ?? []).map((b, i) => {
    const where = `request.boosts[${i}]`;
    if (
      typeof b !== "object" || b === null || typeof b.field !== "string" ||
      !FIELD.test(b.field)
    ) {
      fail(`${where}.field must be a field name`);
    }
    if (
      !Array.isArray(b.values) || b.values.length === 0 ||
      !b.values.every(scalar)
    ) {
      fail(
        `${where}.values must be a non-empty array of strings, numbers or booleans`,
      );
    }
    if (
      typeof b.boost !== "number" || !(b.boost > 0) || !Number.isFinite(b.boost)
    ) {
      fail(`${where}.boost must be a positive number`);
    }
    return { field: b.field, values: [...b.values], boost: b.boost };
  });
  const excludeSeen = request.excludeSeen ?? true;
  if (typeof excludeSeen !== "boolean") {
    fail("request.excludeSeen must be a boolean");
  }
  const exclude = new Set(
    request.exclude !== undefined
      ? ids(request.exclude, "request.exclude")
      : [],
  );
  if (excludeSeen) { for (const item of seen) exclude.add(item); }
  for (const key of ["backfill", "explain"] as const) {
    if (request[key] !== undefined && typeof request[key] !== "boolean") {
      fail(`request.${key} must be a boolean`);
    }
  }
  let dither: NormalizedRequest["dither"];
  let window = from + num;
  if (request.dither !== undefined) {
    const {
      seed,
      epsilon = 2,
      periodMs = 600_000,
      window: factor = 3,
      ...rest
    } = request.dither;
    if (Object.keys(rest).length) {
      fail(`request.dither has unknown keys: ${Object.keys(rest).join(", ")}`);
    }
    if (typeof seed !== "string" || seed === "") {
      fail(
        "request.dither.seed must be a non-empty string (a user or session id)",
      );
    }
    if (
      typeof epsilon !== "number" || !(epsilon > 1) || !Number.isFinite(epsilon)
    ) {
      fail("request.dither.epsilon must be a number > 1");
    }
    if (typeof periodMs !== "number" || !(periodMs > 0)) {
      fail("request.dither.periodMs must be a positive number");
    }
    if (!Number.isInteger(factor) || factor < 1 || factor > 10) {
      fail("request.dither.window must be an integer from 1 to 10");
    }
    dither = { seed, epsilon, periodMs };
    window = Math.min(MAX_WINDOW, window * factor);
  }
  return {
    window,
    ...(dither ? { dither } : {}),
    clauses,
    num,
    from,
    filters,
    boosts,
    exclude: [...exclude],
    backfill: request.backfill ?? true,
    explain: request.explain ?? false,
  };
}
