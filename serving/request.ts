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
 * A request's shape is checked against one JSON Schema,
 * {@linkcode REQUEST_SCHEMA} (`request.schema.json`, also the HTTP service's
 * OpenAPI description); what needs the model (event types, metadata types,
 * ranking fields) against its manifest. Business rules come in cco-es's
 * form (`filters`, `boosts`) and the Universal Recommender's (`fields` with
 * a `bias`); engine-level defaults and rules come from
 * {@linkcode ServingOptions}.
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
import { compareIds } from "../model/document.ts";
import { dateMillis } from "../model/items.ts";
import { type JsonSchema, schemaIssues } from "../config/schema.ts";
import schema from "./request.schema.json" with { type: "json" };
import { compileSchemaCheck } from "./_schema_check.ts";

/**
 * The JSON Schema of a request (`serving/request.schema.json`): what
 * {@linkcode normalizeRequest} checks a request's shape against, and what
 * the HTTP service publishes in its OpenAPI document. Its `$defs` also
 * describe the answer (`recommendation`).
 */
export const REQUEST_SCHEMA: JsonSchema = schema;

/** Default number of recommendations returned. */
export const DEFAULT_NUM = 10;
/** Largest accepted `num`. */
export const MAX_NUM = 1000;
/** Largest accepted `from + num`. */
export const MAX_WINDOW = 10_000;
/** Largest accepted history length per event type (after deduplication). */
export const MAX_HISTORY = 1024;
/**
 * Longest accepted item or user id, in UTF-16 code units (the schema's
 * `itemId.maxLength`). Elasticsearch refuses a `keyword` term over 32 766
 * bytes, a 400 the embedded backend would not give; ids this long stay far
 * below it on both backends alike. Text values of filters and boosts have
 * the same limit.
 */
export const MAX_ID_LENGTH: number =
  (schema as { $defs: { itemId: { maxLength: number } } }).$defs.itemId
    .maxLength;
/** The metadata field backfill and ties go by when nothing else is set. */
export const DEFAULT_RANK_BY: readonly string[] = ["popularity"];

/** A metadata value a rule compares with. */
export type RuleValue = string | number | boolean;

/**
 * A metadata filter: exactly one of `value`, `values`, or range bounds. An
 * item passes when any of its values does; with `not`, the items that
 * match are excluded instead (items without the field are kept).
 */
export interface Filter {
  /** Metadata field, e.g. `category`, `available`, `popularity`. */
  field: string;
  /** Must equal this. */
  value?: RuleValue;
  /** Must equal one of these. */
  values?: readonly RuleValue[];
  /** Range bounds (numbers, or ISO dates for date fields). */
  gte?: number | string;
  /** Greater than. */
  gt?: number | string;
  /** Less than or equal. */
  lte?: number | string;
  /** Less than. */
  lt?: number | string;
  /** Exclude the items that match, instead of keeping only them. */
  not?: boolean;
}

/** Raise the score of items whose `field` has one of `values`. */
export interface Boost {
  /** Metadata field. */
  field: string;
  /** Values that earn the boost. */
  values: readonly RuleValue[];
  /** Added to the score of a matching item (> 0). */
  boost: number;
}

/**
 * A business rule in the Universal Recommender's form (its `fields`):
 * `bias` > 0 adds `bias` to the score of the items whose `name` field has
 * one of `values`; 0 excludes them; < 0 keeps only them.
 */
export interface FieldRule {
  /** Metadata field. */
  name: string;
  /** Values the rule is about. */
  values: readonly RuleValue[];
  /** > 0 boost, 0 exclude, < 0 include only. */
  bias: number;
}

/**
 * How `item` and `items` query: `cooccurrence` finds the items whose
 * primary indicators list them (items bought with them); `indicators` uses
 * their own indicator lists, every field, as the query (the Universal
 * Recommender's item-based query: items whose indicators resemble theirs).
 */
