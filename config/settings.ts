/**
 * The settings file, `cco.json`: one file for every task (how to read the
 * events, which indicators to build, where to index them, how to serve),
 * validated against `cco.schema.json` with one-line errors naming the key.
 * Command-line flags override it. Shaped like the Universal Recommender's
 * engine.json where that helps: `indicators` lists the event types, primary
 * first, each with its own thresholds.
 *
 * ```json
 * {
 *   "events": { "path": "events.csv.gz", "format": "retailrocket" },
 *   "indicators": [
 *     { "name": "transaction" },
 *     { "name": "view", "maxIndicatorsPerItem": 100, "minRootLlr": 3 },
 *     { "name": "addtocart" }
 *   ],
 *   "similar": "view",
 *   "items": { "path": "items.csv", "fields": { "expires": "date" } },
 *   "elasticsearch": { "alias": "shop", "replicas": 1 },
 *   "serving": { "num": 20, "maxQueryEvents": 50 },
 *   "http": { "port": 8080 }
 * }
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildOptionsOf, parseSettings } from "./settings.ts";
 *
 * const settings = parseSettings({
 *   indicators: [{ name: "buy" }, { name: "view", minRootLlr: 3 }],
 *   maxIndicatorsPerItem: 100,
 * }, "cco.json");
 * assert.deepEqual(buildOptionsOf(settings), {
 *   primaryEvent: "buy",
 *   secondaryEvents: ["view"],
 *   maxIndicatorsPerItem: 100,
 *   fields: { indicators_view: { minRootLlr: 3 } },
 * });
 * assert.throws(
 *   () => parseSettings({ serving: { num: 0 } }, "cco.json"),
 *   { name: "ConfigError", message: "cco.json: serving.num must be >= 1, got 0" },
 * );
 * ```
 *
 * @module
 */

import schema from "./cco.schema.json" with { type: "json" };
import { assertSchema, type JsonSchema } from "./schema.ts";
import { ConfigError, messageOf } from "../errors/mod.ts";
import { type EventFormat, PRESETS, resolveFormat } from "../events/format.ts";
import type { BuildOptions, IndicatorOptions } from "../indicators/build.ts";
import { checkRankings, type RankingSpec } from "../indicators/rankings.ts";
import {
  crossOccurrenceField,
  PRIMARY_FIELD,
  similarField,
} from "../model/fields.ts";
import type { MetadataType, Weighting } from "../model/manifest.ts";

/** The JSON Schema of `cco.json` (`config/cco.schema.json`). */
export const SETTINGS_SCHEMA: JsonSchema = schema;

/** One event type of the `indicators` list, with its field's thresholds. */
export interface IndicatorSetting extends IndicatorOptions {
  /** The event type. */
  name: string;
}

/** The contents of `cco.json` (see `cco.schema.json` for every key). */
export interface Settings {
  /** The interaction log. */
  events?: {
    /** Events file. */
    path?: string;
    /** Preset name or format. */
    format?: string | EventFormat;
    /** Malformed lines: fail or skip. */
    onError?: "fail" | "skip";
  };
  /** Event types, primary first. */
  indicators?: IndicatorSetting[];
  /** Similar-items event type (`null`: none). */
  similar?: string | IndicatorSetting | null;
  /** Indicators per item and field. */
  maxIndicatorsPerItem?: number;
  /** Threshold on signed root LLR. */
  minRootLlr?: number;
  /** Threshold as a significance level of the LLR test. */
  significance?: number;
  /** History cap per user and event type when building. */
  maxHistoryPerUser?: number;
  /** Indicator strength. */
  weights?: Weighting;
  /** Users with fewer distinct interactions are left out of the build. */
  minEventsPerUser?: number;
  /** Rankings written into the items' metadata (popular, trending, hot). */
  rankings?: RankingSpec[];
  /** Ridge penalty of learned weights. */
  ridge?: number;
  /** `build-index --tune`: validation protocol, budget, users. */
  tune?: {
    protocol?: "last-k" | "stratified" | "time";
    budget?: number;
    maxUsers?: number;
  };
  /** Item metadata. */
  items?: {
    path?: string;
    fields?: Record<string, MetadataType>;
    availableDateName?: string;
    expireDateName?: string;
  };
  /** Publishing and serving from Elasticsearch. */
  elasticsearch?: {
    url?: string;
    alias?: string;
    keep?: number;
    shards?: number;
    replicas?: number;
    flushBytes?: number;
    concurrency?: number;
    retries?: number;
    maxShrink?: number;
  };
  /** Engine-level request defaults. */
  serving?: {
    num?: number;
    maxQueryEvents?: number;
    fieldBoosts?: Record<string, number>;
    backfill?: boolean;
    excludeSeen?: boolean;
    rankBy?: string[];
    itemQuery?: "cooccurrence" | "indicators";
    /** Checked against the request schema when a recommender is made. */
    filters?: Record<string, unknown>[];
    /** As `filters`. */
    boosts?: Record<string, unknown>[];
    /** As `filters`. */
    fields?: Record<string, unknown>[];
  };
  /** The HTTP service. */
  http?: {
    hostname?: string;
    port?: number;
    maxBodyBytes?: number;
    timeoutMs?: number;
    eventStore?: "memory" | "elasticsearch";
    eventsIndex?: string;
    maxConnections?: number;
    headersTimeoutMs?: number;
    idleTimeoutMs?: number;
    eventStoreMaxUsers?: number;
    eventStoreMaxAgeMs?: number;
    cors?: "*" | string[];
  };
  /** The Spark build (`build-index --engine spark`). */
  spark?: {
    /** Spark master (default `local[2]`). */
    master?: string;
    /** Spark settings (`--conf key=value`). */
    conf?: Record<string, string | number | boolean>;
  };
}

