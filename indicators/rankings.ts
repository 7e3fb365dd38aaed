/**
 * Item rankings, as the Universal Recommender's `rankings` (its backfill):
 * per item, a number written into the document's metadata under the
 * ranking's name, which serving can order backfill and break score ties by
 * (`rankBy`).
 *
 * | type | value |
 * | --- | --- |
 * | `popular` | events of the ranking's types (`count: "events"`, default), or distinct users with one (`count: "users"`, all time only), in the window |
 * | `trending` | events in the window's newer half minus its older half (velocity) |
 * | `hot` | (newer third − middle third) − (middle third − older third) (acceleration) |
 *
 * The window is `duration` long (ms, or text such as `"3 days"`,
 * `"12 hours"`) and ends at `endDate` (exclusive). Without `endDate`, it
 * ends with the `duration/6`-long period (counted from the Unix epoch) that
 * holds the latest event of the ranking's types: a log is history, so
 * "now" would find it empty, and the periods let the counts stay per item
 * (6 per item, whatever the log's length) instead of per event. `popular`
 * without a duration counts all events. Event types default to the
 * primary one. Items without events in the window get 0.
 *
 * The Universal Recommender differs in small ways: its window ends now by
 * default, and its trending and hot values leave out items with no events
 * in one of the parts, where cco-es counts 0 for them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RankingsAccumulator } from "./rankings.ts";
 *
 * const DAY = 86_400_000;
 * const rankings = new RankingsAccumulator([
 *   { name: "trending", type: "trending", duration: "2 days", endDate: 2 * DAY },
 * ], "buy");
 * for (const [item, t] of [["a", 0], ["a", DAY + 1], ["a", DAY + 2], ["b", 5]] as const) {
 *   rankings.add({ user: "u", item, event: "buy", timestamp: t });
 * }
 * const values = rankings.values();
 * assert.equal(values.get("trending")!.get("a"), 1); // 2 newer - 1 older
 * assert.equal(values.get("trending")!.get("b"), -1);
 * ```
 *
 * @module
 */

import type { Event } from "../events/format.ts";
import { ConfigError } from "../errors/mod.ts";
import type { IndicatorDocument } from "../model/document.ts";
import type { ModelManifest, RankingManifest } from "../model/manifest.ts";
import { dateMillis } from "../model/items.ts";
import { EventColumns } from "../events/columns.ts";
import type {
  EventObserver,
  EventStream,
  Interactions,
} from "./interactions.ts";
import { IdDictionary } from "./sparse.ts";

export type { RankingManifest };

/** What a ranking measures. */
export type RankingType = "popular" | "trending" | "hot";

/** One ranking, as the settings give it. */
export interface RankingSpec {
  /** Metadata field the value goes to (e.g. `popularity`, `trending`). */
  name: string;
  /** What it measures. */
  type: RankingType;
  /** Event types counted (default: the primary event). */
  eventNames?: readonly string[];
  /**
   * Window length: ms, or text (`"3 days"`, `"12 hours"`, `"90 minutes"`).
   * Required for trending and hot; popular counts all time without it.
   */
  duration?: number | string;
  /** Window end, exclusive (ISO 8601 or unix ms; default: see module doc). */
  endDate?: number | string;
  /** Popular only: count events (default) or distinct users (all time). */
  count?: "events" | "users";
}

const UNITS: Record<string, number> = {
  ms: 1,
  millisecond: 1,
  s: 1000,
  second: 1000,
  m: 60_000,
  min: 60_000,
  minute: 60_000,
  h: 3_600_000,
  hour: 3_600_000,
  d: 86_400_000,
  day: 86_400_000,
  w: 604_800_000,
  week: 604_800_000,
};

/**
 * A duration in ms: a number of ms, or text such as `"3 days"`, `"12h"`,
 * `"90 minutes"` (units ms, s, m/min, h, d, w, singular or plural).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDuration } from "./rankings.ts";
 *
 * assert.equal(parseDuration("3 days"), 259_200_000);
 * assert.equal(parseDuration("1.5h"), 5_400_000);
 * assert.equal(parseDuration(1000), 1000);
 * assert.equal(parseDuration("soon"), undefined);
 * ```
 *
 * @param value The duration.
 * @returns Milliseconds, or `undefined` when it is not a positive duration.
 */