export type ItemQuery = "cooccurrence" | "indicators";

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
  /**
   * Similar items for one item (item-based); with a history (or user) the
   * item's query joins the history's.
   */
  item?: string;
  /** Similar items for a basket (item-based). */
  items?: readonly string[];
  /** How `item` and `items` query (default the engine's, else `cooccurrence`). */
  itemQuery?: ItemQuery;
  /** Multiply the scores of each field's matches (default 1 each). */
  fieldBoosts?: Readonly<Record<string, number>>;
  /** How many items to return (default 10, at most 1000). */
  num?: number;
  /** Offset into the ranking, for pagination (default 0). */
  from?: number;
  /** Only items whose metadata passes every filter. */
  filters?: readonly Filter[];
  /** Business rules in the Universal Recommender's form. */
  fields?: readonly FieldRule[];
  /**
   * Score boosts on metadata values (they do not exclude others). Without
   * history, the items they match are ranked by them, before backfill.
   */
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
  /**
   * Only items whose date `field` (default `updated`) is strictly after
   * `after` and strictly before `before` (ISO 8601 or unix ms), as the
   * Universal Recommender's `dateRange`.
   */
  dateRange?: {
    field?: string;
    after?: string | number;
    before?: string | number;
  };
  /**
   * The instant the engine's availability window is checked at (default
   * now; the Universal Recommender's `currentDate`).
   */
  currentDate?: string | number;
  /**
   * Number metadata fields that order backfill and break score ties, in
   * order, before the item id (default the engine's, else `popularity`).
   */
  rankBy?: readonly string[];
  /** Fill up to `num` with items in `rankBy` order passing the rules (default true). */
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
  /** True when the item comes from backfill. */
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
   * Ranked recommendations, best first; ties are ordered by the `rankBy`
   * fields (popularity by default), then by item id.
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
  /**
   * Filters: the request's, its rules', the date range, the engine's
   * availability window and rules.
   */
  filters: Filter[];
  /**
   * Metadata boosts. Without clauses they are the ranking: the items they
   * match, by their summed boosts.
   */
  boosts: Boost[];
  /** Excluded ids (explicit and, with excludeSeen, the query items). */
  exclude: string[];
  /** Number fields that order backfill and break ties, before the id. */
  rankBy: string[];
  /** Whether to backfill. */
  backfill: boolean;
  /** Whether to explain. */
  explain: boolean;
  /** How many ranked matches to fetch (`from + num`, more when dithering). */
  window: number;
  /** Dithering, when requested. */
  dither?: { seed: string; epsilon: number; periodMs: number };
  /**
   * Items whose own indicator lists join the query (`itemQuery:
   * "indicators"`): the backend reads them and calls
   * {@linkcode addItemIndicators}.
   */
  lookup?: {
    /** The items, in request order. */
    items: string[];
    /** Values used per field (`maxQueryEvents`). */
    cap: number;
    /** Boost of each field's clauses (default 1). */
    fieldBoosts: Readonly<Record<string, number>>;
  };
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
  /** Default of a request's `rankBy` (default `["popularity"]`). */
  rankBy?: readonly string[];
  /** Default of a request's `itemQuery` (default `cooccurrence`). */
  itemQuery?: ItemQuery;
  /**
   * A date field: items whose value is after the request's `currentDate`
   * (default now) are not returned yet (the UR's `availableDateName`).
   */
  availableDateName?: string;
  /**
   * A date field: items whose value is at or before the request's
   * `currentDate` (default now) are not returned any more (the UR's
   * `expireDateName`).
   */
  expireDateName?: string;
  /** Filters applied to every request, besides its own. */
  filters?: readonly Filter[];
  /** Boosts applied to every request, besides its own. */
  boosts?: readonly Boost[];
  /** Rules in the UR's form applied to every request (its engine.json `fields`). */
  fields?: readonly FieldRule[];
}