/**
 * Validates parsed settings: the schema, then what a schema cannot say
 * (a consistent event format, event types named once).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseSettings } from "./settings.ts";
 *
 * assert.throws(
 *   () => parseSettings({ indicators: [{ name: "buy" }, { name: "buy" }] }, "cco.json"),
 *   /cco.json: indicators\[1\].name repeats "buy"/,
 * );
 * ```
 *
 * @param value Parsed JSON.
 * @param source The file name, for messages.
 * @returns The settings.
 * @throws {ConfigError} Naming the file and the key.
 */
export function parseSettings(value: unknown, source: string): Settings {
  assertSchema(
    SETTINGS_SCHEMA,
    value,
    "",
    (message) => configError(source, message),
  );
  const settings = value as Settings;
  const format = settings.events?.format;
  if (typeof format === "object") {
    try {
      resolveFormat(format);
    } catch (error) {
      throw configError(source, `events.format: ${messageOf(error)}`);
    }
  }
  if (settings.rankings) {
    try {
      checkRankings(settings.rankings);
    } catch (error) {
      throw configError(source, messageOf(error));
    }
  }
  const seen = new Set<string>();
  settings.indicators?.forEach((f, i) => {
    if (seen.has(f.name)) {
      throw configError(source, `indicators[${i}].name repeats "${f.name}"`);
    }
    seen.add(f.name);
  });
  return settings;
}

function configError(source: string, message: string): ConfigError {
  // schema paths start with "." for the root's keys
  const text = message.startsWith(".") ? message.slice(1) : message;
  return new ConfigError(`${source}:`, text);
}

/**
 * Reads and validates a settings file: `path`, else `$CCO_CONFIG`, else no
 * file (empty settings).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSettings } from "./settings.ts";
 *
 * const path = await Deno.makeTempFile({ suffix: ".json" });
 * await Deno.writeTextFile(path, '{"serving": {"num": 5}}');
 * assert.deepEqual(await loadSettings(path), { serving: { num: 5 } });
 * await Deno.writeTextFile(path, '{"serving": {"num": 5}');
 * await assert.rejects(() => loadSettings(path), /is not JSON/);
 * await Deno.remove(path);
 * ```
 *
 * @param path The file; default `$CCO_CONFIG`.
 * @returns The settings (`{}` when there is no file).
 * @throws {ConfigError} When the file cannot be read or is invalid.
 */
