/**
 * Offline evaluation: split events into training and held-out test data,
 * ask a {@linkcode Recommender} for each test user, and score the lists
 * with {@linkcode userMetrics}.
 *
 * Splits:
 * - {@linkcode timeSplit}: train on events before a cutoff; test users are
 *   those with a primary event after it and some history before it; their
 *   relevant items are the primary items after the cutoff they had not
 *   already had before (those are never recommended back).
 * - {@linkcode stratifiedSplit}: per user, a seeded random share of their
 *   distinct items is held out (Microsoft Recommenders' protocol: 75%
 *   train); every held-out item is relevant.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timeSplit } from "./evaluate.ts";
 *
 * const split = timeSplit([
 *   { user: "u", item: "a", event: "transaction", timestamp: 1 },
 *   { user: "u", item: "b", event: "transaction", timestamp: 9 },
 * ], { cutoff: 5, primaryEvent: "transaction" });
 * assert.deepEqual(split.test.get("u"), new Set(["b"]));
 * ```
 *
 * @module
 */

import { mulberry32 } from "../random/mod.ts";
import type { Event } from "../events/format.ts";
import {
  bootstrapInterval,
  meanMetrics,
  type UserMetrics,
  userMetrics,
} from "./metrics.ts";
import type { Recommender, RecommendRequest } from "../serving/request.ts";

function groupByUser(events: readonly Event[]): Map<string, Event[]> {
  const byUser = new Map<string, Event[]>();
  for (const e of events) {
    const list = byUser.get(e.user);
    if (list) list.push(e);
    else byUser.set(e.user, [e]);
  }
  return byUser;
}

/** Training events, and what each test user is expected to pick. */
export interface Split {
  /** Events to build the model from. */
  train: Event[];
  /** Relevant items per test user. */
  test: Map<string, Set<string>>;
  /** The cutoff (time split only), unix ms. */
  cutoff?: number;
}

/**
 * Splits by time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { timeSplit } from "./evaluate.ts";
 *
 * assert.equal(timeSplit([], { fraction: 0.9, primaryEvent: "buy" }).test.size, 0);
 * ```
 *
 * @param events All events.
 * @param options `cutoff` (unix ms), or `fraction` of the time range for
 * training (default 0.9); the primary event type (default `transaction`).
 * @returns The split.
 */
export function timeSplit(
  events: readonly Event[],
  options: { cutoff?: number; fraction?: number; primaryEvent: string },
): Split {
  const primary = options.primaryEvent;
  let cutoff = options.cutoff;
  if (cutoff === undefined) {
    let min = Infinity, max = -Infinity;
    for (const e of events) {
      if (e.timestamp < min) min = e.timestamp;
      if (e.timestamp > max) max = e.timestamp;
    }
    cutoff = min + (max - min) * (options.fraction ?? 0.9);
  }
  const train: Event[] = [];
  const before = new Map<string, Set<string>>(); // primary items before
  const hasHistory = new Set<string>();
  const after = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.timestamp < cutoff) {
      train.push(e);
      hasHistory.add(e.user);
      if (e.event === primary) {
        let s = before.get(e.user);
        if (!s) before.set(e.user, s = new Set());
        s.add(e.item);
      }
    } else if (e.event === primary) {
      let s = after.get(e.user);
      if (!s) after.set(e.user, s = new Set());
      s.add(e.item);
    }
  }
  const test = new Map<string, Set<string>>();
  for (const [user, items] of after) {
    if (!hasHistory.has(user)) continue;
    const old = before.get(user);
    const fresh = new Set([...items].filter((i) => !old?.has(i)));
    if (fresh.size > 0) test.set(user, fresh);
  }
  return { train, test, cutoff };
}

/**
 * Leave-last-k-out: for each user with at least `k + 1` distinct primary
 * items, the last `k` (by time) are held out, with everything the user did
 * from the first of them on; the rest of the log is training data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lastKSplit } from "./evaluate.ts";
 *
 * const e = (item: string, t: number) =>
 *   ({ user: "u", item, event: "transaction", timestamp: t });
 * const { train, test } = lastKSplit([e("a", 1), e("b", 2), e("c", 3)], {
 *   primaryEvent: "transaction",
 * });
 * assert.deepEqual(train.map((x) => x.item), ["a", "b"]);
 * assert.deepEqual(test.get("u"), new Set(["c"]));
 * ```
 *
 * @param events All events.
 * @param options `k` (default 1) and the primary event type.
 * @returns The split.
 */
export function lastKSplit(
  events: readonly Event[],
  options: { k?: number; primaryEvent: string },
): Split {
  const k = options.k ?? 1;
  const primary = options.primaryEvent;
  const byUser = groupByUser(events);
  const train: Event[] = [];
  const test = new Map<string, Set<string>>();
  for (const [user, list] of byUser) {
    list.sort((a, b) => a.timestamp - b.timestamp);
    const firstBuy = new Map<string, number>(); // item -> first purchase time
    for (const e of list) {
      if (e.event === primary && !firstBuy.has(e.item)) {
        firstBuy.set(e.item, e.timestamp);
      }
    }
    if (firstBuy.size < k + 1) {
      train.push(...list);
      continue;
    }
    const times = [...firstBuy.values()].sort((a, b) => a - b);
    const cut = times[times.length - k];
    const before = list.filter((e) => e.timestamp < cut);
    const held = new Set(
      [...firstBuy].filter(([, t]) => t >= cut).map(([item]) => item),
    );
    train.push(...before);
    if (before.length > 0 && held.size > 0) test.set(user, held);
  }
  return { train, test };
}