/** Serving settings after defaults, checked against a model. */
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
  /** Default of `rankBy`. */
  rankBy: readonly string[];
  /** Default of `itemQuery`. */
  itemQuery: ItemQuery;
  /** The availability window's date fields, if any. */
  availableDateName?: string;
  /** See {@linkcode ServingOptions.expireDateName}. */
  expireDateName?: string;
  /** Engine filters (normalized, the `fields` rules included). */
  filters: readonly Filter[];
  /** Engine boosts (the `fields` rules included). */
  boosts: readonly Boost[];
}

/** Default of {@linkcode ServingOptions.maxQueryEvents}. */
export const DEFAULT_MAX_QUERY_EVENTS: number = MAX_HISTORY;

const defs = (schema as { $defs: Record<string, JsonSchema> }).$defs;

// the schema as a yes/no check: most requests are valid, and the
// interpreter (paths, messages) is only needed to say what is wrong
const requestShapeOk = compileSchemaCheck(REQUEST_SCHEMA);

/**
 * Whether a value has a request's shape ({@linkcode REQUEST_SCHEMA}), as
 * {@linkcode normalizeRequest} checks it first, answered from the schema
 * compiled once (no messages built): a backend's fast path for the
 * requests it can plan alone; what needs the model is not checked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isRequestShape } from "./request.ts";
 *
 * assert.ok(isRequestShape({ history: ["a", "b"], num: 5 }));
 * assert.ok(!isRequestShape({ history: ["a"], num: 0 }));
 * assert.ok(!isRequestShape({ history: [""] }));
 * ```
 *
 * @param value Any value.
 * @returns True when the schema finds nothing wrong with it.
 */
export function isRequestShape(value: unknown): boolean {
  return requestShapeOk(value);
}

// the first schema issue of `value` against `$defs.<def>` (or the root)
function shapeIssue(value: unknown, def: string | undefined, path: string) {
  const target = def === undefined ? REQUEST_SCHEMA : defs[def];
  return schemaIssues(target, value, path, REQUEST_SCHEMA)[0];
}

