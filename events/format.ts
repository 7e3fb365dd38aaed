/**
 * Event formats: what an interaction log looks like, and the presets for
 * the logs cco-es knows by name.
 *
 * An {@linkcode EventFormat} says: delimiter, header or none, which columns
 * hold user, item, event and timestamp, the timestamp unit (or no timestamp
 * column at all: file order is time), a fixed event name when there is no
 * event column, event-name aliases and the accepted names.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { PRESETS, resolveFormat } from "./format.ts";
 *
 * assert.equal(PRESETS.movielens.primaryEvent, "like");
 * assert.equal(resolveFormat("taobao").timestampUnit, "s");
 * assert.throws(() => resolveFormat("nope"), /unknown format "nope"; presets: retailrocket, taobao, tianchi, movielens/);
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";

/** One interaction, normalised. */
export interface Event {
  /** User (visitor) id. */
  user: string;
  /** Item id. */
  item: string;
  /** Canonical event type, e.g. `view`, `addtocart`, `transaction`. */
  event: string;
  /** Unix time in milliseconds. */
  timestamp: number;
}

/**
 * How timestamps are written: unix milliseconds, unix seconds, or date-time
 * text (`2014-12-06 02`, `2014-12-06 02:30:00`, ISO 8601; UTC unless the
 * text carries an offset).
 */
export type TimestampUnit = "ms" | "s" | "datetime";

/** Description of a delimited events file. */
export interface EventFormat {
  /** Field delimiter (default `","`). */
  delimiter?: string;
  /** Whether the first line is a header (default `true`). */
  header?: boolean;
  /** Expected column count without a header (default: any, at least the columns used). */
  columns?: number;
  /** User column: 0-based index, or header name. */
  user: number | string;
  /** Item column. */
  item: number | string;
  /** Event column; omit and set `fixedEvent` when there is none. */
  event?: number | string;
  /**
   * Timestamp column. Omit it for a log without timestamps: the file order
   * is then the time order (each event's timestamp is its line number).
   */
  timestamp?: number | string;
  /** Timestamp unit (default `"ms"`). */
  timestampUnit?: TimestampUnit;
  /** Event name for every line when there is no event column. */
  fixedEvent?: string;
  /** Raw event name → canonical name (e.g. `pv` → `view`). */
  eventAliases?: Readonly<Record<string, string>>;
  /** Accepted canonical event names; any other is an error. Omit to accept any. */
  events?: readonly string[];
}

/** A named format for a known log, with the event type it predicts. */
export interface FormatPreset extends EventFormat {
  /** Preset name. */
  name: string;
  /** What log it reads. */
  description: string;
  /** The primary event type (what recommendations predict). */
  primaryEvent: string;
}

/** RetailRocket `events.csv`, the default format. */
export const RETAILROCKET_FORMAT: FormatPreset = Object.freeze({
  name: "retailrocket",
  description:
    "RetailRocket events.csv: timestamp,visitorid,event,itemid,transactionid (unix ms)",
  delimiter: ",",
  header: true,
  user: "visitorid",
  item: "itemid",
  event: "event",
  timestamp: "timestamp",
  timestampUnit: "ms",
  events: ["view", "addtocart", "transaction"],
  primaryEvent: "transaction",
});

/** Formats of the logs cco-es knows by name. */
export const PRESETS: Readonly<
  Record<"retailrocket" | "taobao" | "tianchi" | "movielens", FormatPreset>
> = Object.freeze({
  retailrocket: RETAILROCKET_FORMAT,
  taobao: Object.freeze({
    name: "taobao",
    description:
      "Taobao UserBehavior.csv: user_id,item_id,category_id,behavior_type,timestamp (no header, unix s)",
    delimiter: ",",
    header: false,
    columns: 5,
    user: 0,
    item: 1,
    event: 3,
    timestamp: 4,
    timestampUnit: "s",
    eventAliases: {
      pv: "view",
      cart: "addtocart",
      fav: "fav",
      buy: "transaction",
    },
    events: ["view", "addtocart", "fav", "transaction"],
    primaryEvent: "transaction",
  }),
  tianchi: Object.freeze({
    name: "tianchi",
    description:
      "Tianchi mobile recommendation: user_id,item_id,behavior_type,user_geohash,item_category,time (YYYY-MM-DD HH)",
    delimiter: ",",
    header: true,
    user: "user_id",
    item: "item_id",
    event: "behavior_type",
    timestamp: "time",
    timestampUnit: "datetime",
    eventAliases: {
      "1": "view",
      "2": "fav",
      "3": "addtocart",
      "4": "transaction",
    },
    events: ["view", "fav", "addtocart", "transaction"],
    primaryEvent: "transaction",
  }),
  movielens: Object.freeze({
    name: "movielens",
    description:
      "MovieLens u.data: user item rating timestamp (tab, no header, unix s); ratings 4-5 = like, 3 = neutral, 1-2 = dislike",
    delimiter: "\t",
    header: false,
    columns: 4,
    user: 0,
    item: 1,
    event: 2,
    timestamp: 3,
    timestampUnit: "s",
    eventAliases: {
      "1": "dislike",
      "2": "dislike",
      "3": "neutral",
      "4": "like",
      "5": "like",
    },
    events: ["like", "neutral", "dislike"],
    primaryEvent: "like",
  }),
});

/**
 * Resolves a preset name or checks a format object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveFormat } from "./format.ts";
 *
 * assert.equal(resolveFormat("taobao").timestampUnit, "s");
 * assert.equal(resolveFormat().user, "visitorid"); // RetailRocket
 * // no timestamp column: file order is time
 * assert.equal(resolveFormat({ user: 0, item: 1, fixedEvent: "buy", header: false }).timestamp, undefined);
 * ```
 *
 * @param format A preset name, a format, or nothing for RetailRocket.
 * @returns The format.
 * @throws {ConfigError} For an unknown preset or an inconsistent format.
 */
export function resolveFormat(format?: EventFormat | string): EventFormat {
  if (format === undefined) return RETAILROCKET_FORMAT;
  if (typeof format === "string") {
    const preset = (PRESETS as Record<string, FormatPreset>)[format];
    if (!preset) {
      throw new ConfigError(
        "",
        `unknown format "${format}"; presets: ${
          Object.keys(PRESETS).join(", ")
        }`,
      );
    }
    return preset;
  }
  const problems: string[] = [];
  for (const key of ["user", "item"] as const) {
    if (format[key] === undefined) problems.push(`"${key}" column is required`);
  }
  if (format.event === undefined && !format.fixedEvent) {
    problems.push('give an "event" column or a "fixedEvent" name');
  }
  if (format.delimiter !== undefined && format.delimiter.length === 0) {
    problems.push("delimiter must not be empty");
  }
  const unit = format.timestampUnit ?? "ms";
  if (!["ms", "s", "datetime"].includes(unit)) {
    problems.push(`timestampUnit must be ms, s or datetime, got "${unit}"`);
  }
  for (const key of ["user", "item", "event", "timestamp"] as const) {
    const col = format[key];
    if (typeof col === "number" && !(Number.isInteger(col) && col >= 0)) {
      problems.push(`"${key}" column index must be an integer >= 0`);
    }
    if (typeof col === "string" && format.header === false) {
      problems.push(
        `"${key}" column "${col}" is a name but there is no header`,
      );
    }
  }
  if (problems.length > 0) {
    throw new ConfigError("", `invalid event format: ${problems.join("; ")}`);
  }
  return format;
}
