/**
 * A deterministic generator of event logs shaped like RetailRocket's
 * `events.csv` (the original tutorial's data, not redistributable): by
 * default exactly 2,756,101 events (2,664,312 view, 69,332 addtocart,
 * 22,457 transaction) by 1,407,580 visitors on 235,061 items, 2015-05-03 to
 * 2015-09-18.
 *
 * Shape:
 * - **visitors** heavy-tailed: every visitor has one event, the remaining
 *   events go to visitors drawn with Pareto(α = 1.5) weights, so most have 1
 *   or 2 events and a few have thousands;
 * - **items** in latent categories of Zipf-distributed sizes, Zipf
 *   popularity within each category; each visitor prefers one or two
 *   categories and draws most views from them, so co-occurrence has real,
 *   planted structure ({@linkcode SynthLog.categoryOf} tells it);
 * - **carts and purchases** happen after a view, mostly of an item the
 *   visitor viewed (the most popular of three of them: bestsellers sell);
 *   the first event of every visitor is a view;
 * - every item occurs at least once (exact distinct-item count).
 *
 * The same options and seed always give the same bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SynthLog } from "./retailrocket.ts";
 *
 * const log = new SynthLog({ scale: 0.001, seed: 1 });
 * let n = 0;
 * for (const _row of log.rows()) n++;
 * assert.equal(n === log.counts.events, true);
 * ```
 *
 * @module
 */

import { mulberry32 } from "../random/mod.ts";

/** RetailRocket's published figures, the generator's default target. */
export const RETAILROCKET: Readonly<{
  events: number;
  view: number;
  addtocart: number;
  transaction: number;
  visitors: number;
  items: number;
  start: number;
  end: number;
}> = Object.freeze({
  events: 2_756_101,
  view: 2_664_312,
  addtocart: 69_332,
  transaction: 22_457,
  visitors: 1_407_580,
  items: 235_061,
  start: Date.UTC(2015, 4, 3),
  end: Date.UTC(2015, 8, 18, 23, 59, 59),
});

/** Generator options. */
export interface SynthOptions {
  /** Multiplies every count (default 1 = RetailRocket's size). */
  scale?: number;
  /** PRNG seed (default 42). */
  seed?: number;
  /** Number of latent categories (default: items / 235, at least 2). */
  categories?: number;
  /** Share of views drawn from the visitor's preferred categories (default 0.85). */
  affinity?: number;
}

/** Exact counts a log will have. */
export interface SynthCounts {
  /** All events. */
  events: number;
  /** View events. */
  view: number;
  /** Add-to-cart events. */
  addtocart: number;
  /** Transaction events. */
  transaction: number;
  /** Distinct visitors. */
  visitors: number;
  /** Distinct items. */
  items: number;
}

/** One generated row. */
export interface SynthRow {
  /** Unix ms. */
  timestamp: number;
  /** Visitor id. */
  visitor: number;
  /** `view`, `addtocart` or `transaction`. */
  event: "view" | "addtocart" | "transaction";
  /** Item id. */
  item: number;
  /** Transaction id, on transactions. */
  transaction?: number;
}

export { mulberry32 };

