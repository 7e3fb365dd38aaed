/**
 * The shape of a generated log, counted as its rows pass: events per type,
 * distinct visitors and items, and how heavy their tails are. Counts live
 * in typed arrays indexed by id, so a log of any scale fits (a `Map` stops
 * at 2^24 keys: ×12 RetailRocket's visitors).
 *
 * @module
 */

import type { SynthLog, SynthRow } from "./retailrocket.ts";

/** What {@linkcode SynthStats.summary} reports. */
export interface SynthSummary {
  /** Rows counted. */
  events: number;
  /** Rows per event type. */
  types: Record<SynthRow["event"], number>;
  /** Distinct visitors. */
  visitors: number;
  /** Visitors with exactly one event. */
  visitorsWith1: number;
  /** Visitors with one or two events. */
  visitorsWith1Or2: number;
  /** The most events of one visitor. */
  maxPerVisitor: number;
  /** Distinct items. */
  items: number;
  /** Items with exactly one event. */
  itemsWith1: number;
  /** The most events of one item. */
  maxPerItem: number;
}

/**
 * Counts a generated log's rows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SynthLog, SynthStats } from "./mod.ts";
 *
 * const log = new SynthLog({ scale: 0.001, seed: 1 });
 * const stats = new SynthStats(log);
 * for (const row of log.rows()) stats.add(row);
 * const s = stats.summary();
 * assert.equal(s.events, log.counts.events);
 * assert.equal(s.visitors, log.counts.visitors);
 * assert.equal(s.items, log.counts.items);
 * ```
 */
export class SynthStats {
  readonly #perVisitor: Int32Array;
  readonly #perItem: Int32Array;
  readonly #types: Record<SynthRow["event"], number> = {
    view: 0,
    addtocart: 0,
    transaction: 0,
  };
  #events = 0;

  /**
   * Sizes the counters for a log's ids.
   *
   * @param log The log whose rows will be added.
   */
  constructor(log: Pick<SynthLog, "itemIdBound" | "visitorIdBound">) {
    this.#perVisitor = new Int32Array(log.visitorIdBound);
    this.#perItem = new Int32Array(log.itemIdBound);
  }

  /** Rows counted so far. */
  get events(): number {
    return this.#events;
  }

  /**
   * Counts one row.
   *
   * @param row A row of the log.
   */
  add(row: Pick<SynthRow, "visitor" | "item" | "event">): void {
    this.#events++;
    this.#types[row.event]++;
    this.#perVisitor[row.visitor]++;
    this.#perItem[row.item]++;
  }

  /**
   * The counts so far.
   *
   * @returns Events, types, visitors and items and their tails.
   */
  summary(): SynthSummary {
    const v = tails(this.#perVisitor);
    const i = tails(this.#perItem);
    return {
      events: this.#events,
      types: { ...this.#types },
      visitors: v.distinct,
      visitorsWith1: v.ones,
      visitorsWith1Or2: v.ones + v.twos,
      maxPerVisitor: v.max,
      items: i.distinct,
      itemsWith1: i.ones,
      maxPerItem: i.max,
    };
  }
}

function tails(counts: Int32Array) {
  let distinct = 0, ones = 0, twos = 0, max = 0;
  for (let k = 0; k < counts.length; k++) {
    const n = counts[k];
    if (n === 0) continue;
    distinct++;
    if (n === 1) ones++;
    else if (n === 2) twos++;
    if (n > max) max = n;
  }
  return { distinct, ones, twos, max };
}
