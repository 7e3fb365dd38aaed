/**
 * Learned indicator weights: item-to-item weights fitted by regression
 * rather than counted, restricted to the LLR candidate graph so the model
 * stays sparse and is served by the same search query.
 *
 * For each item `d` (a document), its indicators in every history field
 * (`indicators`, `indicators_<S>`) are the candidate features. Over the
 * users of the training log, the weights `b` solve the ridge regression of
 * "the user has `d`'s primary event" on "the user has this candidate's
 * event" (a column of EASE or SLIM, restricted to the candidates):
 *
 *     (G + λI) b = r
 *
 * with `G` the candidates' co-occurrence counts (users having both, each
 * with its field's event type) and `r` their co-occurrence counts with `d`.
 * An item's score for a history is then the sum of the learned weights of
 * the history items it lists, as before. Fitting the candidates jointly
 * discounts redundant ones (several sequels of one film) that summed root
 * LLRs count many times. Weights must be positive in an Elasticsearch
 * `sparse_vector` field, so candidates with a weight of zero or less are
 * dropped from the field.
 *
 * Cost per item: Σ over candidates of their users, plus Σ over those users
 * of (candidates they have)², plus a Cholesky solve of the candidates'
 * count (k³/3); memory O(users + k²), never items × items.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnWeights } from "./learned.ts";
 * import { buildIndicators } from "./build.ts";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const events = [];
 * for (let u = 0; u < 20; u++) {
 *   const items = u < 10 ? ["a", "b", "c"] : u < 15 ? ["a", "d"] : ["e"];
 *   for (const item of items) {
 *     events.push({ user: `u${u}`, item, event: "buy", timestamp: u });
 *   }
 * }
 * const model = await buildIndicators(events, { primaryEvent: "buy", minRootLlr: 0, weights: "llr" });
 * const interactions = (await new InteractionsBuilder().addAll(events)).build();
 * const learned = learnWeights(model, interactions, { ridge: 1 });
 * const a = learned.documents.find((d) => d.id === "a")!;
 * assert.deepEqual(a.indicators, ["b", "c", "d"]);
 * // b and c always come together: the fit shares their weight
 * assert.equal(a.weights!.indicators[0].toFixed(6), a.weights!.indicators[1].toFixed(6));
 * assert.equal(learned.manifest.fields[0].weights, "learned");
 * ```
 *
 * @module
 */

import type { IndicatorDocument } from "../model/document.ts";
import type { FieldManifest, Model } from "../model/manifest.ts";
import type { Interactions } from "./interactions.ts";
import type { SparseBinaryMatrix } from "./sparse.ts";
import { ConfigError } from "../errors/mod.ts";

/**
 * Default ridge penalty λ, in users: chosen on validation splits of
 * MovieLens-100k, the generated RetailRocket-shaped log and Taobao (see
 * the README's evaluation).
 */
export const DEFAULT_RIDGE = 200;

/** Weights at or below this are dropped (a weight must be positive). */
export const MIN_LEARNED_WEIGHT = 1e-9;

/** Options of {@linkcode learnWeights}. */
export interface LearnOptions {
  /** Ridge penalty λ (default {@linkcode DEFAULT_RIDGE}), > 0. */
  ridge?: number;
}

/**
 * Checks a ridge penalty.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkRidge } from "./learned.ts";
 *
 * checkRidge(100);
 * assert.throws(() => checkRidge(0), /ridge must be a positive number, got 0/);
 * ```
 *
 * @param ridge The penalty.
 * @throws {ConfigError} Unless it is a positive finite number.
 */
export function checkRidge(ridge: number): void {
  if (typeof ridge !== "number" || !(ridge > 0) || !Number.isFinite(ridge)) {
    throw new ConfigError("ridge", `must be a positive number, got ${ridge}`);
  }
}