export function parseDuration(value: number | string): number | undefined {
  let ms: number;
  if (typeof value === "number") ms = value;
  else {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]+?)s?\s*$/i.exec(value);
    const unit = m && UNITS[m[2].toLowerCase()];
    if (!m || !unit) return undefined;
    ms = Number(m[1]) * unit;
  }
  return Number.isFinite(ms) && ms > 0 ? ms : undefined;
}

// a spec checked and with its defaults
interface Resolved {
  name: string;
  type: RankingType;
  events: Set<string>;
  count: "events" | "users";
  duration?: number;
  end?: number;
}

/**
 * Checks ranking settings, with errors naming the key.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRankings } from "./rankings.ts";
 *
 * checkRankings([{ name: "hot", type: "hot", duration: "3 days" }]);
 * assert.throws(
 *   () => checkRankings([{ name: "t", type: "trending" }]),
 *   /rankings\[0\].duration is required for a trending ranking/,
 * );
 * ```
 *
 * @param specs The rankings.
 * @throws {ConfigError} For an invalid ranking.
 */
export function checkRankings(specs: readonly RankingSpec[]): void {
  resolve(specs, "x");
}

function resolve(specs: readonly RankingSpec[], primary: string): Resolved[] {
  const names = new Set<string>();
  return specs.map((spec, i) => {
    const at = `rankings[${i}]`;
    if (
      typeof spec.name !== "string" ||
      !/^[A-Za-z][A-Za-z0-9_]*$/.test(spec.name)
    ) {
      throw new ConfigError(
        `${at}.name`,
        "must be a field name (letters, digits, _)",
      );
    }
    if (names.has(spec.name)) {
      throw new ConfigError(`${at}.name`, `repeats "${spec.name}"`);
    }
    names.add(spec.name);
    if (!["popular", "trending", "hot"].includes(spec.type)) {
      throw new ConfigError(
        `${at}.type`,
        `must be popular, trending or hot, got ${JSON.stringify(spec.type)}`,
      );
    }
    const count = spec.count ?? "events";
    if (count !== "events" && count !== "users") {
      throw new ConfigError(`${at}.count`, "must be events or users");
    }
    if (
      count === "users" &&
      (spec.type !== "popular" || spec.duration !== undefined)
    ) {
      throw new ConfigError(
        `${at}.count`,
        "users is for a popular ranking over all time (no duration)",
      );
    }
    let duration: number | undefined;
    if (spec.duration !== undefined) {
      duration = parseDuration(spec.duration);
      if (duration === undefined) {
        throw new ConfigError(
          `${at}.duration`,
          `must be a positive number of ms or text such as "3 days", got ${
            JSON.stringify(spec.duration)
          }`,
        );
      }
    } else if (spec.type !== "popular") {
      throw new ConfigError(
        `${at}.duration`,
        `is required for a ${spec.type} ranking`,
      );
    }
    let end: number | undefined;
    if (spec.endDate !== undefined) {
      end = dateMillis(spec.endDate);
      if (end === undefined) {
        throw new ConfigError(
          `${at}.endDate`,
          "must be an ISO date or unix ms",
        );
      }
      if (duration === undefined) {
        throw new ConfigError(`${at}.endDate`, "needs a duration");
      }
    }
    const events = spec.eventNames ?? [primary];
    if (!Array.isArray(events) || events.length === 0) {
      throw new ConfigError(`${at}.eventNames`, "must be a non-empty array");
    }
    return {
      name: spec.name,
      type: spec.type,
      events: new Set(events),
      count,
      ...(duration !== undefined ? { duration } : {}),
      ...(end !== undefined ? { end } : {}),
    };
  });
}

const PERIODS = 6; // per window: halves (trending) and thirds (hot) of it

// counts of one windowed ranking: PERIODS per item
class WindowCounts {
  counts = new Float64Array(0);
  stamps = new Float64Array(0); // the period number each slot holds
  top = -Infinity; // the latest period seen (a free end)
  constructor(readonly period: number, readonly end?: number) {}

  grow(items: number) {
    if (items * PERIODS <= this.counts.length) return;
    const size = Math.max(items * PERIODS, this.counts.length * 2, 64);
    const counts = new Float64Array(size);
    counts.set(this.counts);
    const stamps = new Float64Array(size).fill(NaN);
    stamps.set(this.stamps);
    this.counts = counts;
    this.stamps = stamps;
  }

