/**
 * Internal: the ridge regression of one item over its candidates (see
 * `learned.ts`), shared by `learnWeights` on documents and the
 * build's typed rows, so both give the same weights to the bit.
 *
 * @module
 */

/**
 * One item's ridge regression over its candidates: the candidates' count
 * matrix by walking their users (each user's candidates gathered into one
 * contiguous run by a counting sort), then a Cholesky solve. Scratch arrays
 * are reused across items.
 */
export class RidgeFit {
  // per user: candidates counted, then the end of its run in #runs; and
  // the run's start (untouched users: 0 and 0, an empty run)
  #count: Int32Array;
  #start: Int32Array;
  #touched: Int32Array;
  #runs = new Int32Array(1024);

  constructor(users: number) {
    this.#count = new Int32Array(users);
    this.#start = new Int32Array(users);
    this.#touched = new Int32Array(users);
  }

  /**
   * Solves (G + λI) b = r, G[i][j] = |users(i) ∩ users(j)|, r[i] =
   * |users(i) ∩ target|.
   */
  solve(
    users: readonly Int32Array[],
    target: Int32Array,
    ridge: number,
  ): Float64Array {
    return this.solveEach(users, target, [ridge])[0];
  }

  /**
   * {@linkcode RidgeFit.solve} for each penalty, G and r counted once.
   */
  solveEach(
    users: readonly Int32Array[],
    target: Int32Array,
    ridges: readonly number[],
  ): Float64Array[] {
    const m = users.length;
    const count = this.#count, start = this.#start, touched = this.#touched;
    let nTouched = 0, entries = 0;
    for (let j = 0; j < m; j++) {
      const list = users[j];
      for (let p = 0; p < list.length; p++) {
        if (count[list[p]]++ === 0) touched[nTouched++] = list[p];
      }
      entries += list.length;
    }
    if (entries > this.#runs.length) {
      this.#runs = new Int32Array(Math.max(entries, this.#runs.length * 2));
    }
    const runs = this.#runs;
    // count → start of each user's run; filled in candidate order, so
    // each run is ascending and count ends at the run's end
    let at = 0;
    for (let t = 0; t < nTouched; t++) {
      const u = touched[t];
      const c = count[u];
      start[u] = count[u] = at;
      at += c;
    }
    for (let j = 0; j < m; j++) {
      const list = users[j];
      for (let p = 0; p < list.length; p++) runs[count[list[p]]++] = j;
    }
    // lower triangle of G (row-major m × m)
    const g = new Float64Array(m * m);
    for (let t = 0; t < nTouched; t++) {
      const u = touched[t];
      const first = start[u], end = count[u];
      for (let e = first; e < end; e++) {
        const row = runs[e] * m;
        for (let f = first; f <= e; f++) g[row + runs[f]]++;
      }
    }
    const r = new Float64Array(m);
    for (let p = 0; p < target.length; p++) {
      const u = target[p];
      for (let e = start[u], end = count[u]; e < end; e++) r[runs[e]]++;
    }
    for (let t = 0; t < nTouched; t++) {
      start[touched[t]] = count[touched[t]] = 0;
    }
    // the last penalty solves in place
    return ridges.map((ridge, at) => {
      const last = at === ridges.length - 1;
      const a = last ? g : g.slice(), b = last ? r : r.slice();
      for (let i = 0; i < m; i++) a[i * m + i] += ridge;
      return choleskySolve(a, b, m);
    });
  }
}

/**
 * Solves A x = b for a symmetric positive definite A given by its lower
 * triangle (row-major n × n, overwritten by its Cholesky factor).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { choleskySolve } from "./learned.ts";
 *
 * // [[4, 2], [2, 3]] x = [2, 1]
 * const x = choleskySolve(Float64Array.from([4, 0, 2, 3]), Float64Array.from([2, 1]), 2);
 * assert.deepEqual(Array.from(x, (v) => +v.toFixed(12)), [0.5, 0]);
 * ```
 *
 * @param a The matrix's lower triangle (the upper part is ignored).
 * @param b The right-hand side (overwritten by the solution).
 * @param n The size.
 * @returns The solution (`b`).
 * @throws {RangeError} When A is not positive definite.
 */
export function choleskySolve(
  a: Float64Array,
  b: Float64Array,
  n: number,
): Float64Array {
  for (let j = 0; j < n; j++) {
    const rj = j * n;
    let d = a[rj + j];
    for (let k = 0; k < j; k++) d -= a[rj + k] * a[rj + k];
    if (!(d > 0)) throw new RangeError("matrix is not positive definite");
    const l = Math.sqrt(d);
    a[rj + j] = l;
    for (let i = j + 1; i < n; i++) {
      const ri = i * n;
      let s = a[ri + j];
      for (let k = 0; k < j; k++) s -= a[ri + k] * a[rj + k];
      a[ri + j] = s / l;
    }
  }
  // L y = b, then L' x = y
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    let s = b[i];
    for (let k = 0; k < i; k++) s -= a[ri + k] * b[k];
    b[i] = s / a[ri + i];
  }
  for (let i = n - 1; i >= 0; i--) {
    let s = b[i];
    for (let k = i + 1; k < n; k++) s -= a[k * n + i] * b[k];
    b[i] = s / a[i * n + i];
  }
  return b;
}