/**
 * The same model with learned weights on every history field (the fields
 * whose rows are the primary event): each document's indicators in those
 * fields are refitted jointly (see the module doc); indicators whose fitted
 * weight is not positive are dropped. Other fields (`similar_<S>`) keep
 * their weights. The manifest's history fields say `weights: "learned"`
 * and the `ridge` used. The input is not modified.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnWeights } from "./learned.ts";
 * import { InteractionsBuilder } from "./interactions.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const b = new InteractionsBuilder();
 * for (const [user, item] of [["u", "a"], ["u", "b"], ["v", "a"], ["v", "b"]]) {
 *   b.add({ user, item, event: "buy", timestamp: 0 });
 * }
 * const documents = [
 *   { id: "a", indicators: ["b"], scores: { indicators: [1.2] } },
 *   { id: "b", indicators: ["a"], scores: { indicators: [1.2] } },
 * ];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * const learned = learnWeights(model, b.build(), { ridge: 2 });
 * // 2 users have both: (2 + 2) w = 2
 * assert.deepEqual(learned.documents[0].weights, { indicators: [0.5] });
 * assert.equal(learned.manifest.fields[0].ridge, 2);
 * ```
 *
 * @param model A model built from these interactions (same history cap).
 * @param interactions The interactions the model was built from.
 * @param options The ridge penalty.
 * @returns A new model.
 * @throws {ConfigError} For an invalid ridge penalty.
 */
export function learnWeights(
  model: Model<IndicatorDocument>,
  interactions: Interactions,
  options: LearnOptions = {},
): Model<IndicatorDocument> {
  const ridge = options.ridge ?? DEFAULT_RIDGE;
  checkRidge(ridge);
  const primary = model.manifest.primaryEvent;
  const items = interactions.items;
  const fields = model.manifest.fields.filter((f) => f.rows === primary);
  const target = interactions.matrix(primary);
  // each field's column event type, as items × users
  const byUser = new Map<string, SparseBinaryMatrix>();
  const transposes = fields.map((f) => {
    let t = byUser.get(f.columns);
    if (!t) {
      const m = interactions.matrix(f.columns);
      t = m?.transpose();
      if (t) byUser.set(f.columns, t);
    }
    return t;
  });
  const targetUsers = target
    ? byUser.get(primary) ?? target.transpose()
    : undefined;
  const fit = new RidgeFit(interactions.users.size);
  const kept = new Map<string, number>(fields.map((f) => [f.name, 0]));
  const documents = model.documents.map((doc) => {
    const record = doc as unknown as Record<string, string[]>;
    const d = items.indexOf(doc.id);
    // the candidates: (field, item index) for every history field
    const candidates: { field: number; at: number; item: number }[] = [];
    fields.forEach((f, field) => {
      const ids = record[f.name] ?? [];
      ids.forEach((id, at) => {
        const item = items.indexOf(id);
        if (item !== undefined && transposes[field]) {
          candidates.push({ field, at, item });
        }
      });
    });
    const out = { ...doc } as IndicatorDocument;
    const weights: Record<string, number[]> = { ...doc.weights };
    const scores: Record<string, number[]> = { ...doc.scores };
    const outRecord = out as unknown as Record<string, string[]>;
    const b = d === undefined || !targetUsers || candidates.length === 0
      ? new Float64Array(0)
      : fit.solve(
        candidates.map((c) => transposes[c.field]!.row(c.item)),
        targetUsers.row(d),
        ridge,
      );
    fields.forEach((f, field) => {
      const ids: string[] = [];
      const w: number[] = [];
      const s: number[] = [];
      const own = doc.scores?.[f.name];
      candidates.forEach((c, j) => {
        if (c.field !== field || !(b[j] > MIN_LEARNED_WEIGHT)) return;
        ids.push(record[f.name][c.at]);
        w.push(b[j]);
        if (own) s.push(own[c.at]);
      });
      if (record[f.name] === undefined) return;
      outRecord[f.name] = ids;
      weights[f.name] = w;
      if (own) scores[f.name] = s;
      kept.set(f.name, kept.get(f.name)! + ids.length);
    });
    out.weights = weights;
    out.scores = scores;
    return out;
  });
  return {
    manifest: {
      ...model.manifest,
      fields: model.manifest.fields.map((f): FieldManifest =>
        f.rows === primary
          ? { ...f, weights: "learned", ridge, indicators: kept.get(f.name)! }
          : f
      ),
    },
    documents,
  };
}

/**
 * One item's ridge regression over its candidates: the candidates' count
 * matrix by walking their users (each user's candidates gathered into one
 * contiguous run by a counting sort), then a Cholesky solve. Scratch arrays
 * are reused across items.
 */
class RidgeFit {
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
    for (let i = 0; i < m; i++) g[i * m + i] += ridge;
    return choleskySolve(g, r, m);
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