/** Index of the first cumulative weight > x (binary search). */
function pick(cumulative: Float64Array, x: number): number {
  let lo = 0, hi = cumulative.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (cumulative[mid] > x) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

function gcd(a: number, b: number): number {
  while (b) [a, b] = [b, a % b];
  return a;
}

/** A multiplier that makes `i -> (i * m + c) mod n` a bijection on 0..n-1. */
function coprime(n: number, near: number): number {
  let m = near % n || 1;
  while (gcd(m, n) !== 1) m++;
  return m;
}

/**
 * A generated log: exact counts known up front, rows produced lazily.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SynthLog } from "./retailrocket.ts";
 *
 * assert.equal(new SynthLog({ scale: 0.01 }).counts.visitors, 14076);
 * ```
 */
export class SynthLog {
  /** Exact counts of the log. */
  readonly counts: SynthCounts;
  readonly #seed: number;
  readonly #categories: number;
  readonly #affinity: number;
  #itemCategory?: Int32Array;

  /**
   * Prepares a log; nothing is generated until {@linkcode SynthLog.rows}.
   *
   * @param options Scale, seed and structure.
   */
  constructor(options: SynthOptions = {}) {
    const scale = options.scale ?? 1;
    if (!(scale > 0)) throw new RangeError(`scale must be > 0, got ${scale}`);
    const r = (n: number) => Math.max(1, Math.round(n * scale));
    const visitors = r(RETAILROCKET.visitors);
    const transaction = r(RETAILROCKET.transaction);
    const addtocart = r(RETAILROCKET.addtocart);
    const events = Math.max(
      r(RETAILROCKET.events),
      visitors + transaction + addtocart,
    );
    const items = Math.min(
      r(RETAILROCKET.items),
      events - transaction - addtocart,
    );
    this.counts = {
      events,
      view: events - addtocart - transaction,
      addtocart,
      transaction,
      visitors,
      items,
    };
    this.#seed = options.seed ?? 42;
    this.#categories = Math.max(
      2,
      options.categories ?? Math.round(items / 235),
    );
    this.#affinity = options.affinity ?? 0.85;
  }

  /** Item ids are below this bound (at least RetailRocket's 466 868). */
  get itemIdBound(): number {
    return Math.max(466_868, this.counts.items);
  }

  /** Visitor ids are below this bound (at least RetailRocket's 1 407 580). */
  get visitorIdBound(): number {
    return Math.max(this.counts.visitors, 1_407_580);
  }

  /** Public item id of item index `i` (ids look like RetailRocket's, up to 466867). */
  itemId(i: number): number {
    const n = this.itemIdBound;
    return (i * coprime(n, 7919) + 13) % n;
  }

  /**
   * The latent category of an item id (the planted structure).
   *
   * @param itemId A generated item id.
   * @returns Its category index, or -1 if unknown.
   */
  categoryOf(itemId: number): number {
    if (!this.#itemCategory) [...this.rows(1)];
    const n = this.itemIdBound;
    const inverse = modInverse(coprime(n, 7919), n);
    const i = (((itemId - 13) % n + n) % n) * inverse % n;
    return i < this.counts.items ? this.#itemCategory![i] : -1;
  }

  /**
   * Generates the rows, visitor by visitor.
   *
   * @param limit Stop after this many rows (default: all).
   * @returns The rows.
   */
  *rows(limit = Infinity): Generator<SynthRow> {
    const { events, visitors, items, addtocart, transaction } = this.counts;
    const random = mulberry32(this.#seed);

    // Categories: Zipf sizes; items assigned in blocks; Zipf popularity
    // within each category, and category popularity by size.
    const K = this.#categories;
    const catWeights = new Float64Array(K);
    let total = 0;
    for (let k = 0; k < K; k++) total += catWeights[k] = 1 / (k + 1) ** 0.9;
    const catSize = new Int32Array(K);
    let assigned = 0;
    for (let k = 0; k < K; k++) {
      catSize[k] = Math.max(1, Math.floor(items * catWeights[k] / total));
      assigned += catSize[k];
    }
    // floor() leaves a remainder; max(1, ·) may overshoot: even both out
    for (let k = 0; assigned < items; k = (k + 1) % K) {
      catSize[k]++;
      assigned++;
    }
    for (let k = 0; assigned > items; k = (k + 1) % K) {
      if (catSize[k] > 1) {
        catSize[k]--;
        assigned--;
      }
    }
    const catStart = new Int32Array(K + 1);
    for (let k = 0; k < K; k++) catStart[k + 1] = catStart[k] + catSize[k];
    const itemCategory = new Int32Array(items);
    for (let k = 0; k < K; k++) {
      itemCategory.fill(k, catStart[k], catStart[k + 1]);
    }
    this.#itemCategory = itemCategory;
    // within-category cumulative Zipf(1.1) weights, normalised per category
    const itemCum = new Float64Array(items);
    for (let k = 0; k < K; k++) {
      let acc = 0;
      for (let j = 0; j < catSize[k]; j++) {
        acc += 1 / (j + 1) ** 1.1;
        itemCum[catStart[k] + j] = acc;
      }
      for (let j = 0; j < catSize[k]; j++) itemCum[catStart[k] + j] /= acc;
    }
    const catCum = new Float64Array(K);
    let cacc = 0;
    for (let k = 0; k < K; k++) catCum[k] = cacc += catSize[k];
    for (let k = 0; k < K; k++) catCum[k] /= cacc;
    const rank = (i: number) => i - catStart[itemCategory[i]];
    const itemInCategory = (k: number) =>
      catStart[k] +
      pick(itemCum.subarray(catStart[k], catStart[k + 1]), random());

    // Events per visitor: 1 each, the rest by Pareto(1.5) weights.
    const perVisitor = new Int32Array(visitors).fill(1);
    const weights = new Float64Array(visitors);
    let wacc = 0;
    for (let v = 0; v < visitors; v++) {
      weights[v] = wacc += (1 - random()) ** (-1 / 1.5);
    }
    for (let e = visitors; e < events; e++) {
      perVisitor[pick(weights, random() * wacc)]++;
    }

    // Exact selection sampling of cart/purchase slots among non-first
    // events, and of forced "every item once" slots among views.
    let slotsLeft = events - visitors;
    let actsLeft = addtocart + transaction;
    let buysLeft = transaction;
    let viewsLeft = events - addtocart - transaction;
    let forcedLeft = items;
    const forcedOrder = new Int32Array(items);
    for (let i = 0; i < items; i++) forcedOrder[i] = i;
    for (let i = items - 1; i > 0; i--) {
      const j = Math.floor(random() * (i + 1));
      [forcedOrder[i], forcedOrder[j]] = [forcedOrder[j], forcedOrder[i]];
    }

    const span = RETAILROCKET.end - RETAILROCKET.start;
    const vBound = this.visitorIdBound;
    const vMul = coprime(vBound, 999_983);
    let produced = 0;
    let transactionId = 0;
    const viewed: number[] = [];
    for (let v = 0; v < visitors && produced < limit; v++) {
      const visitor = (v * vMul + 7) % vBound;
      const prefs = [pick(catCum, random())];
      if (random() < 0.35) prefs.push(pick(catCum, random()));
      let t = RETAILROCKET.start + Math.floor(random() * span * 0.97);
      viewed.length = 0;
      for (let e = 0; e < perVisitor[v] && produced < limit; e++) {
        t += Math.floor(1000 + -Math.log(1 - random()) * 90_000);
        let kind: SynthRow["event"] = "view";
        if (e > 0) {
          if (random() * slotsLeft < actsLeft) {
            kind = random() * actsLeft < buysLeft ? "transaction" : "addtocart";
            if (kind === "transaction") buysLeft--;
            actsLeft--;
          }
          slotsLeft--;
        }
        let item: number;
        if (kind === "view") {
          if (random() * viewsLeft < forcedLeft) {
            item = forcedOrder[items - forcedLeft];
            forcedLeft--;
          } else if (random() < this.#affinity) {
            item = itemInCategory(prefs[Math.floor(random() * prefs.length)]);
          } else {
            item = itemInCategory(pick(catCum, random()));
          }
          viewsLeft--;
          viewed.push(item);
        } else if (random() < 0.9) {
          // bestsellers sell: the most popular of three viewed items
          item = viewed[Math.floor(random() * viewed.length)];
          for (let k = 0; k < 2; k++) {
            const other = viewed[Math.floor(random() * viewed.length)];
            if (rank(other) < rank(item)) item = other;
          }
        } else {
          item = itemInCategory(prefs[0]);
        }
        produced++;
        yield {
          timestamp: Math.min(t, RETAILROCKET.end),
          visitor,
          event: kind,
          item: this.itemId(item),
          transaction: kind === "transaction" ? ++transactionId : undefined,
        };
      }
    }
  }

  /**
   * The rows as RetailRocket CSV text chunks (header first).
   *
   * @param chunkRows Rows per chunk (default 50 000).
   * @param onRow Called with each row as it is written (for statistics).
   * @returns CSV chunks.
   */
  *csv(
    chunkRows = 50_000,
    onRow?: (row: SynthRow) => void,
  ): Generator<string> {
    let out = "timestamp,visitorid,event,itemid,transactionid\n";
    let n = 0;
    for (const r of this.rows()) {
      onRow?.(r);
      out += `${r.timestamp},${r.visitor},${r.event},${r.item},${
        r.transaction ?? ""
      }\n`;
      if (++n % chunkRows === 0) {
        yield out;
        out = "";
      }
    }
    if (out) yield out;
  }
}

function modInverse(a: number, n: number): number {
  // extended Euclid in exact integer arithmetic (n < 2^31)
  let [oldR, r] = [a, n];
  let [oldS, s] = [1, 0];
  while (r !== 0) {
    const q = Math.floor(oldR / r);
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % n) + n) % n;
}

/**
 * The generated log of `scale` at `dir/retailrocket-synth-x<scale>.csv`,
 * written on first use (the benches share it).
 *
 * @param dir Output directory.
 * @param scale Size (1 = RetailRocket's).
 * @returns The file path.
 */
export async function ensureSynthLog(
  dir: string,
  scale: number,
): Promise<string> {
  const path = `${dir}/retailrocket-synth-x${scale}.csv`;
  if (await Deno.stat(path).then(() => true, () => false)) return path;
  console.error(`generating ${path} ...`);
  await Deno.mkdir(dir, { recursive: true });
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  try {
    for (const chunk of new SynthLog({ scale }).csv()) {
      await file.write(encoder.encode(chunk));
    }
  } finally {
    file.close();
  }
  return path;
}

/** How far one indicator field recovers a generated log's categories. */
export interface PlantedRecovery {
  /** Indicators in the field, over all documents. */
  kept: number;
  /** Of those, indicators in the same latent category as their item. */
  same: number;
  /** Chance that two distinct random items of the documents share one. */
  chance: number;
}

/**
 * Counts the indicators of `field` that share their item's latent category
 * (the planted structure), and the share random pairs would have.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { plantedRecovery, SynthLog } from "./retailrocket.ts";
 *
 * const log = new SynthLog({ scale: 0.001, seed: 1 });
 * const r = plantedRecovery(log, [{ id: "0", indicators: ["0"] }], "indicators");
 * assert.equal(r.same, 1); // an item shares its own category
 * ```
 *
 * @param log The generator of the log the documents were built from.
 * @param documents Indicator documents (ids are the generator's item ids).
 * @param field The indicator field.
 * @returns Counts and the chance level.
 */
export function plantedRecovery<D extends { id: string }>(
  log: SynthLog,
  documents: readonly D[],
  field: string,
): PlantedRecovery {
  const sizes = new Map<number, number>();
  let kept = 0, same = 0;
  for (const d of documents) {
    const k = log.categoryOf(+d.id);
    sizes.set(k, (sizes.get(k) ?? 0) + 1);
    for (const other of (d as unknown as Record<string, string[]>)[field]) {
      kept++;
      if (k === log.categoryOf(+other)) same++;
    }
  }
  const n = documents.length;
  let chance = 0;
  for (const s of sizes.values()) chance += s * (s - 1) / (n * (n - 1));
  return { kept, same, chance };
}
