/**
 * A bounded min-heap that keeps the `k` best `(score, key)` pairs seen, in
 * O(log k) per offer and O(k) memory: the top-k selection of indicators per
 * item without sorting whole rows.
 *
 * Order: higher score is better; on equal scores the smaller `tie` rank is
 * better (callers pass an id's sort rank so ties resolve by id).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TopK } from "./_top_k.ts";
 *
 * const top = new TopK(2);
 * top.offer(1.5, 10, 10);
 * top.offer(9.0, 11, 11);
 * top.offer(3.0, 12, 12);
 * assert.deepEqual(top.drain(), {
 *   keys: Int32Array.from([11, 12]),
 *   scores: Float64Array.from([9, 3]),
 * });
 * ```
 *
 * @module
 */

/**
 * Keeps the `k` best entries offered to it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TopK } from "./_top_k.ts";
 *
 * const top = new TopK(1);
 * top.offer(2, 7, 0);
 * top.offer(2, 8, 1); // same score, worse tie rank: rejected
 * assert.deepEqual(top.drain().keys, Int32Array.from([7]));
 * ```
 */
export class TopK {
  /** Capacity. */
  readonly k: number;
  #scores: Float64Array;
  #keys: Int32Array;
  #ties: Int32Array;
  #size = 0;

  /**
   * Creates an empty heap.
   *
   * @param k Capacity (`>= 0`).
   */
  constructor(k: number) {
    if (!Number.isInteger(k) || k < 0) {
      throw new RangeError(`k must be a non-negative integer, got ${k}`);
    }
    this.k = k;
    this.#scores = new Float64Array(k);
    this.#keys = new Int32Array(k);
    this.#ties = new Int32Array(k);
  }

  /** Number of entries held. */
  get size(): number {
    return this.#size;
  }

  // true when entry i is worse than (score, tie)
  #worse(i: number, score: number, tie: number): boolean {
    const s = this.#scores[i];
    return s < score || (s === score && this.#ties[i] > tie);
  }

  #swap(i: number, j: number) {
    const s = this.#scores[i], k = this.#keys[i], t = this.#ties[i];
    this.#scores[i] = this.#scores[j];
    this.#keys[i] = this.#keys[j];
    this.#ties[i] = this.#ties[j];
    this.#scores[j] = s;
    this.#keys[j] = k;
    this.#ties[j] = t;
  }

  #isWorse(i: number, j: number): boolean {
    return this.#worse(i, this.#scores[j], this.#ties[j]);
  }

  /**
   * Offers an entry; kept when the heap is not full or it beats the worst.
   *
   * @param score Score (higher is better).
   * @param key Payload, e.g. an item index.
   * @param tie Tie-break rank (lower is better on equal scores).
   */
  offer(score: number, key: number, tie: number): void {
    if (this.k === 0) return;
    if (this.#size < this.k) {
      let i = this.#size++;
      this.#scores[i] = score;
      this.#keys[i] = key;
      this.#ties[i] = tie;
      while (i > 0) {
        const parent = (i - 1) >> 1;
        if (!this.#isWorse(i, parent)) break;
        this.#swap(i, parent);
        i = parent;
      }
      return;
    }
    if (!this.#worse(0, score, tie)) return;
    this.#scores[0] = score;
    this.#keys[0] = key;
    this.#ties[0] = tie;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1, r = l + 1;
      let m = i;
      if (l < this.#size && this.#isWorse(l, m)) m = l;
      if (r < this.#size && this.#isWorse(r, m)) m = r;
      if (m === i) break;
      this.#swap(i, m);
      i = m;
    }
  }

  /**
   * Empties the heap, returning its entries best first.
   *
   * @returns Keys and scores, best first.
   */
  drain(): { keys: Int32Array; scores: Float64Array } {
    const keys = new Int32Array(this.#size);
    const scores = new Float64Array(this.#size);
    this.drainInto(keys, scores, 0);
    return { keys, scores };
  }

  /**
   * Empties the heap into `keys` and `scores` from index `at`, best first
   * (no allocation: a kernel draining a heap per row writes its output
   * rows in place).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { TopK } from "./_top_k.ts";
   *
   * const top = new TopK(2);
   * top.offer(1, 10, 0);
   * top.offer(3, 11, 0);
   * const keys = new Int32Array(3), scores = new Float64Array(3);
   * assert.equal(top.drainInto(keys, scores, 1), 2);
   * assert.deepEqual(Array.from(keys), [0, 11, 10]);
   * assert.deepEqual(Array.from(scores), [0, 3, 1]);
   * ```
   *
   * @param keys Receives the keys (room for {@linkcode TopK.size} from `at`).
   * @param scores Receives the scores, likewise.
   * @param at Where the best entry goes.
   * @returns How many entries were written.
   */
  drainInto(keys: Int32Array, scores: Float64Array, at: number): number {
    const n = this.#size;
    // pop the worst (the root) n times, filling from the back
    for (let out = n - 1; out >= 0; out--) {
      keys[at + out] = this.#keys[0];
      scores[at + out] = this.#scores[0];
      const last = --this.#size;
      if (last === 0) break;
      this.#scores[0] = this.#scores[last];
      this.#keys[0] = this.#keys[last];
      this.#ties[0] = this.#ties[last];
      let i = 0;
      for (;;) {
        const l = 2 * i + 1, r = l + 1;
        let m = i;
        if (l < last && this.#isWorse(l, m)) m = l;
        if (r < last && this.#isWorse(r, m)) m = r;
        if (m === i) break;
        this.#swap(i, m);
        i = m;
      }
    }
    this.#size = 0;
    return n;
  }
}