/**
 * Checks serving options, so that a bad setting fails when a recommender is
 * made, not on its first request. What needs the model (field types) is
 * checked by {@linkcode resolveServing}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkServingOptions } from "./request.ts";
 *
 * checkServingOptions({ maxQueryEvents: 20, rankBy: ["trending", "popularity"] });
 * assert.throws(
 *   () => checkServingOptions({ maxQueryEvents: 0 }),
 *   /maxQueryEvents must be an integer from 1 to 1024, got 0/,
 * );
 * assert.throws(
 *   () => checkServingOptions({ filters: [{ field: "category", colour: "red" } as never] }),
 *   { name: "ConfigError", message: 'filters[0] has an unknown key "colour" (known: field, value, values, gte, gt, lte, lt, not)' },
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
  // the rest has the shape of the request's keys of the same names
  const shapes: [keyof ServingOptions, unknown, string | undefined][] = [
    ["rankBy", { rankBy: options.rankBy }, undefined],
    ["itemQuery", { itemQuery: options.itemQuery }, undefined],
    ["filters", { filters: options.filters }, undefined],
    ["boosts", { boosts: options.boosts }, undefined],
    ["fields", { fields: options.fields }, undefined],
    ["availableDateName", options.availableDateName, "fieldName"],
    ["expireDateName", options.expireDateName, "fieldName"],
  ];
  for (const [key, value, def] of shapes) {
    if (options[key] === undefined) continue;
    const issue = def === undefined
      ? shapeIssue(value, undefined, "")
      : shapeIssue(value, def, key);
    if (issue) {
      throw new ConfigError(issue.path.replace(/^\./, ""), issue.reason);
    }
  }
}

/**
 * Serving settings for a model: the options, then the manifest's recorded
 * defaults, then the library's; the engine's rules checked against the
 * model's metadata types.
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
 * // a UR rule with bias 0 excludes
 * assert.deepEqual(
 *   resolveServing(m, { fields: [{ name: "category", values: ["tablets"], bias: 0 }] }).filters,
 *   [{ field: "category", values: ["tablets"], not: true }],
 * );
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
  const configFail = (path: string, reason: string): never => {
    throw new ConfigError(path, reason);
  };
  const types = manifest.metadata;
  const rankBy = [...(merged.rankBy ?? DEFAULT_RANK_BY)];
  rankBy.forEach((f, i) =>
    checkRankField(f, types, `rankBy[${i}]`, configFail)
  );
  for (const key of ["availableDateName", "expireDateName"] as const) {
    const field = merged[key];
    if (
      field !== undefined && types[field] !== undefined &&
      types[field] !== "date"
    ) {
      configFail(
        key,
        `names "${field}", a ${
          types[field]
        } field of this model; it must be a date field (declare it in items.fields)`,
      );
    }
  }
  const filters = (merged.filters ?? []).map((f, i) => {
    checkMetadataField(f.field, `filters[${i}].field`, manifest, configFail);
    return checkFilter(f, `filters[${i}]`, types, configFail);
  });
  const boosts = (merged.boosts ?? []).map((b, i) => {
    checkMetadataField(b.field, `boosts[${i}].field`, manifest, configFail);
    return checkBoost(b, `boosts[${i}]`, types, configFail);
  });
  (merged.fields ?? []).forEach((rule, i) => {
    checkMetadataField(rule.name, `fields[${i}].name`, manifest, configFail);
    applyFieldRule(
      rule,
      `fields[${i}]`,
      types,
      configFail,
      filters,
      boosts,
    );
  });
  return {
    maxQueryEvents: merged.maxQueryEvents ?? DEFAULT_MAX_QUERY_EVENTS,
    fieldBoosts: merged.fieldBoosts!,
    num: merged.num ?? DEFAULT_NUM,
    backfill: merged.backfill ?? true,
    excludeSeen: merged.excludeSeen ?? true,
    rankBy,
    itemQuery: merged.itemQuery ?? "cooccurrence",
    ...(merged.availableDateName !== undefined
      ? { availableDateName: merged.availableDateName }
      : {}),
    ...(merged.expireDateName !== undefined
      ? { expireDateName: merged.expireDateName }
      : {}),
    filters,
    boosts,
  };
}

type Fail = (path: string, reason: string) => never;

function fail(path: string, reason: string): never {
  throw new RequestError(path, reason);
}

function checkRankField(
  field: string,
  types: Readonly<Record<string, MetadataType>>,
  where: string,
  fail: Fail,
): void {
  // popularity is always sortable (missing values sort last)
  if (types[field] === "number" || (field === "popularity" && !types[field])) {
    return;
  }
  const numbers = Object.keys(types).filter((k) => types[k] === "number");
  fail(
    where,
    `"${field}" is not a number field of this model (number fields: ${
      numbers.join(", ") || "none"
    })`,
  );
}

function dedupIds(list: readonly string[], where: string): string[] {
  const out = [...new Set(list)];
  if (out.length > MAX_HISTORY) {
    fail(
      where,
      `has ${out.length} distinct items; at most ${MAX_HISTORY} are accepted`,
    );
  }
  return out;
}

// a value of a field of the model's type `type`
function checkTyped(
  v: unknown,
  at: string,
  field: string,
  type: MetadataType | undefined,
  fail: Fail,
): void {
  if (!type) return;
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
      } ("${field}" is a ${type} field), got ${JSON.stringify(v)}`,
    );
  }
}

const RANGE = ["gte", "gt", "lte", "lt"] as const;

// rules apply to item metadata: the id and the indicator fields are in the
// index too, where Elasticsearch would match them (a term on a
// sparse_vector field, a range on the id) and the embedded backend not
function checkMetadataField(
  field: string,
  at: string,
  manifest: ModelManifest,
  fail: Fail,
): void {
  if (field === "id" || manifest.fields.some((f) => f.name === field)) {
    fail(
      at,
      `"${field}" is not a metadata field (rules apply to item metadata: ${
        Object.keys(manifest.metadata).sort().join(", ") ||
        "none in this model"
      })`,
    );
  }
}

/** A filter's semantics: one kind of test, values of the field's type. */
function checkFilter(
  filter: Filter,
  where: string,
  types: Readonly<Record<string, MetadataType>>,
  fail: Fail,
): Filter {
  const range = RANGE.filter((k) => filter[k] !== undefined);
  const kinds = [
    filter.value !== undefined,
    filter.values !== undefined,
    range.length > 0,
  ].filter(Boolean).length;
  if (kinds !== 1) {
    fail(where, "needs exactly one of value, values, or range bounds");
  }
  // Elasticsearch keeps one bound per side (the last given), the embedded
  // backend would apply both: one per side, so both read it alike
  for (const [a, b] of [["gt", "gte"], ["lt", "lte"]] as const) {
    if (filter[a] !== undefined && filter[b] !== undefined) {
      fail(where, `has both ${a} and ${b}: give one bound per side`);
    }
  }
  const type = types[filter.field];
  if (type === "boolean" && range.length > 0) {
    fail(where, `cannot be a range: "${filter.field}" is a boolean field`);
  }
  if (filter.value !== undefined) {
    checkTyped(filter.value, `${where}.value`, filter.field, type, fail);
  }
  filter.values?.forEach((v, i) =>
    checkTyped(v, `${where}.values[${i}]`, filter.field, type, fail)
  );
  for (const k of range) {
    checkTyped(filter[k], `${where}.${k}`, filter.field, type, fail);
  }
  const out: Filter = { field: filter.field };
  // one instant for both backends: Elasticsearch would otherwise fill the
  // missing parts of a `gt`/`lte` bound such as "2015-06-01" with
  // 23:59:59.999, and read text without an offset its own way
  const norm = (v: RuleValue): RuleValue =>
    type === "date" ? dateMillis(v)! : v;
  if (filter.value !== undefined) out.value = norm(filter.value);
  if (filter.values !== undefined) out.values = filter.values.map(norm);
  for (const k of range) out[k] = norm(filter[k]!) as number | string;
  if (filter.not) out.not = true;
  return out;
}