  add(item: number, t: number) {
    if (this.end !== undefined) {
      // a fixed window [end - duration, end)
      const p = Math.floor(
        (t - (this.end - this.period * PERIODS)) / this.period,
      );
      if (p < 0 || p >= PERIODS) return;
      this.counts[item * PERIODS + p]++;
      return;
    }
    // periods from the epoch; the window is the PERIODS ending with the
    // latest one, so anything older than PERIODS behind it never counts
    const n = Math.floor(t / this.period);
    if (n > this.top) this.top = n;
    if (n <= this.top - PERIODS) return;
    const slot = item * PERIODS + (((n % PERIODS) + PERIODS) % PERIODS);
    if (this.stamps[slot] !== n) {
      this.stamps[slot] = n;
      this.counts[slot] = 0;
    }
    this.counts[slot]++;
  }

  // the item's counts in the window's periods, oldest first
  window(item: number, out: Float64Array) {
    out.fill(0);
    if ((item + 1) * PERIODS > this.counts.length) return; // never counted
    if (this.end !== undefined) {
      out.set(this.counts.subarray(item * PERIODS, item * PERIODS + PERIODS));
      return;
    }
    if (this.top === -Infinity) return;
    for (let s = 0; s < PERIODS; s++) {
      const n = this.stamps[item * PERIODS + s];
      const p = n - (this.top - PERIODS + 1);
      if (p >= 0 && p < PERIODS) out[p] = this.counts[item * PERIODS + s];
    }
  }

  endMs(): number | undefined {
    if (this.end !== undefined) return this.end;
    return this.top === -Infinity ? undefined : (this.top + 1) * this.period;
  }
}

/**
 * Accumulates the rankings of a build while its events stream past
 * ({@linkcode RankingsAccumulator.tap}), then gives each item's values.
 * A build counts them as its `InteractionsBuilder` records the events
 * instead (the accumulator is its {@linkcode EventObserver}, over the
 * builder's item dictionary): one dictionary, objects and column batches
 * alike.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RankingsAccumulator } from "./rankings.ts";
 * import { EventColumns } from "../events/columns.ts";
 *
 * const r = new RankingsAccumulator([{ name: "popularity", type: "popular" }], "buy");
 * const seen = [];
 * const batch = EventColumns.fromEvents([{ user: "u", item: "b", event: "buy", timestamp: 1 }]);
 * for await (const e of r.tap([[{ user: "u", item: "a", event: "buy", timestamp: 0 }], batch])) seen.push(e);
 * assert.equal(seen.length, 2); // the events pass through unchanged
 * assert.equal(r.values().get("popularity")!.get("a"), 1);
 * assert.equal(r.values().get("popularity")!.get("b"), 1);
 * ```
 */
export class RankingsAccumulator implements EventObserver {
  readonly #specs: Resolved[];
  readonly #items: IdDictionary;
  readonly #ownItems: boolean;
  // all-time event counts (popular without duration), by ranking
  readonly #totals: (Float64Array | undefined)[];
  readonly #windows: (WindowCounts | undefined)[];
  // per event type: what counts one of its events (undefined: nothing)
  readonly #counters = new Map<
    string,
    ((item: number, time: number) => void) | undefined
  >();
  // per EventColumns.eventTypes array seen: batch code -> counter
  readonly #codeMaps = new WeakMap<
    readonly string[],
    (((item: number, time: number) => void) | undefined)[]
  >();

