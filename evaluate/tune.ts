/**
 * Tuning on a validation split carved out of the training log (never the
 * test split): a coordinate search over the history length, the weight of
 * the secondary fields, the indicator weighting, the ridge penalty of
 * learned weights, indicators per item and the LLR threshold, scored by
 * nDCG@10, under a time budget. Used by `deno task eval --tune` (the
 * `(tuned)` model) and `deno task build-index --tune` (which records the
 * result in the model's manifest and builds with it).
 *
 * The search starts from the build's own settings, then tries each axis in
 * turn, cheapest first (history length and field boosts need no rebuild,
 * weightings only a reweighting or a refit, indicators per item and the
 * threshold a new build), keeping the best value of each axis before the
 * next; it stops starting new work when the budget is spent and keeps the
 * best setting found.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { carveValidation, tune } from "./tune.ts";
 *
 * const events: { user: string; item: string; event: string; timestamp: number }[] = [];
 * for (let u = 0; u < 40; u++) {
 *   const items = u % 2 ? ["a", "b", "c", "d"] : ["e", "f", "g", "h"];
 *   items.forEach((item, t) => events.push({ user: `u${u}`, item, event: "buy", timestamp: t }));
 * }
 * const validation = carveValidation(events, { protocol: "last-k", primaryEvent: "buy" });
 * const result = await tune(validation, {
 *   build: { primaryEvent: "buy" },
 *   grid: { maxQueryEvents: [1], secondaryBoost: [], weights: [], ridge: [], maxIndicatorsPerItem: [], minRootLlr: [] },
 * });
 * assert.equal(result.tried.length, 2);
 * assert.ok(result.best.ndcg >= result.start.ndcg);
 * ```
 *
 * @module
 */

import { EmbeddedRecommender } from "../embedded/recommender.ts";
import {
  evaluate,
  histories,
  lastKSplit,
  type Split,
  stratifiedSplit,
  timeSplit,
} from "./evaluate.ts";
import { cappedRequest, trainedItems } from "./sweep.ts";
import type { Event } from "../events/format.ts";
import {
  buildIndicators,
  type BuildOptions,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  type IndicatorModel,
  resolveThreshold,
} from "../indicators/build.ts";
import {
  type EventStream,
  type Interactions,
  InteractionsBuilder,
} from "../indicators/interactions.ts";
import { DEFAULT_RIDGE, learnWeights } from "../indicators/learned.ts";
import { DEFAULT_WEIGHTING, reweightModel } from "../indicators/weights.ts";
import type { Model, Weighting } from "../model/manifest.ts";
import type { IndicatorDocument } from "../model/document.ts";
import {
  DEFAULT_MAX_QUERY_EVENTS,
  MAX_HISTORY,
  type RecommendRequest,
} from "../serving/request.ts";
import { ConfigError } from "../errors/mod.ts";
import { mulberry32 } from "../random/mod.ts";

/** One point of the search. */
export interface TuneSetting {
  /** Threshold on signed root LLR. */
  minRootLlr: number;
  /** Indicators kept per item. */
  maxIndicatorsPerItem: number;
  /** Indicator strength. */
  weights: Weighting;
  /** Ridge penalty (learned weights only). */
  ridge: number;
  /** History items used per event type. */
  maxQueryEvents: number;
  /** Boost of every secondary (`indicators_<S>`) field. */
  secondaryBoost: number;
}

/** A setting with its validation figures. */
export interface TuneScore extends TuneSetting {
  /** nDCG@10 on the validation split. */
  ndcg: number;
  /** Recall@10 on the validation split. */
  recall: number;
}

/** The values tried on each axis. */
export interface TuneGrid {
  /** History items per event type. */
  maxQueryEvents: number[];
  /** Secondary field boosts (tried only when there are secondary fields). */
  secondaryBoost: number[];
  /** Weightings. */
  weights: Weighting[];
  /** Ridge penalties (with learned weights). */
  ridge: number[];
  /** Indicators per item. */
  maxIndicatorsPerItem: number[];
  /** Root-LLR thresholds. */
  minRootLlr: number[];
}

/** The default grid, axis by axis in search order. */
export const TUNE_GRID: TuneGrid = {
  maxQueryEvents: [20, 100, MAX_HISTORY],
  secondaryBoost: [0.5, 1, 2],
  weights: ["learned", "llr-idf", "llr"],
  ridge: [50, 100, 200, 400, 800],
  maxIndicatorsPerItem: [50, 100, 200, 500],
  minRootLlr: [0, 1.96, 2.58, 3.29, 5],
};

/** Default budget: this many times the first (plain) build. */
export const DEFAULT_TUNE_BUDGET = 4;

/** Default cap on validation users (a seeded sample beyond it). */
export const DEFAULT_TUNE_USERS = 5000;

