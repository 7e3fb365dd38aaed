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
import type { EventStream, Interactions } from "./interactions.ts";

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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RankingsAccumulator } from "./rankings.ts";
 *
 * const r = new RankingsAccumulator([{ name: "popularity", type: "popular" }], "buy");
 * const seen = [];
 * for await (const e of r.tap([[{ user: "u", item: "a", event: "buy", timestamp: 0 }]])) seen.push(e);
 * assert.equal(seen.length, 1); // the events pass through unchanged
 * assert.equal(r.values().get("popularity")!.get("a"), 1);
 * ```
 */
export class RankingsAccumulator {
  readonly #specs: Resolved[];
  readonly #items = new Map<string, number>();
  readonly #ids: string[] = [];
  // all-time event counts (popular without duration), by ranking
  readonly #totals: (Float64Array | undefined)[];
  readonly #windows: (WindowCounts | undefined)[];
  readonly #types: Set<string>;

  /**
   * Prepares the rankings.
   *
   * @param specs The rankings.
   * @param primaryEvent The event type a ranking counts by default.
   * @throws {ConfigError} For an invalid ranking.
   */
  constructor(specs: readonly RankingSpec[], primaryEvent: string) {
    this.#specs = resolve(specs, primaryEvent);
    this.#types = new Set(
      this.#specs.filter((s) => s.count === "events").flatMap((s) => [
        ...s.events,
      ]),
    );
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

  /**
   * Counts one event.
   *
   * @param event The event.
   */
  add(event: Event): void {
    if (!this.#types.has(event.event)) return;
    let item = this.#items.get(event.item);
    if (item === undefined) {
      item = this.#ids.length;
      this.#items.set(event.item, item);
      this.#ids.push(event.item);
    }
    for (let r = 0; r < this.#specs.length; r++) {
      const spec = this.#specs[r];
      if (spec.count !== "events" || !spec.events.has(event.event)) continue;
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
        w.add(item, event.timestamp);
      }
    }
  }

  /**
   * Passes a stream of events (or batches) through, counting each.
   *
   * @param events The build's events.
   * @returns The same events.
   */
  async *tap(events: EventStream): AsyncGenerator<Event | readonly Event[]> {
    for await (const e of events) {
      if (Array.isArray(e)) { for (const one of e) this.add(one); }
      else this.add(e as Event);
      yield e;
    }
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
    const parts = new Float64Array(PERIODS);
    this.#specs.forEach((spec, r) => {
      const values = new Map<string, number>();
      out.set(spec.name, values);
      if (spec.count === "users") {
        if (interactions) usersPerItem(interactions, spec.events, values);
        return;
      }
      const total = this.#totals[r];
      const w = this.#windows[r];
      for (let item = 0; item < this.#ids.length; item++) {
        let v: number;
        if (total) v = total[item] ?? 0;
        else {
          w!.window(item, parts);
          const [a, b, c, d, e, f] = parts;
          v = spec.type === "popular"
            ? a + b + c + d + e + f
            : spec.type === "trending"
            ? (d + e + f) - (a + b + c)
            : ((e + f) - (c + d)) - ((c + d) - (a + b));
        }
        values.set(this.#ids[item], v);
      }
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
  out: Map<string, number>,
) {
  const matrices = [...types].map((t) => interactions.matrix(t)).filter((
    m,
  ) => m !== undefined);
  const items = interactions.items.size;
  const counts = new Int32Array(items);
  const mark = new Int32Array(items).fill(-1);
  for (let u = 0; u < interactions.users.size; u++) {
    for (const m of matrices) {
      for (const item of m.row(u)) {
        if (mark[item] !== u) mark[item] = u, counts[item]++;
      }
    }
  }
  for (let a = 0; a < items; a++) {
    if (counts[a] > 0) out.set(interactions.items.idOf(a), counts[a]);
  }
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