  /**
   * Prepares the rankings.
   *
   * @param specs The rankings.
   * @param primaryEvent The event type a ranking counts by default.
   * @param items The dictionary whose indexes name the items counted
   * (default: its own); a build passes its builder's.
   * @throws {ConfigError} For an invalid ranking.
   */
  constructor(
    specs: readonly RankingSpec[],
    primaryEvent: string,
    items?: IdDictionary,
  ) {
    this.#specs = resolve(specs, primaryEvent);
    this.#items = items ?? new IdDictionary();
    this.#ownItems = items === undefined;
    this.#totals = this.#specs.map((s) =>
      s.count === "events" && s.duration === undefined
        ? new Float64Array(64)
        : undefined
    );
    this.#windows = this.#specs.map((s) =>
      s.duration !== undefined
        ? new WindowCounts(s.duration / PERIODS, s.end)
        : undefined
    );
  }

  /** The item dictionary the counts are indexed by. */
  get items(): IdDictionary {
    return this.#items;
  }

  /** Bytes held by the counts (and the dictionary, when its own). */
  get byteLength(): number {
    let n = this.#ownItems ? this.#items.byteLength : 0;
    for (const t of this.#totals) n += t?.byteLength ?? 0;
    for (const w of this.#windows) {
      n += w ? w.counts.byteLength + w.stamps.byteLength : 0;
    }
    return n;
  }

  /**
   * What counts an event of a type, by item index of
   * {@linkcode RankingsAccumulator.items} (the {@linkcode EventObserver}
   * side: an `InteractionsBuilder` over the same dictionary calls it).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { RankingsAccumulator } from "./rankings.ts";
   * import { InteractionsBuilder } from "./interactions.ts";
   *
   * const b = new InteractionsBuilder();
   * const r = new RankingsAccumulator([{ name: "sold", type: "popular" }], "buy", b.items);
   * b.observe(r);
   * b.add({ user: "u1", item: "a", event: "view", timestamp: 0 });
   * b.add({ user: "u1", item: "b", event: "buy", timestamp: 1 });
   * assert.equal(r.counter("view"), undefined);
   * assert.deepEqual(r.valuesByIndex().get("sold"), new Float64Array([0, 1]));
   * ```
   *
   * @param eventType The event type.
   * @returns The counter, or `undefined` when no ranking counts the type.
   */
  counter(
    eventType: string,
  ): ((item: number, time: number) => void) | undefined {
    if (this.#counters.has(eventType)) return this.#counters.get(eventType);
    const rankings: number[] = [];
    this.#specs.forEach((s, r) => {
      if (s.count === "events" && s.events.has(eventType)) rankings.push(r);
    });
    const count = rankings.length === 0
      ? undefined
      : (item: number, time: number) => {
        for (const r of rankings) this.#count(r, item, time);
      };
    this.#counters.set(eventType, count);
    return count;
  }

  #count(r: number, item: number, time: number) {
    const total = this.#totals[r];
    if (total) {
      if (item >= total.length) {
        const grown = new Float64Array(Math.max(total.length * 2, item + 1));
        grown.set(total);
        this.#totals[r] = grown;
      }
      this.#totals[r]![item]++;
    } else {
      const w = this.#windows[r]!;
      w.grow(item + 1);
      w.add(item, time);
    }
  }

  /**
   * Counts one event.
   *
   * @param event The event.
   */
  add(event: Event): void {
    const count = this.counter(event.event);
    if (count) count(this.#items.intern(event.item), event.timestamp);
  }

  /**
   * Counts a batch of events in columns (item ids interned from their
   * bytes).
   *
   * @param batch The events.
   */
  addColumns(batch: EventColumns): void {
    let map = this.#codeMaps.get(batch.eventTypes);
    if (!map || map.length < batch.eventTypes.length) {
      map = batch.eventTypes.map((t) => this.counter(t));
      this.#codeMaps.set(batch.eventTypes, map);
    }
    const { bytes, itemStart, itemEnd, type, time } = batch;
    const items = this.#items;
    for (let k = 0; k < batch.length; k++) {
      const count = map[type[k]];
      if (count !== undefined) {
        count(items.internBytes(bytes, itemStart[k], itemEnd[k]), time[k]);
      }
    }
  }

  /**
   * Passes a stream of events (arrays of events, column batches) through,
   * counting each.
   *
   * @param events The build's events.
   * @returns The same events.
   */
  async *tap(
    events: EventStream,
  ): AsyncGenerator<Event | readonly Event[] | EventColumns> {
    for await (const e of events) {
      if (e instanceof EventColumns) this.addColumns(e);
      else if (Array.isArray(e)) { for (const one of e) this.add(one); }
      else this.add(e as Event);
      yield e;
    }
  }

  // one events ranking's values, for items 0 .. n
  #valuesOf(r: number, n: number): Float64Array {
    const spec = this.#specs[r];
    const out = new Float64Array(n);
    const total = this.#totals[r];
    if (total) {
      out.set(total.subarray(0, Math.min(n, total.length)));
      return out;
    }
    const w = this.#windows[r]!;
    const parts = new Float64Array(PERIODS);
    for (let item = 0; item < n; item++) {
      w.window(item, parts);
      const [a, b, c, d, e, f] = parts;
      out[item] = spec.type === "popular"
        ? a + b + c + d + e + f
        : spec.type === "trending"
        ? (d + e + f) - (a + b + c)
        : ((e + f) - (c + d)) - ((c + d) - (a + b));
    }
    return out;
  }

  /**
   * Each ranking's value by item id (items never counted are absent; give
   * them 0). Rankings counting users need the built interactions.
   *
   * @param interactions The build's interactions, for `count: "users"`.
   * @returns Values by ranking name, then item id.
   */
  values(interactions?: Interactions): Map<string, Map<string, number>> {
    const out = new Map<string, Map<string, number>>();
    const items = this.#items;
    this.#specs.forEach((spec, r) => {
      const values = new Map<string, number>();
      out.set(spec.name, values);
      if (spec.count === "users") {
        if (!interactions) return;
        const counts = usersPerItem(interactions, spec.events);
        for (let a = 0; a < counts.length; a++) {
          if (counts[a] > 0) values.set(interactions.items.idOf(a), counts[a]);
        }
        return;
      }
      const v = this.#valuesOf(r, items.size);
      for (let item = 0; item < v.length; item++) {
        values.set(items.idOf(item), v[item]);
      }
    });
    return out;
  }

  /**
   * Each ranking's value by item index of
   * {@linkcode RankingsAccumulator.items} (0 for an item not counted), in
   * the order of the rankings: what a build's documents take, without a
   * string per item.
   *
   * @param interactions The build's interactions, for `count: "users"`
   * (without them, those values are 0); their item dictionary must be this
   * accumulator's.
   * @returns Values by ranking name, each `items.size` long.
   * @throws {RangeError} When the interactions have another dictionary.
   */
  valuesByIndex(interactions?: Interactions): Map<string, Float64Array> {
    if (interactions && interactions.items !== this.#items) {
      throw new RangeError(
        "RankingsAccumulator: the interactions have another item dictionary",
      );
    }
    const n = this.#items.size;
    const out = new Map<string, Float64Array>();
    this.#specs.forEach((spec, r) => {
      if (spec.count !== "users") {
        out.set(spec.name, this.#valuesOf(r, n));
        return;
      }
      const values = new Float64Array(n);
      if (interactions) values.set(usersPerItem(interactions, spec.events));
      out.set(spec.name, values);
    });
    return out;
  }

  /**
   * The rankings as built, for the manifest.
   *
   * @returns One entry per ranking.
   */
  manifest(): RankingManifest[] {
    return this.#specs.map((spec, r) => {
      const end = this.#windows[r]?.endMs();
      return {
        name: spec.name,
        type: spec.type,
        eventNames: [...spec.events],
        count: spec.count,
        ...(spec.duration !== undefined ? { durationMs: spec.duration } : {}),
        ...(end !== undefined ? { endMs: end } : {}),
      };
    });
  }
}