/** Options of {@linkcode tune}. */
export interface TuneOptions {
  /**
   * The build being tuned (primary event, secondary types, history cap,
   * per-field options...): its threshold, top-k and weighting are the
   * starting point, and everything else is kept.
   */
  build: BuildOptions;
  /** Where to start on the serving axes (default: the serving defaults). */
  start?: Partial<Pick<TuneSetting, "maxQueryEvents" | "secondaryBoost">>;
  /** Values to try, per axis (default {@linkcode TUNE_GRID}). */
  grid?: Partial<TuneGrid>;
  /**
   * Time budget, as a multiple of the first build (default
   * {@linkcode DEFAULT_TUNE_BUDGET}); `budgetMs` wins when set.
   */
  budget?: number;
  /** Time budget in milliseconds. */
  budgetMs?: number;
  /**
   * Exclude every training item of a user from their list, whatever the
   * event (the stratified protocol), not just the primary history.
   */
  excludeTrained?: boolean;
  /** At most this many validation users, a seeded sample (default 5000). */
  maxUsers?: number;
  /** Called after each setting is scored. */
  onProgress?: (score: TuneScore, done: number) => void;
}

/** What {@linkcode tune} found. */
export interface TuneResult {
  /** The best setting, with its validation figures. */
  best: TuneScore;
  /** The starting setting (the build's own), with its figures. */
  start: TuneScore;
  /** Every setting scored, best first. */
  tried: TuneScore[];
  /** Validation users scored. */
  users: number;
  /** Milliseconds of the first build (the budget's unit). */
  buildMs: number;
  /** The budget, in milliseconds. */
  budgetMs: number;
  /** Milliseconds spent. */
  millis: number;
  /** False when the budget ran out before every axis was searched. */
  complete: boolean;
}

/** A validation protocol: how to carve a split out of training events. */
export interface ValidationOptions {
  /** `stratified`, `last-k` (default) or `time`. */
  protocol?: "stratified" | "last-k" | "time";
  /** The primary event type. */
  primaryEvent: string;
  /** last-k: items held out per user (default 1). */
  k?: number;
  /** stratified: training share (default 0.75). */
  ratio?: number;
  /** stratified: seed (default 43, one past the test split's default). */
  seed?: number;
  /** time: training share of the time range (default 0.9). */
  fraction?: number;
}

/**
 * Carves a validation split out of training events, with the same
 * protocol as the test split (never touching it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { carveValidation } from "./tune.ts";
 *
 * const e = (item: string, t: number) => ({ user: "u", item, event: "buy", timestamp: t });
 * const v = carveValidation([e("a", 1), e("b", 2)], { primaryEvent: "buy" });
 * assert.deepEqual(v.test.get("u"), new Set(["b"]));
 * ```
 *
 * @param events Training events.
 * @param options The protocol and its parameters.
 * @returns The validation split.
 * @throws {ConfigError} For an unknown protocol.
 */
export function carveValidation(
  events: readonly Event[],
  options: ValidationOptions,
): Split {
  const protocol = options.protocol ?? "last-k";
  if (protocol === "stratified") {
    return stratifiedSplit(events, {
      ratio: options.ratio,
      seed: options.seed ?? 43,
    });
  }
  if (protocol === "last-k") {
    return lastKSplit(events, {
      k: options.k,
      primaryEvent: options.primaryEvent,
    });
  }
  if (protocol === "time") {
    return timeSplit(events, {
      fraction: options.fraction ?? 0.9,
      primaryEvent: options.primaryEvent,
    });
  }
  throw new ConfigError(
    "tune.protocol",
    `must be stratified, last-k or time, got "${protocol}"`,
  );
}

/**
 * Searches settings on a validation split (see the module doc).
 *
 * @param validation A split of the training events.
 * @param options The build to tune, the grid, the budget.
 * @returns The best setting and every setting tried.
 * @throws {ConfigError} When the split has no test users.
 */
