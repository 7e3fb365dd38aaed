/**
 * Varied serving requests for parity tests: per-type histories, field
 * boosts, filters, date ranges, metadata boosts, exclusions, paging,
 * backfill, explain, dithering, item-based; and the comparison of two
 * backends' answers.
 *
 * @module
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import type {
  Filter,
  Recommendation,
  RecommendRequest,
} from "../serving/request.ts";

/**
 * `n` deterministic requests over the item ids `ids`.
 *
 * @param ids Item ids to draw histories from.
 * @param n How many.
 * @returns The requests.
 */
export function requests(ids: string[], n: number): RecommendRequest[] {
  const rnd = mulberry32(2024);
  const pick = () => ids[Math.floor(rnd() * ids.length)];
  const some = (max: number) =>
    Array.from({ length: 1 + Math.floor(rnd() * max) }, pick);
  const categories = ["camping", "kitchen", "garden", "cycling", "office"];
  const out: RecommendRequest[] = [];
  for (let i = 0; i < n; i++) {
    const r: RecommendRequest = {};
    const shape = i % 5;
    if (shape === 0) r.history = some(6);
    else if (shape === 1) r.history = { transaction: some(3), view: some(6) };
    else if (shape === 2) {
      r.history = { view: some(5), addtocart: some(2) };
      r.fieldBoosts = { indicators_view: 0.5 + rnd(), indicators_addtocart: 2 };
    } else if (shape === 3) r.item = pick();
    else r.items = some(3);
    const rules = Math.floor(rnd() * 8);
    const filters: Filter[] = [];
    if (rules & 1) filters.push({ field: "available", value: true });
    if (rules & 2) {
      r.boosts = [{
        field: "category",
        values: [categories[i % categories.length]],
        boost: 1 + Math.floor(rnd() * 4),
      }];
    }
    if (rules & 4) {
      filters.push(
        rnd() < 0.5
          ? { field: "popularity", gte: Math.floor(rnd() * 6) }
          : { field: "category", values: categories.slice(0, 2 + (i % 3)) },
      );
    }
    if (filters.length) r.filters = filters;
    if (i % 7 === 0) r.dateRange = { after: "2015-07-01" };
    if (i % 6 === 0) r.exclude = some(3);
    if (i % 9 === 0) r.excludeSeen = false;
    if (i % 4 === 0) r.from = Math.floor(rnd() * 6);
    r.num = 1 + Math.floor(rnd() * 15);
    if (i % 8 === 0) r.backfill = false;
    if (i % 3 === 0) r.explain = true;
    if (i % 10 === 5) {
      r.dither = { seed: `user-${i}`, epsilon: 2, periodMs: 1e15 };
    }
    out.push(r);
  }
  return out;
}

/**
 * Asserts that two backends gave exactly the same answer: ranked ids, flags,
 * explanations and (32-bit float) scores, with no tolerance.
 *
 * @param label What is compared, for the failure message.
 * @param es The Elasticsearch backend's answer.
 * @param embedded The embedded backend's answer.
 */
export function same(
  label: string,
  es: Recommendation[],
  embedded: Recommendation[],
): void {
  assert.deepEqual(es, embedded, label);
}
