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
import { RidgeFit } from "./_ridge.ts";

export { choleskySolve } from "./_ridge.ts";

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
  return learnWeightsEach(model, interactions, [
    options.ridge ?? DEFAULT_RIDGE,
  ])[0];
}

/**
 * {@linkcode learnWeights} for each of several ridge penalties, each
 * item's co-occurrence counts made once for all of them (what a search
 * over the penalty shares). Model `i` is what `learnWeights` gives with
 * `ridges[i]`, to the bit.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { learnWeights, learnWeightsEach } from "./learned.ts";
 * import { InteractionsBuilder } from "./interactions.ts";
 * import { manifestFor } from "../model/manifest.ts";
 *
 * const b = new InteractionsBuilder();
 * for (const [user, item] of [["u", "a"], ["u", "b"], ["v", "a"], ["v", "b"]]) {
 *   b.add({ user, item, event: "buy", timestamp: 0 });
 * }
 * const interactions = b.build();
 * const documents = [
 *   { id: "a", indicators: ["b"], scores: { indicators: [1.2] } },
 *   { id: "b", indicators: ["a"], scores: { indicators: [1.2] } },
 * ];
 * const model = { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents };
 * const [two, fourteen] = learnWeightsEach(model, interactions, [2, 14]);
 * // (2 + λ) w = 2
 * assert.deepEqual(two.documents[0].weights, { indicators: [0.5] });
 * assert.deepEqual(fourteen.documents[0].weights, { indicators: [0.125] });
 * assert.deepEqual(fourteen, learnWeights(model, interactions, { ridge: 14 }));
 * ```
 *
 * @param model A model built from these interactions (same history cap).
 * @param interactions The interactions the model was built from.
 * @param ridges The penalties.
 * @returns One new model per penalty, in order.
 * @throws {ConfigError} For an invalid ridge penalty.
 */
export function learnWeightsEach(
  model: Model<IndicatorDocument>,
  interactions: Interactions,
  ridges: readonly number[],
): Model<IndicatorDocument>[] {
  for (const ridge of ridges) checkRidge(ridge);
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
  const kept = ridges.map(() =>
    new Map<string, number>(fields.map((f) => [f.name, 0]))
  );
  const documents = ridges.map((): IndicatorDocument[] => []);
  for (const doc of model.documents) {
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
    const solved = d === undefined || !targetUsers || candidates.length === 0
      ? ridges.map(() => new Float64Array(0))
      : fit.solveEach(
        candidates.map((c) => transposes[c.field]!.row(c.item)),
        targetUsers.row(d),
        ridges,
      );
    solved.forEach((b, r) => {
      const out = { ...doc } as IndicatorDocument;
      const weights: Record<string, number[]> = { ...doc.weights };
      const scores: Record<string, number[]> = { ...doc.scores };
      const outRecord = out as unknown as Record<string, string[]>;
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
        kept[r].set(f.name, kept[r].get(f.name)! + ids.length);
      });
      out.weights = weights;
      out.scores = scores;
      documents[r].push(out);
    });
  }
  return ridges.map((ridge, r) => ({
    manifest: {
      ...model.manifest,
      fields: model.manifest.fields.map((f): FieldManifest =>
        f.rows === primary
          ? {
            ...f,
            weights: "learned",
            ridge,
            indicators: kept[r].get(f.name)!,
          }
          : f
      ),
    },
    documents: documents[r],
  }));
}
