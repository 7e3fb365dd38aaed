/**
 * The serving contract shared by every backend: a request made of a user's
 * recent history per event type (or items to find similar ones for) and
 * business rules, answered with ranked item ids. The embedded backend and
 * the Elasticsearch backend both implement {@linkcode Recommender} and
 * return the same ranking for the same model.
 *
 * Each history event type queries its own indicator field, as the model's
 * manifest says (`historyFields`): the primary type the `indicators` field,
 * any other type `S` the `indicators_S` field. A plain array is the primary
 * history. A type the model lacks is a {@linkcode RequestError} that lists
 * the known ones.
 *
 * @example Validate a request against a model
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeRequest, resolveServing } from "./request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor(
 *   [{ id: "x", indicators: [], indicators_view: [] }],
 *   { primaryEvent: "buy" },
 * );
 * const serving = resolveServing(manifest);
 * const r = normalizeRequest({ history: { buy: ["b", "a", "b"], view: ["c"] } }, manifest, serving);
 * assert.deepEqual(r.clauses, [
 *   { field: "indicators", item: "b", boost: 1 },
 *   { field: "indicators", item: "a", boost: 1 },
 *   { field: "indicators_view", item: "c", boost: 1 },
 * ]);
 * assert.throws(
 *   () => normalizeRequest({ history: { like: ["a"] } }, manifest, serving),
 *   { name: "RequestError", message: 'request.history.like is not an event type of this model (buy, view)' },
 * );
 * ```
 *
 * @module
 */

import { ConfigError, RequestError } from "../errors/mod.ts";
import {
  historyFields,
  type MetadataType,
  type ModelManifest,
} from "../model/manifest.ts";
import { dateMillis } from "../model/items.ts";

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

/** Per-call options of {@linkcode Recommender.recommend}. */
export interface RecommendOptions {
  /**
   * Cancels the work (e.g. an HTTP timeout): the backend's request is
   * aborted and `recommend` rejects with a `DeadlineError`.
   */
  signal?: AbortSignal;
}

