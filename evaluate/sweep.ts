/**
 * The tuning sweep of `deno task eval --sweep`: a grid over the LLR
 * threshold, indicators per item, indicator weighting, history items per
 * type and the weight of the secondary fields, scored by nDCG@10 on a validation split carved out
 * of the training data (the test split is never looked at).
 *
 * @module
 */

import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { evaluate, histories, type Split } from "./evaluate.ts";
import { buildIndicators } from "../indicators/build.ts";
import { MAX_HISTORY } from "../serving/request.ts";
import { reweightModel, WEIGHTINGS } from "../indicators/weights.ts";
import type { Weighting } from "../model/manifest.ts";

/** One point of the grid. */
export interface Setting {
  /** Threshold on signed root LLR. */
  minRootLlr: number;
  /** Indicators kept per item. */
  maxIndicatorsPerItem: number;
  /** Indicator strength. */
  weights: Weighting;
  /** History items used per event type. */
  maxQueryEvents: number;
  /** Boost of every secondary field. */
  secondaryBoost: number;
}

/** A setting with its validation score. */
export interface Scored extends Setting {
  /** nDCG@10 on the validation split. */
  ndcg: number;
  /** Recall@10 on the validation split. */
  recall: number;
}

/**
 * The request that makes a backend with a large `maxQueryEvents` answer as
 * one with `maxQueryEvents: cap` answers `{ history }`: the newest `cap`
 * items per type query, and the rest of the primary history is still
 * excluded as seen. Lets one index serve every history cap of the grid.
 *
 * @param history History by event type, newest first.
 * @param primary The primary event type.
 * @param cap History items used per type.
 * @returns The request's history and exclusions.
 */
export function cappedRequest(
  history: Readonly<Record<string, readonly string[]>>,
  primary: string,
  cap: number,
): { history: Record<string, string[]>; exclude: string[] } {
  return {
    history: Object.fromEntries(
      Object.entries(history).map(([type, items]) => [
        type,
        items.slice(0, cap),
      ]),
    ),
    exclude: (history[primary] ?? []).slice(cap),
  };
}

/**
 * Every distinct item of each user's history, whatever the event type:
 * what the stratified protocol (SAR's) excludes from the lists, since
 * held-out items are never training items.
 *
 * @param history Histories by user (from `histories`).
 * @returns The items per user.
 */
export function trainedItems(
  history: ReadonlyMap<string, Readonly<Record<string, readonly string[]>>>,
): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const [user, h] of history) {
    out.set(user, [...new Set(Object.values(h).flat())]);
  }
  return out;
}

/** The default grid. */
export const GRID = {
  minRootLlr: [0, 2, 3, 5, 8],
  maxIndicatorsPerItem: [50, 100, 200, 500],
  weights: WEIGHTINGS,
  maxQueryEvents: [20, 100, 1024],
  secondaryBoost: [0.5, 1, 2],
};

/**
 * Scores every setting of the grid on `validation`, best first.
 *
 * @param validation A split of the training events.
 * @param primary The primary event type.
 * @param onProgress Called after each setting.
 * @param excludeTrained Exclude every training item of the user, whatever
 * the event (the stratified protocol), not just the primary history.
 * @returns The scored settings, best nDCG@10 first.
 */
export async function sweep(
  validation: Split,
  primary: string,
  onProgress: (done: number, total: number) => void = () => {},
  excludeTrained = false,
): Promise<Scored[]> {
  const history = histories(validation.train, MAX_HISTORY);
  const trained = excludeTrained ? trainedItems(history) : undefined;
  const exclude = (user: string) =>
    trained ? { exclude: trained.get(user) ?? [] } : undefined;
  const capped = (h: Record<string, string[]>, cap: number) =>
    cappedRequest(h, primary, cap);
  // secondary boosts are tried only when there are secondary fields
  let total = GRID.minRootLlr.length * GRID.maxIndicatorsPerItem.length *
    GRID.weights.length * GRID.maxQueryEvents.length;
  const out: Scored[] = [];
  for (const minRootLlr of GRID.minRootLlr) {
    for (const maxIndicatorsPerItem of GRID.maxIndicatorsPerItem) {
      const built = await buildIndicators(validation.train, {
        primaryEvent: primary,
        minRootLlr,
        maxIndicatorsPerItem,
        weights: "none",
      });
      const secondaryFields = built.fields.filter((f) =>
        f.startsWith("indicators_")
      );
      // the weightings share one build: weights derive from the scores
      for (const weights of GRID.weights) {
        const { manifest, documents } = reweightModel(built, weights);
        // one index per weighting; the history cap is applied per request
        // below, exactly as maxQueryEvents would apply it
        const recommender = new EmbeddedRecommender({ manifest, documents }, {
          maxQueryEvents: MAX_HISTORY,
        });
        for (const maxQueryEvents of GRID.maxQueryEvents) {
          // without secondary fields the boost changes nothing: score once
          const boosts = secondaryFields.length ? GRID.secondaryBoost : [1];
          if (out.length === 0) total *= boosts.length;
          for (const secondaryBoost of boosts) {
            const fieldBoosts = Object.fromEntries(
              secondaryFields.map((f) => [f, secondaryBoost]),
            );
            const result = await evaluate(
              recommender,
              validation,
              (u) => ({
                ...capped(history.get(u) ?? {}, maxQueryEvents),
                fieldBoosts,
                ...exclude(u),
              }),
              { catalogue: documents.length, ks: [10] },
            );
            out.push({
              minRootLlr,
              maxIndicatorsPerItem,
              weights,
              maxQueryEvents,
              secondaryBoost,
              ndcg: result.atK[10].mean.ndcg,
              recall: result.atK[10].mean.recall,
            });
            onProgress(out.length, total);
          }
        }
      }
    }
  }
  return out.sort((a, b) => b.ndcg - a.ndcg || b.recall - a.recall);
}