function checkBoost(
  boost: Boost,
  where: string,
  types: Readonly<Record<string, MetadataType>>,
  fail: Fail,
): Boost {
  const type = types[boost.field];
  boost.values.forEach((v, i) =>
    checkTyped(v, `${where}.values[${i}]`, boost.field, type, fail)
  );
  const values = type === "date"
    ? boost.values.map((v) => dateMillis(v)!)
    : [...boost.values];
  return { field: boost.field, values, boost: boost.boost };
}

// a UR rule: bias > 0 boost, 0 exclude, < 0 include only
function applyFieldRule(
  rule: FieldRule,
  where: string,
  types: Readonly<Record<string, MetadataType>>,
  fail: Fail,
  filters: Filter[],
  boosts: Boost[],
): void {
  const { name: field, values, bias } = rule;
  if (bias > 0) {
    boosts.push(checkBoost({ field, values, boost: bias }, where, types, fail));
  } else {
    filters.push(
      checkFilter(
        { field, values, ...(bias === 0 ? { not: true } : {}) },
        where,
        types,
        fail,
      ),
    );
  }
}

/**
 * Validates a request against a model and applies defaults: its shape
 * against {@linkcode REQUEST_SCHEMA}, then what needs the model (event
 * types, metadata types, ranking fields).
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
 * assert.throws(
 *   () => normalizeRequest({ history: ["a"], num: "3" }, manifest),
 *   { name: "RequestError", path: "request.num", message: 'request.num must be an integer, got "3"' },
 * );
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
  if (!requestShapeOk(request)) {
    const issue = shapeIssue(request, undefined, "request");
    if (issue) fail(issue.path, issue.reason);
  }
  const req = request as RecommendRequest;
  if (req.user !== undefined) {
    fail(
      "request.user",
      "needs an event store (serve with --event-store, or withUserHistory)",
    );
  }
  const primary = manifest.primaryEvent;
  const fields = historyFields(manifest);
  const cap = serving.maxQueryEvents;
  const fieldBoosts = { ...serving.fieldBoosts, ...req.fieldBoosts };
  const boostOf = (field: string) => fieldBoosts[field] ?? 1;
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
    const all = dedupIds(history, "request.history");
    all.forEach((item) => seen.add(item));
    add(primaryField, all.slice(0, cap));
  } else if (history !== undefined) {
    for (const [type, list] of Object.entries(history)) {
      if (list === undefined) continue; // absent, as in JSON
      const field = fields.get(type);
      if (!field || !Object.hasOwn(history, type)) {
        fail(
          `request.history.${type}`,
          `is not an event type of this model (${
            [...fields.keys()].join(", ")
          })`,
        );
      }
      const all = dedupIds(list, `request.history.${type}`);
      if (type === primary) all.forEach((item) => seen.add(item));
      add(field, all.slice(0, cap));
    }
  }
  const basket = [
    ...new Set([
      ...(req.item !== undefined ? [req.item] : []),
      ...(req.items !== undefined ? dedupIds(req.items, "request.items") : []),
    ]),
  ];
  let lookup: NormalizedRequest["lookup"];
  if ((req.itemQuery ?? serving.itemQuery) === "indicators") {
    basket.forEach((item) => seen.add(item));
    if (basket.length) lookup = { items: basket, cap, fieldBoosts };
  } else {
    const inHistory = new Set(
      clauses.filter((c) => c.field === primaryField).map((c) => c.item),
    );
    add(primaryField, basket.filter((item) => !inHistory.has(item)));
  }
  const num = req.num ?? serving.num;
  const from = req.from ?? 0;
  if (from + num > MAX_WINDOW) {
    fail(
      "request.from",
      `must be an integer >= 0 with from + num <= ${MAX_WINDOW}, got ${from}`,
    );
  }
  const types = manifest.metadata;
  const filters = (req.filters ?? []).map((f, i) => {
    checkMetadataField(f.field, `request.filters[${i}].field`, manifest, fail);
    return checkFilter(f, `request.filters[${i}]`, types, fail);
  });
  const boosts = (req.boosts ?? []).map((b, i) => {
    checkMetadataField(b.field, `request.boosts[${i}].field`, manifest, fail);
    return checkBoost(b, `request.boosts[${i}]`, types, fail);
  });
  (req.fields ?? []).forEach((rule, i) => {
    checkMetadataField(rule.name, `request.fields[${i}].name`, manifest, fail);
    applyFieldRule(rule, `request.fields[${i}]`, types, fail, filters, boosts);
  });
  if (req.dateRange !== undefined) {
    const { field = "updated", after, before } = req.dateRange;
    checkMetadataField(field, "request.dateRange.field", manifest, fail);
    if (after === undefined && before === undefined) {
      fail("request.dateRange", "needs after or before");
    }
    for (const [k, v] of [["after", after], ["before", before]] as const) {
      if (v !== undefined && dateMillis(v) === undefined) {
        fail(`request.dateRange.${k}`, "must be an ISO date or unix ms");
      }
    }
    // both ends exclusive, as the Universal Recommender's dateRange
    filters.push(checkFilter(
      {
        field,
        ...(after !== undefined ? { gt: after } : {}),
        ...(before !== undefined ? { lt: before } : {}),
      },
      "request.dateRange",
      types,
      fail,
    ));
  }
  if (
    req.currentDate !== undefined && dateMillis(req.currentDate) === undefined
  ) {
    fail("request.currentDate", "must be an ISO date or unix ms");
  }
  if (serving.availableDateName || serving.expireDateName) {
    const now = req.currentDate !== undefined
      ? dateMillis(req.currentDate)!
      : Date.now();
    // available <= now < expire; an item without the field is not held back
    if (serving.availableDateName) {
      filters.push({ field: serving.availableDateName, gt: now, not: true });
    }
    if (serving.expireDateName) {
      filters.push({ field: serving.expireDateName, lte: now, not: true });
    }
  }
  filters.push(...serving.filters);
  boosts.push(...serving.boosts);
  const rankBy = req.rankBy ? [...req.rankBy] : [...serving.rankBy];
  if (req.rankBy) {
    rankBy.forEach((f, i) =>
      checkRankField(f, types, `request.rankBy[${i}]`, fail)
    );
  }
  const excludeSeen = req.excludeSeen ?? serving.excludeSeen;
  const exclude = new Set(
    req.exclude !== undefined ? dedupIds(req.exclude, "request.exclude") : [],
  );
  if (excludeSeen) { for (const item of seen) exclude.add(item); }
  let dither: NormalizedRequest["dither"];
  let window = from + num;
  if (req.dither !== undefined) {
    const { seed, epsilon = 2, periodMs = 600_000, window: factor = 3 } =
      req.dither;
    dither = { seed, epsilon, periodMs };
    window = Math.min(MAX_WINDOW, window * factor);
  }
  return {
    window,
    ...(dither ? { dither } : {}),
    ...(lookup ? { lookup } : {}),
    clauses,
    num,
    from,
    filters,
    boosts,
    exclude: [...exclude],
    rankBy,
    backfill: req.backfill ?? serving.backfill,
    explain: req.explain ?? false,
  };
}

/**
 * One item's indicator lists, by field, as a backend reads them from the
 * item's document: ids, and their weights on weighted fields.
 */