export async function loadSettings(path?: string): Promise<Settings> {
  let file = path;
  if (file === undefined) {
    try {
      file = Deno.env.get("CCO_CONFIG") || undefined;
    } catch {
      file = undefined; // no --allow-env
    }
  }
  if (file === undefined) return {};
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (error) {
    throw new ConfigError(`${file}:`, `cannot be read: ${messageOf(error)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ConfigError(`${file}:`, `is not JSON: ${messageOf(error)}`);
  }
  return parseSettings(value, file);
}

/**
 * The event format the settings name (a preset name or an object), or
 * `undefined` when they name none.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatOf } from "./settings.ts";
 *
 * assert.equal(formatOf({ events: { format: "movielens" } })?.timestampUnit, "s");
 * assert.equal(formatOf({}), undefined);
 * ```
 *
 * @param settings Settings.
 * @returns The format.
 */
export function formatOf(settings: Settings): EventFormat | undefined {
  const f = settings.events?.format;
  return f === undefined ? undefined : resolveFormat(f);
}

/**
 * The primary event: the first of `indicators`, else the format preset's.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { primaryEventOf } from "./settings.ts";
 *
 * assert.equal(primaryEventOf({ events: { format: "movielens" } }), "like");
 * assert.equal(primaryEventOf({ indicators: [{ name: "rating" }] }), "rating");
 * assert.equal(primaryEventOf({ events: { format: { user: 0, item: 1, header: false, fixedEvent: "x" } } }), undefined);
 * ```
 *
 * @param settings Settings.
 * @returns The primary event, or `undefined` when the settings cannot tell.
 */
export function primaryEventOf(settings: Settings): string | undefined {
  const first = settings.indicators?.[0]?.name;
  if (first) return first;
  const f = settings.events?.format ?? "retailrocket";
  return typeof f === "string"
    ? (PRESETS as Record<string, { primaryEvent: string }>)[f]?.primaryEvent
    : undefined;
}

/**
 * Build options from settings: primary and secondary event types from
 * `indicators`, the similar-items type, defaults and per-field thresholds.
 * The primary event must be known (from `indicators` or the preset); the
 * caller's flags may still override any of these.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildOptionsOf } from "./settings.ts";
 *
 * assert.deepEqual(
 *   buildOptionsOf({ similar: { name: "view", maxIndicatorsPerItem: 20 }, weights: "none" }),
 *   {
 *     primaryEvent: "transaction",
 *     similarEvent: "view",
 *     weights: "none",
 *     fields: { similar_view: { maxIndicatorsPerItem: 20 } },
 *   },
 * );
 * ```
 *
 * @param settings Settings.
 * @returns Build options (only what the settings say, plus the primary).
 * @throws {ConfigError} When the primary event cannot be told.
 */
export function buildOptionsOf(settings: Settings): BuildOptions {
  const primaryEvent = primaryEventOf(settings);
  if (!primaryEvent) {
    throw new ConfigError(
      "",
      "the primary event is unknown for a custom format: name it first in indicators (cco.json) or with --primary",
    );
  }
  const out: BuildOptions = { primaryEvent };
  const fields: Record<string, IndicatorOptions> = {};
  const thresholds = (field: string, s: IndicatorSetting) => {
    const o: IndicatorOptions = {};
    if (s.maxIndicatorsPerItem !== undefined) {
      o.maxIndicatorsPerItem = s.maxIndicatorsPerItem;
    }
    if (s.minRootLlr !== undefined) o.minRootLlr = s.minRootLlr;
    if (s.significance !== undefined) o.significance = s.significance;
    if (Object.keys(o).length) fields[field] = o;
  };
  if (settings.indicators) {
    const [primary, ...secondaries] = settings.indicators;
    out.secondaryEvents = secondaries.map((s) => s.name);
    thresholds(PRIMARY_FIELD, primary);
    for (const s of secondaries) thresholds(crossOccurrenceField(s.name), s);
  }
  const similar = settings.similar;
  if (similar === null) out.similarEvent = null;
  else if (typeof similar === "string") out.similarEvent = similar;
  else if (similar) {
    out.similarEvent = similar.name;
    thresholds(similarField(similar.name), similar);
  }
  if (settings.maxIndicatorsPerItem !== undefined) {
    out.maxIndicatorsPerItem = settings.maxIndicatorsPerItem;
  }
  if (settings.minRootLlr !== undefined) out.minRootLlr = settings.minRootLlr;
  if (settings.significance !== undefined) {
    out.significance = settings.significance;
  }
  if (settings.ridge !== undefined) out.ridge = settings.ridge;
  if (settings.maxHistoryPerUser !== undefined) {
    out.maxHistoryPerUser = settings.maxHistoryPerUser;
  }
  if (settings.weights !== undefined) out.weights = settings.weights;
  if (settings.minEventsPerUser !== undefined) {
    out.minEventsPerUser = settings.minEventsPerUser;
  }
  if (settings.rankings !== undefined) out.rankings = settings.rankings;
  if (Object.keys(fields).length) out.fields = fields;
  return out;
}

/**
 * The types of the item metadata fields the settings declare: `items.fields`,
 * plus the availability window's fields as dates.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { itemFieldTypes } from "./settings.ts";
 *
 * assert.deepEqual(
 *   itemFieldTypes({ items: { fields: { price: "number" }, expireDateName: "expires" } }),
 *   { price: "number", expires: "date" },
 * );
 * ```
 *
 * @param settings Settings.
 * @returns Types by field.
 */
export function itemFieldTypes(
  settings: Settings,
): Record<string, MetadataType> {
  const out: Record<string, MetadataType> = { ...settings.items?.fields };
  for (const key of ["availableDateName", "expireDateName"] as const) {
    const field = settings.items?.[key];
    if (field !== undefined) out[field] ??= "date";
  }
  return out;
}