/** Anything that answers recommendation requests. */
export interface Recommender {
  /**
   * Ranked recommendations, best first; ties are ordered by item id.
   *
   * @param request The history and options.
   * @param options An abort signal.
   * @returns Up to `num` items.
   * @throws {RequestError} On a malformed request.
   */
  recommend(
    request: RecommendRequest,
    options?: RecommendOptions,
  ): Promise<Recommendation[]>;
  /**
   * The manifest of the model served (for the Elasticsearch backend, of
   * the index the alias points to now).
   *
   * @returns The manifest.
   */
  manifest(): Promise<ModelManifest>;
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

/**
 * Serving settings that shape every request of a recommender (engine-level
 * defaults, as in the Universal Recommender's engine.json); unset values
 * come from the model's manifest (`serving`), then the defaults.
 */
export interface ServingOptions {
  /**
   * History items used per event type: the first (most recent) ones are
   * kept, the rest ignored, though still excluded as seen (default 100, the
   * Universal Recommender's `maxQueryEvents`; at most {@linkcode MAX_HISTORY}).
   */
  maxQueryEvents?: number;
  /** Default boost of each field's matches (a request's boosts win). */
  fieldBoosts?: Readonly<Record<string, number>>;
  /** Default number of recommendations (default 10). */
  num?: number;
  /** Default of a request's `backfill` (default true). */
  backfill?: boolean;
  /** Default of a request's `excludeSeen` (default true). */
  excludeSeen?: boolean;
}

/** Serving settings after defaults. */
export interface ResolvedServing {
  /** History items used per event type. */
  maxQueryEvents: number;
  /** Default field boosts. */
  fieldBoosts: Readonly<Record<string, number>>;
  /** Default number of recommendations. */
  num: number;
  /** Default of `backfill`. */
  backfill: boolean;
  /** Default of `excludeSeen`. */
  excludeSeen: boolean;
}

/** Default of {@linkcode ServingOptions.maxQueryEvents}. */
export const DEFAULT_MAX_QUERY_EVENTS = MAX_HISTORY;

/**
 * Checks serving options, so that a bad setting fails when a recommender is
 * made, not on its first request.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkServingOptions } from "./request.ts";
 *
 * checkServingOptions({ maxQueryEvents: 20 });
 * assert.throws(
 *   () => checkServingOptions({ maxQueryEvents: 0 }),
 *   /maxQueryEvents must be an integer from 1 to 1024, got 0/,
 * );
 * ```
 *
 * @param options Serving options.
 * @throws {ConfigError} Naming the option.
 */
export function checkServingOptions(options: ServingOptions): void {
  const cap = options.maxQueryEvents;
  if (
    cap !== undefined &&
    (!Number.isInteger(cap) || cap < 1 || cap > MAX_HISTORY)
  ) {
    throw new ConfigError(
      "maxQueryEvents",
      `must be an integer from 1 to ${MAX_HISTORY}, got ${cap}`,
    );
  }
  for (const [f, b] of Object.entries(options.fieldBoosts ?? {})) {
    if (typeof b !== "number" || !(b > 0) || !Number.isFinite(b)) {
      throw new ConfigError(`fieldBoosts.${f}`, "must be a positive number");
    }
  }
  const num = options.num;
  if (
    num !== undefined && (!Number.isInteger(num) || num < 1 || num > MAX_NUM)
  ) {
    throw new ConfigError(
      "num",
      `must be an integer from 1 to ${MAX_NUM}, got ${num}`,
    );
  }
  for (const key of ["backfill", "excludeSeen"] as const) {
    if (options[key] !== undefined && typeof options[key] !== "boolean") {
      throw new ConfigError(key, "must be a boolean");
    }
  }
}

/**
 * Serving settings for a model: the options, then the manifest's recorded
 * defaults, then the library's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveServing } from "./request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const m = manifestFor([], { primaryEvent: "buy" });
 * m.serving = { maxQueryEvents: 1024 };
 * assert.equal(resolveServing(m).maxQueryEvents, 1024);
 * assert.equal(resolveServing(m, { maxQueryEvents: 20 }).maxQueryEvents, 20);
 * ```
 *
 * @param manifest The model's manifest.
 * @param options Settings that override it.
 * @returns The settings.
 * @throws {ConfigError} For an invalid setting.
 */
export function resolveServing(
  manifest: ModelManifest,
  options: ServingOptions = {},
): ResolvedServing {
  const merged: ServingOptions = {
    ...options,
    maxQueryEvents: options.maxQueryEvents ??
      manifest.serving?.maxQueryEvents,
    fieldBoosts: { ...manifest.serving?.fieldBoosts, ...options.fieldBoosts },
  };
  checkServingOptions(merged);
  return {
    maxQueryEvents: merged.maxQueryEvents ?? DEFAULT_MAX_QUERY_EVENTS,
    fieldBoosts: merged.fieldBoosts!,
    num: merged.num ?? DEFAULT_NUM,
    backfill: merged.backfill ?? true,
    excludeSeen: merged.excludeSeen ?? true,
  };
}

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

function fail(path: string, reason: string): never {
  throw new RequestError(path, reason);
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function ids(value: unknown, where: string): string[] {
  if (!Array.isArray(value)) fail(where, "must be an array of item ids");
  const list = value as unknown[];
  const out: string[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < list.length; i++) {
    const item = list[i];
    if (typeof item !== "string" || item === "") {
      fail(
        `${where}[${i}]`,
        `must be a non-empty string, got ${JSON.stringify(item)}`,
      );
    }
    if (seen.size !== seen.add(item).size) out.push(item);
  }
  if (out.length > MAX_HISTORY) {
    fail(
      where,
      `has ${out.length} distinct items; at most ${MAX_HISTORY} are accepted`,
    );
  }
  return out;
}

function scalar(v: unknown): v is string | number | boolean {
  return typeof v === "string" || typeof v === "boolean" ||
    (typeof v === "number" && Number.isFinite(v));
}

function checkFilter(
  f: unknown,
  where: string,
  types: Readonly<Record<string, MetadataType>>,
): Filter {
  if (!isObject(f)) fail(where, "must be an object");
  const filter = f as unknown as Filter;
  if (typeof filter.field !== "string" || !FIELD.test(filter.field)) {
    fail(`${where}.field`, "must be a field name");
  }
  const range = ["gte", "gt", "lte", "lt"].filter((k) => k in filter);
  const kinds = ["value" in filter, "values" in filter, range.length > 0]
    .filter(Boolean).length;
  if (kinds !== 1) {
    fail(where, "needs exactly one of value, values, or range bounds");
  }
  if ("value" in filter && !scalar(filter.value)) {
    fail(`${where}.value`, "must be a string, number or boolean");
  }
  if (
    "values" in filter &&
    (!Array.isArray(filter.values) || filter.values.length === 0 ||
      !filter.values.every(scalar))
  ) {
    fail(
      `${where}.values`,
      "must be a non-empty array of strings, numbers or booleans",
    );
  }
  for (const k of range) {
    const v = (filter as unknown as Record<string, unknown>)[k];
    if (
      !(typeof v === "number" && Number.isFinite(v)) && typeof v !== "string"
    ) {
      fail(`${where}.${k}`, "must be a number or a date string");
    }
  }
  const extra = Object.keys(filter).filter((k) =>
    !["field", "value", "values", "gte", "gt", "lte", "lt"].includes(k)
  );
  if (extra.length) fail(where, `has unknown keys: ${extra.join(", ")}`);
  const type = types[filter.field];
  if (type) {
    const check = (v: unknown, at: string) => {
      const ok = type === "number"
        ? typeof v === "number"
        : type === "boolean"
        ? typeof v === "boolean"
        : type === "date"
        ? (typeof v === "string" || typeof v === "number") &&
          dateMillis(v) !== undefined
        : typeof v === "string";
      if (!ok) {
        fail(
          at,
          `must be ${
            type === "date" ? "an ISO date or unix ms" : `a ${type}`
          } ("${filter.field}" is a ${type} field), got ${JSON.stringify(v)}`,
        );
      }
    };
    if (type === "boolean" && range.length > 0) {
      fail(where, `cannot be a range: "${filter.field}" is a boolean field`);
    }
    if ("value" in filter) check(filter.value, `${where}.value`);
    filter.values?.forEach((v, i) => check(v, `${where}.values[${i}]`));
    for (const k of range) {
      check((filter as unknown as Record<string, unknown>)[k], `${where}.${k}`);
    }
    if (type === "date") {
      // one instant for both backends: Elasticsearch would otherwise fill
      // the missing parts of a `gt`/`lte` bound such as "2015-06-01" with
      // 23:59:59.999, and read text without an offset its own way
      const instant = (v: unknown) => dateMillis(v)!;
      const out: Filter = { field: filter.field };
      if ("value" in filter) out.value = instant(filter.value);
      if (filter.values) out.values = filter.values.map(instant);
      for (const k of range) {
        (out as unknown as Record<string, number>)[k] = instant(
          (filter as unknown as Record<string, unknown>)[k],
        );
      }
      return out;
    }
  }
  return filter;
}

/**
 * Validates a request against a model and applies defaults.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalizeRequest, resolveServing } from "./request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const manifest = manifestFor([], { primaryEvent: "buy" });
 * const r = normalizeRequest({ history: ["a"], num: 3 }, manifest, resolveServing(manifest));
 * assert.equal(r.num, 3);
 * assert.deepEqual(r.exclude, ["a"]);
 * ```
 *
 * @param request The raw request (any JSON value).
 * @param manifest The model's manifest: its primary event and fields.
 * @param serving Serving settings (default: `resolveServing(manifest)`).
 * @returns The normalized request.
 * @throws {RequestError} On a malformed request, with the JSON path of the
 * part at fault.
 */
export function normalizeRequest(
  request: unknown,
  manifest: ModelManifest,
  serving: ResolvedServing = resolveServing(manifest),
): NormalizedRequest {
  if (!isObject(request)) fail("request", "must be an object");
  const req = request as RecommendRequest;
  const unknown = Object.keys(req).filter((k) => !KEYS.has(k));
  if (unknown.length) {
    fail("request", `has unknown keys: ${unknown.join(", ")}`);
  }
  if (req.user !== undefined) {
    fail(
      "request.user",
      "needs an event store (serve with --event-store, or withUserHistory)",
    );
  }
  const primary = manifest.primaryEvent;
  const fields = historyFields(manifest);
  const cap = serving.maxQueryEvents;
  const fieldBoosts = req.fieldBoosts ?? {};
  if (!isObject(fieldBoosts)) {
    fail("request.fieldBoosts", "must map fields to numbers");
  }
  for (const [f, b] of Object.entries(fieldBoosts)) {
    if (typeof b !== "number" || !(b > 0) || !Number.isFinite(b)) {
      fail(`request.fieldBoosts.${f}`, "must be a positive number");
    }
  }
  const boostOf = (field: string) =>
    fieldBoosts[field] ?? serving.fieldBoosts[field] ?? 1;
  const clauses: Clause[] = [];
  const seen = new Set<string>();
  const primaryField = fields.get(primary)!;
  const add = (field: string, items: string[]) => {
    for (const item of items) {
      clauses.push({ field, item, boost: boostOf(field) });
      if (field === primaryField) seen.add(item); // primary or query items
    }
  };
  const history = req.history;
  if (Array.isArray(history)) {
    const all = ids(history, "request.history");
    all.forEach((item) => seen.add(item));
    add(primaryField, all.slice(0, cap));
  } else if (history !== undefined) {
    if (!isObject(history)) {
      fail(
        "request.history",
        "must be an array or an object of arrays by event type",
      );
    }
    for (const [type, list] of Object.entries(history)) {
      const field = fields.get(type);
      if (!field || !Object.hasOwn(history, type)) {
        fail(
          `request.history.${type}`,
          `is not an event type of this model (${
            [...fields.keys()].join(", ")
          })`,
        );
      }
      const all = ids(list, `request.history.${type}`);
      if (type === primary) all.forEach((item) => seen.add(item));
      add(field, all.slice(0, cap));
    }
  }
  const basket = new Set([
    ...(req.item !== undefined ? ids([req.item], "request.item") : []),
    ...(req.items !== undefined ? ids(req.items, "request.items") : []),
  ]);
  for (const c of clauses) if (c.field === primaryField) basket.delete(c.item);
  add(primaryField, [...basket]);
  const num = req.num ?? serving.num;
  if (!Number.isInteger(num) || num < 1 || num > MAX_NUM) {
    fail(
      "request.num",
      `must be an integer from 1 to ${MAX_NUM}, got ${JSON.stringify(num)}`,
    );
  }
  const from = req.from ?? 0;
  if (!Number.isInteger(from) || from < 0 || from + num > MAX_WINDOW) {
    fail(
      "request.from",
      `must be an integer >= 0 with from + num <= ${MAX_WINDOW}, got ${
        JSON.stringify(from)
      }`,
    );
  }
  if (req.filters !== undefined && !Array.isArray(req.filters)) {
    fail("request.filters", "must be an array");
  }
  const types = manifest.metadata;
  const filters = (req.filters ?? []).map((f, i) =>
    checkFilter(f, `request.filters[${i}]`, types)
  );
  if (req.dateRange !== undefined) {
    if (!isObject(req.dateRange)) {
      fail("request.dateRange", "must be an object");
    }
    const { field = "updated", after, before, ...rest } = req.dateRange;
    if (Object.keys(rest).length) {
      fail(
        "request.dateRange",
        `has unknown keys: ${Object.keys(rest).join(", ")}`,
      );
    }
    for (const [k, v] of [["after", after], ["before", before]] as const) {
      if (
        v !== undefined &&
        (typeof v !== "string" || !Number.isFinite(Date.parse(v)))
      ) {
        fail(`request.dateRange.${k}`, "must be an ISO date");
      }
    }
    if (after === undefined && before === undefined) {
      fail("request.dateRange", "needs after or before");
    }
    filters.push(checkFilter(
      {
        field,
        ...(after !== undefined ? { gte: after } : {}),
        ...(before !== undefined ? { lt: before } : {}),
      },
      "request.dateRange",
      types,
    ));
  }
  if (req.boosts !== undefined && !Array.isArray(req.boosts)) {
    fail("request.boosts", "must be an array");
  }
  const boosts = (req.boosts ?? []).map((b, i) => {
    const where = `request.boosts[${i}]`;
    if (!isObject(b)) fail(where, "must be an object");
    if (typeof b.field !== "string" || !FIELD.test(b.field)) {
      fail(`${where}.field`, "must be a field name");
    }
    if (
      !Array.isArray(b.values) || b.values.length === 0 ||
      !b.values.every(scalar)
    ) {
      fail(
        `${where}.values`,
        "must be a non-empty array of strings, numbers or booleans",
      );
    }
    if (
      typeof b.boost !== "number" || !(b.boost > 0) || !Number.isFinite(b.boost)
    ) {
      fail(`${where}.boost`, "must be a positive number");
    }
    const extra = Object.keys(b).filter((k) =>
      !["field", "values", "boost"].includes(k)
    );
    if (extra.length) fail(where, `has unknown keys: ${extra.join(", ")}`);
    return { field: b.field, values: [...b.values], boost: b.boost };
  });
  const excludeSeen = req.excludeSeen ?? serving.excludeSeen;
  if (typeof excludeSeen !== "boolean") {
    fail("request.excludeSeen", "must be a boolean");
  }
  const exclude = new Set(
    req.exclude !== undefined ? ids(req.exclude, "request.exclude") : [],
  );
  if (excludeSeen) { for (const item of seen) exclude.add(item); }
  for (const key of ["backfill", "explain"] as const) {
    if (req[key] !== undefined && typeof req[key] !== "boolean") {
      fail(`request.${key}`, "must be a boolean");
    }
  }
  let dither: NormalizedRequest["dither"];
  let window = from + num;
  if (req.dither !== undefined) {
    if (!isObject(req.dither)) fail("request.dither", "must be an object");
    const {
      seed,
      epsilon = 2,
      periodMs = 600_000,
      window: factor = 3,
      ...rest
    } = req.dither;
    if (Object.keys(rest).length) {
      fail(
        "request.dither",
        `has unknown keys: ${Object.keys(rest).join(", ")}`,
      );
    }
    if (typeof seed !== "string" || seed === "") {
      fail(
        "request.dither.seed",
        "must be a non-empty string (a user or session id)",
      );
    }
    if (
      typeof epsilon !== "number" || !(epsilon > 1) || !Number.isFinite(epsilon)
    ) {
      fail("request.dither.epsilon", "must be a number > 1");
    }
    if (
      typeof periodMs !== "number" || !(periodMs > 0) ||
      !Number.isFinite(periodMs)
    ) {
      fail("request.dither.periodMs", "must be a positive number");
    }
    if (!Number.isInteger(factor) || factor < 1 || factor > 10) {
      fail("request.dither.window", "must be an integer from 1 to 10");
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
    backfill: req.backfill ?? serving.backfill,
    explain: req.explain ?? false,
  };
}