export type ItemIndicators = Readonly<
  Record<string, { ids: readonly string[]; weights?: readonly number[] }>
>;

/**
 * Adds the query items' own indicator lists to a request's clauses
 * (`itemQuery: "indicators"`): every field of the model, each list in
 * strength order (weight, then id, on weighted fields; the stored order on
 * keyword fields), the items' lists concatenated without repeats, at most
 * `cap` values per field; a clause the history already has is not added
 * twice. Items without a document add nothing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { addItemIndicators, normalizeRequest } from "./request.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const m = manifestFor([{ id: "x", indicators: [], indicators_view: [] }], { primaryEvent: "buy" });
 * const r = normalizeRequest({ item: "x", itemQuery: "indicators" }, m);
 * const full = addItemIndicators(r, m, new Map([
 *   ["x", { indicators: { ids: ["a", "b"] }, indicators_view: { ids: ["c"] } }],
 * ]));
 * assert.deepEqual(full.clauses, [
 *   { field: "indicators", item: "a", boost: 1 },
 *   { field: "indicators", item: "b", boost: 1 },
 *   { field: "indicators_view", item: "c", boost: 1 },
 * ]);
 * assert.deepEqual(full.exclude, ["x"]);
 * ```
 *
 * @param request A normalized request with a `lookup`.
 * @param manifest The model's manifest (its fields, in order).
 * @param found The documents found, by item id.
 * @returns The request with the clauses added and no `lookup`.
 */