export async function tune(
  validation: Split,
  options: TuneOptions,
): Promise<TuneResult> {
  const t0 = performance.now();
  if (validation.test.size === 0) {
    throw new ConfigError(
      "tune",
      "the validation split has no test users (too few users with enough history)",
    );
  }
  const build = options.build;
  const primary = build.primaryEvent;
  const grid: TuneGrid = { ...TUNE_GRID, ...options.grid };
  const split = sampleUsers(validation, options.maxUsers ?? DEFAULT_TUNE_USERS);
  const history = histories(split.train, MAX_HISTORY);
  const trained = options.excludeTrained ? trainedItems(history) : undefined;
  const interactions: Interactions = (await new InteractionsBuilder(build)
    .addAll(split.train)).build();
  // a threshold given as a significance level becomes its root-LLR value
  const start: TuneSetting = {
    minRootLlr: resolveThreshold(build),
    maxIndicatorsPerItem: build.maxIndicatorsPerItem ??
      DEFAULT_MAX_INDICATORS_PER_ITEM,
    weights: build.weights ?? DEFAULT_WEIGHTING,
    ridge: build.ridge ?? DEFAULT_RIDGE,
    maxQueryEvents: options.start?.maxQueryEvents ?? DEFAULT_MAX_QUERY_EVENTS,
    secondaryBoost: options.start?.secondaryBoost ?? 1,
  };
  // models by (threshold, top-k): the counted base; then by weighting
  const bases = new Map<string, Model<IndicatorDocument>>();
  const models = new Map<string, EmbeddedRecommender>();
  const scores = new Map<string, TuneScore>();
  let secondary: string[] = [];
  const baseOf = async (s: TuneSetting) => {
    const key = `${s.minRootLlr}/${s.maxIndicatorsPerItem}`;
    let base = bases.get(key);
    if (!base) {
      const { significance: _, ...rest } = build;
      const built = await buildIndicators(split.train, {
        ...rest,
        minRootLlr: s.minRootLlr,
        maxIndicatorsPerItem: s.maxIndicatorsPerItem,
        weights: "llr",
      });
      base = { manifest: built.manifest, documents: built.documents };
      secondary = built.fields.filter((f) => f.startsWith("indicators_"));
      bases.set(key, base);
    }
    return base;
  };
  const modelOf = async (s: TuneSetting) => {
    const key = `${s.minRootLlr}/${s.maxIndicatorsPerItem}/${s.weights}/${
      s.weights === "learned" ? s.ridge : ""
    }`;
    let model = models.get(key);
    if (!model) {
      const base = await baseOf(s);
      const weighted = s.weights === "learned"
        ? learnWeights(base, interactions, { ridge: s.ridge })
        : reweightModel(base, s.weights);
      model = new EmbeddedRecommender(weighted, {
        maxQueryEvents: MAX_HISTORY,
      });
      models.set(key, model);
    }
    return model;
  };
  const score = async (s: TuneSetting): Promise<TuneScore> => {
    const key = JSON.stringify(s);
    const known = scores.get(key);
    if (known) return known;
    const recommender = await modelOf(s);
    const fieldBoosts = Object.fromEntries(
      secondary.map((f) => [f, s.secondaryBoost]),
    );
    const result = await evaluate(
      recommender,
      split,
      (u): RecommendRequest => {
        const capped = cappedRequest(
          history.get(u) ?? {},
          primary,
          s.maxQueryEvents,
        );
        const exclude = trained?.get(u);
        return {
          ...capped,
          fieldBoosts,
          ...(exclude ? { exclude: [...capped.exclude, ...exclude] } : {}),
        };
      },
      { catalogue: recommender.size, ks: [10] },
    );
    const scored = {
      ...s,
      ndcg: result.atK[10].mean.ndcg,
      recall: result.atK[10].mean.recall,
    };
    scores.set(key, scored);
    options.onProgress?.(scored, scores.size);
    return scored;
  };
  const tb = performance.now();
  const first = await score(start);
  const buildMs = performance.now() - tb;
  const budgetMs = options.budgetMs ??
    (options.budget ?? DEFAULT_TUNE_BUDGET) * buildMs;
  let best = first;
  let complete = true;
  const better = (a: TuneScore, b: TuneScore) =>
    a.ndcg > b.ndcg || (a.ndcg === b.ndcg && a.recall > b.recall);
  const axes: (keyof TuneGrid)[] = [
    "maxQueryEvents",
    "secondaryBoost",
    "weights",
    "ridge",
    "maxIndicatorsPerItem",
    "minRootLlr",
  ];
  search: for (const axis of axes) {
    if (axis === "secondaryBoost" && secondary.length === 0) continue;
    if (axis === "ridge" && best.weights !== "learned") continue;
    const current = best;
    for (const value of grid[axis]) {
      if (value === current[axis]) continue;
      if (performance.now() - tb >= budgetMs) {
        complete = false;
        break search;
      }
      const s = await score({ ...stripScore(current), [axis]: value });
      if (better(s, best)) best = s;
    }
  }
  const tried = [...scores.values()].sort((a, b) =>
    better(a, b) ? -1 : better(b, a) ? 1 : 0
  );
  return {
    best,
    start: first,
    tried,
    users: split.test.size,
    buildMs,
    budgetMs,
    millis: performance.now() - t0,
    complete,
  };
}

function stripScore(s: TuneScore): TuneSetting {
  const { ndcg: _, recall: __, ...setting } = s;
  return setting;
}