// distinct users per item over the union of some event types
function usersPerItem(
  interactions: Interactions,
  types: Set<string>,
): Int32Array {
  const matrices = [...types].map((t) => interactions.matrix(t)).filter((
    m,
  ) => m !== undefined);
  const items = interactions.items.size;
  if (matrices.length === 1 && matrices[0].cols === items) {
    return matrices[0].columnCounts();
  }
  const counts = new Int32Array(items);
  const mark = new Int32Array(items).fill(-1);
  for (let u = 0; u < interactions.users.size; u++) {
    for (const { ptr, idx } of matrices) {
      for (let k = ptr[u], end = ptr[u + 1]; k < end; k++) {
        const item = idx[k];
        if (mark[item] !== u) mark[item] = u, counts[item]++;
      }
    }
  }
  return counts;
}

/**
 * Writes ranking values into a build's documents (`metadata[name]`, 0 for
 * items without a value) and records the rankings and their number fields
 * in the manifest. A ranking named `popularity` replaces the build's own
 * (distinct users with the primary event).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyRankings } from "./rankings.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const documents = [{ id: "a", indicators: [], scores: {}, metadata: { popularity: 1 } }];
 * const manifest = manifestFor(documents, { primaryEvent: "buy" });
 * applyRankings({ manifest, documents }, new Map([["hot", new Map([["a", 2]])]]), []);
 * assert.deepEqual(documents[0].metadata, { popularity: 1, hot: 2 });
 * assert.equal(manifest.metadata.hot, "number");
 * ```
 *
 * @param model The build's manifest and documents.
 * @param values Values by ranking name, then item id.
 * @param rankings The rankings as built (recorded in the manifest).
 */
export function applyRankings(
  model: { manifest: ModelManifest; documents: IndicatorDocument[] },
  values: Map<string, Map<string, number>>,
  rankings: RankingManifest[],
): void {
  for (const [name, byItem] of values) {
    model.manifest.metadata[name] = "number";
    for (const doc of model.documents) {
      doc.metadata = { ...doc.metadata, [name]: byItem.get(doc.id) ?? 0 };
    }
  }
  if (rankings.length) model.manifest.rankings = rankings;
}