export function addItemIndicators(
  request: NormalizedRequest,
  manifest: ModelManifest,
  found: ReadonlyMap<string, ItemIndicators>,
): NormalizedRequest {
  const { lookup, ...rest } = request;
  if (!lookup) return request;
  const clauses = [...request.clauses];
  const have = new Set(clauses.map((c) => `${c.field}\u0000${c.item}`));
  for (const { name: field } of manifest.fields) {
    const values: string[] = [];
    const taken = new Set<string>();
    for (const item of lookup.items) {
      const list = found.get(item)?.[field];
      if (!list) continue;
      for (const id of strengthOrder(list)) {
        if (!taken.has(id)) taken.add(id), values.push(id);
      }
    }
    for (const item of values.slice(0, lookup.cap)) {
      if (have.has(`${field}\u0000${item}`)) continue;
      clauses.push({ field, item, boost: lookup.fieldBoosts[field] ?? 1 });
    }
  }
  return { ...rest, clauses };
}

function strengthOrder(
  list: { ids: readonly string[]; weights?: readonly number[] },
): readonly string[] {
  const { ids, weights } = list;
  if (!weights) return ids;
  return ids.map((id, i) => [id, weights[i]] as const)
    .sort((a, b) => (b[1] - a[1]) || compareIds(a[0], b[0]))
    .map(([id]) => id);
}