/** At most `max` test users, a seeded sample; the training part unchanged. */
function sampleUsers(split: Split, max: number): Split {
  if (split.test.size <= max) return split;
  const users = [...split.test.keys()];
  const random = mulberry32(7);
  for (let i = users.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [users[i], users[j]] = [users[j], users[i]];
  }
  const keep = users.slice(0, max);
  return {
    ...split,
    test: new Map(keep.map((u) => [u, split.test.get(u)!])),
  };
}

/** Options of {@linkcode buildTuned}. */
export interface TunedBuildOptions
  extends Omit<TuneOptions, "build" | "excludeTrained"> {
  /** How to carve the validation split (default `last-k`). */
  protocol?: ValidationOptions["protocol"];
}

/**
 * `build-index --tune`: reads the events, carves a validation split out of
 * them ({@linkcode carveValidation}), searches the settings
 * ({@linkcode tune}), and builds on every event with the best one. The
 * manifest records the chosen build settings per field as any build does,
 * the chosen serving settings in `serving` (`maxQueryEvents`, the
 * secondary fields' boosts), and the search in `tuning` (protocol,
 * validation users, budget, time, the start's and the best's validation
 * figures).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildTuned } from "./tune.ts";
 *
 * const events: { user: string; item: string; event: string; timestamp: number }[] = [];
 * for (let u = 0; u < 40; u++) {
 *   const items = u % 2 ? ["a", "b", "c", "d"] : ["e", "f", "g", "h"];
 *   items.forEach((item, t) => events.push({ user: `u${u}`, item, event: "buy", timestamp: t }));
 * }
 * const { manifest } = await buildTuned(events, { primaryEvent: "buy" }, { budget: 2 });
 * assert.equal(manifest.tuning?.protocol, "last-k");
 * assert.equal(typeof manifest.serving?.maxQueryEvents, "number");
 * ```
 *
 * @param events The whole log (read once, kept in memory).
 * @param build The build options to tune.
 * @param options Protocol, budget, users, progress.
 * @returns The model built with the best setting, and the search.
 * @throws {ConfigError} When the log gives no validation users.
 */
export async function buildTuned(
  events: EventStream,
  build: BuildOptions,
  options: TunedBuildOptions = {},
): Promise<IndicatorModel & { tuning: TuneResult }> {
  const all: Event[] = [];
  for await (const e of events) {
    if (Array.isArray(e)) { for (const x of e) all.push(x); }
    else all.push(e as Event);
  }
  const protocol = options.protocol ?? "last-k";
  const validation = carveValidation(all, {
    protocol,
    primaryEvent: build.primaryEvent,
  });
  const result = await tune(validation, {
    ...options,
    build,
    excludeTrained: protocol === "stratified",
  });
  const best = result.best;
  const { significance: _, ...rest } = build;
  const model = await buildIndicators(all, {
    ...rest,
    ...(best.minRootLlr === result.start.minRootLlr
      // the build's own threshold, in its own form (a significance level)
      ? { minRootLlr: build.minRootLlr, significance: build.significance }
      : { minRootLlr: best.minRootLlr }),
    maxIndicatorsPerItem: best.maxIndicatorsPerItem,
    weights: best.weights,
    ridge: best.ridge,
  });
  const secondary = model.fields.filter((f) => f.startsWith("indicators_"));
  model.manifest.serving = {
    ...model.manifest.serving,
    maxQueryEvents: best.maxQueryEvents,
    ...(secondary.length && best.secondaryBoost !== 1
      ? {
        fieldBoosts: Object.fromEntries(
          secondary.map((f) => [f, best.secondaryBoost]),
        ),
      }
      : {}),
  };
  model.manifest.tuning = {
    protocol,
    users: result.users,
    settings: result.tried.length,
    budgetMs: Math.round(result.budgetMs),
    millis: Math.round(result.millis),
    complete: result.complete,
    start: result.start,
    best,
  };
  return { ...model, tuning: result };
}

/**
 * A setting in words, for progress lines and logs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeSetting } from "./tune.ts";
 *
 * assert.equal(
 *   describeSetting({ minRootLlr: 2.5758, maxIndicatorsPerItem: 100, weights: "learned", ridge: 200, maxQueryEvents: 1024, secondaryBoost: 1 }),
 *   "learned (ridge 200), root LLR >= 2.58, top 100, history 1024, secondary boost 1",
 * );
 * ```
 *
 * @param s A setting.
 * @returns One line.
 */
export function describeSetting(s: TuneSetting): string {
  return `${s.weights}${
    s.weights === "learned" ? ` (ridge ${s.ridge})` : ""
  }, root LLR >= ${+s.minRootLlr.toFixed(
    2,
  )}, top ${s.maxIndicatorsPerItem}, history ${s.maxQueryEvents}, secondary boost ${s.secondaryBoost}`;
}