/**
 * Splits each user's distinct items at random (seeded): `ratio` of them for
 * training, the rest held out as relevant. Users with fewer than 2 items
 * stay in training only.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stratifiedSplit } from "./evaluate.ts";
 *
 * const events = ["a", "b", "c", "d"].map((item, t) => ({
 *   user: "u", item, event: "rating", timestamp: t,
 * }));
 * const { train, test } = stratifiedSplit(events, { ratio: 0.75, seed: 42 });
 * assert.equal(train.length, 3);
 * assert.equal(test.get("u")!.size, 1);
 * ```
 *
 * @param events All events.
 * @param options Training share (default 0.75) and seed (default 42).
 * @returns The split.
 */
export function stratifiedSplit(
  events: readonly Event[],
  options: { ratio?: number; seed?: number } = {},
): Split {
  const ratio = options.ratio ?? 0.75;
  const random = mulberry32(options.seed ?? 42);
  const byUser = groupByUser(events);
  const train: Event[] = [];
  const test = new Map<string, Set<string>>();
  for (const [user, list] of byUser) {
    const items = [...new Set(list.map((e) => e.item))];
    if (items.length < 2) {
      train.push(...list);
      continue;
    }
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [items[i], items[j]] = [items[j], items[i]];
    }
    const keep = Math.max(1, Math.round(items.length * ratio));
    const trainItems = new Set(items.slice(0, keep));
    train.push(...list.filter((e) => trainItems.has(e.item)));
    // too few items to hold one out at this ratio: training only
    if (keep < items.length) test.set(user, new Set(items.slice(keep)));
  }
  return { train, test };
}

/**
 * Each user's training history per event type, most recent first, at most
 * `maxPerType` distinct items per type (default: all).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { histories } from "./evaluate.ts";
 *
 * const h = histories([
 *   { user: "u", item: "a", event: "view", timestamp: 1 },
 *   { user: "u", item: "b", event: "view", timestamp: 2 },
 * ]);
 * assert.deepEqual(h.get("u"), { view: ["b", "a"] });
 * ```
 *
 * @param train Training events.
 * @param maxPerType Newest items kept per event type.
 * @returns History by user.
 */
export function histories(
  train: readonly Event[],
  maxPerType = Infinity,
): Map<string, Record<string, string[]>> {
  const sorted = [...train].sort((a, b) => b.timestamp - a.timestamp);
  const out = new Map<string, Record<string, string[]>>();
  const seen = new Map<string, Set<string>>();
  for (const e of sorted) {
    let h = out.get(e.user);
    if (!h) out.set(e.user, h = {});
    const key = `${e.user}\u0000${e.event}`;
    let s = seen.get(key);
    if (!s) seen.set(key, s = new Set());
    if (s.has(e.item) || s.size >= maxPerType) continue;
    s.add(e.item);
    (h[e.event] ??= []).push(e.item);
  }
  return out;
}

/** Results of one model. */
export interface Evaluation {
  /** Test users evaluated. */
  users: number;
  /** Mean metrics and bootstrap 95% intervals at each k. */
  atK: Record<
    number,
    { mean: UserMetrics; interval: Record<keyof UserMetrics, [number, number]> }
  >;
  /** Mean recall at k = 1..maxK. */
  recallCurve: number[];
  /** Distinct items recommended (top maxK) / catalogue size. */
  coverage: number;
  /** Share of recommended slots (top maxK) filled by backfill. */
  backfillShare: number;
}

/**
 * Asks `recommender` for every test user and scores the answers.
 *
 * @example
 * ```ts ignore
 * const result = await evaluate(recommender, split, (user) => ({
 *   history: history.get(user) ?? {},
 * }), { ks: [10, 20], catalogue: 1682 });
 * ```
 *
 * @param recommender The model.
 * @param split Test users and their relevant items.
 * @param request Builds each user's request (the history, rules).
 * @param options Cut-offs (default 10 and 20) and catalogue size.
 * @returns The evaluation.
 */
export async function evaluate(
  recommender: Recommender,
  split: Split,
  request: (user: string) => RecommendRequest,
  options: { ks?: number[]; catalogue: number },
): Promise<Evaluation> {
  const ks = options.ks ?? [10, 20];
  const maxK = Math.max(20, ...ks);
  const perK = new Map<number, UserMetrics[]>(ks.map((k) => [k, []]));
  const recall = new Float64Array(maxK);
  const recommended = new Set<string>();
  let slots = 0, backfilled = 0;
  for (const [user, relevant] of split.test) {
    const recs = await recommender.recommend({ ...request(user), num: maxK });
    const ids = recs.map((r) => r.id);
    for (const r of recs) {
      recommended.add(r.id);
      slots++;
      if (r.backfill) backfilled++;
    }
    for (const k of ks) perK.get(k)!.push(userMetrics(ids, relevant, k));
    let hits = 0;
    for (let k = 1; k <= maxK; k++) {
      if (k <= ids.length && relevant.has(ids[k - 1])) hits++;
      recall[k - 1] += hits / relevant.size;
    }
  }
  const users = split.test.size;
  const atK: Evaluation["atK"] = {};
  for (const k of ks) {
    const all = perK.get(k)!;
    const interval = {} as Record<keyof UserMetrics, [number, number]>;
    for (const key of ["precision", "recall", "map", "ndcg", "hit"] as const) {
      interval[key] = bootstrapInterval(all.map((m) => m[key]));
    }
    atK[k] = { mean: meanMetrics(all), interval };
  }
  return {
    users,
    atK,
    recallCurve: Array.from(recall, (r) => users ? r / users : 0),
    coverage: options.catalogue ? recommended.size / options.catalogue : 0,
    backfillShare: slots ? backfilled / slots : 0,
  };
}
