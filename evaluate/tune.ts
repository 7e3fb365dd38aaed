/**
 * Tuning on a validation split carved out of the training log (never the
 * test split): a coordinate search over the history length, the weight of
 * the secondary fields, the indicator weighting, the ridge penalty of
 * learned weights, indicators per item and the LLR threshold, scored by
 * nDCG@10, under a time budget. Used by `deno task eval --tune` (the
 * `(tuned)` model) and `deno task build-index --tune` (which records the
 * result in the model's manifest and builds with it).
 *
 * The search starts from the build's own settings (always scored first, so
 * the choice is never worse than them on validation), then tries each axis
 * in turn, cheapest first (history length and field boosts need no new
 * model, weightings only a reweighting or a refit), keeping the best value
 * of each axis before the next.
 *
 * Bounded on large logs: settings are scored on a seeded sample of the
 * validation users ({@linkcode DEFAULT_TUNE_USERS} at most); the training
 * interactions are built once, and co-occurrences counted once, at the
 * loosest threshold and the largest top-k of the grid (every setting's rows
 * are a prefix of those: rows are sorted by score, then id); the ridge
 * axis fits all its penalties on one count per item; only the history
 * fields and the items with primary events (what a user's list can hold)
 * are scored, one model held at a time. The time budget is checked between
 * settings and while one is fitted and scored: a setting it interrupts is
 * dropped, and the best setting scored is kept.
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
import { EventLog } from "./_log.ts";
import type { Event } from "../events/format.ts";
import {
  buildIndicatorsLazily,
  type BuildOptions,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  indicatorDocuments,
  type LazyIndicatorModel,
  resolveThreshold,
} from "../indicators/build.ts";
import {
  type EventStream,
  type Interactions,
  InteractionsBuilder,
} from "../indicators/interactions.ts";
import { SparseBinaryMatrix } from "../indicators/sparse.ts";
import { withMinEventsPerUser } from "../indicators/min_events.ts";
import { DEFAULT_RIDGE, learnWeightsEach } from "../indicators/learned.ts";
import { DEFAULT_WEIGHTING, reweightModel } from "../indicators/weights.ts";
import { manifestFor, type Model, type Weighting } from "../model/manifest.ts";
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
  /** nDCG@10 on the validation users. */
  ndcg: number;
  /** Recall@10 on the validation users. */
  recall: number;
  /** Bootstrap 95% interval of nDCG@10. */
  ndcgInterval: [number, number];
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

/**
 * Default budget: the search stops once it has taken this many times its
 * first setting (for `build-index --tune`, from reading the log to the
 * defaults' validation figures: about one plain build).
 */
export const DEFAULT_TUNE_BUDGET = 4;

/**
 * Default cap on validation users: a seeded sample beyond it (nDCG@10's
 * 95% interval is then about ±0.01 wide).
 */
export const DEFAULT_TUNE_USERS = 5000;

/** Default seed of the validation users' sample. */
export const DEFAULT_TUNE_SEED = 7;

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
   * Time budget, as a multiple of the first setting's time (default
   * {@linkcode DEFAULT_TUNE_BUDGET}); `budgetMs` wins when set. Checked
   * between settings and while one is built and scored: a setting the
   * budget interrupts is dropped, and the best one scored is kept.
   */
  budget?: number;
  /** Time budget in milliseconds. */
  budgetMs?: number;
  /**
   * Exclude every training item of a user from their list, whatever the
   * event (the stratified protocol), not just the primary history.
   */
  excludeTrained?: boolean;
  /**
   * At most this many validation users, a seeded sample (default
   * {@linkcode DEFAULT_TUNE_USERS}).
   */
  maxUsers?: number;
  /** Seed of that sample (default {@linkcode DEFAULT_TUNE_SEED}). */
  seed?: number;
  /** Called after each setting is scored. */
  onProgress?: (score: TuneScore, done: number) => void;
  /** The clock, in milliseconds (default `performance.now`; for tests). */
  clock?: () => number;
}

/** What {@linkcode tune} found. */
export interface TuneResult {
  /** The best setting, with its validation figures. */
  best: TuneScore;
  /** The starting setting (the build's own), with its figures. */
  start: TuneScore;
  /** Every setting scored, best first. */
  tried: TuneScore[];
  /** Validation users scored (the sample). */
  users: number;
  /** Validation users the split gave, before sampling. */
  eligibleUsers: number;
  /** Seed of the sample. */
  seed: number;
  /** Milliseconds of the first setting (the budget's unit). */
  buildMs: number;
  /** The budget, in milliseconds. */
  budgetMs: number;
  /** Milliseconds spent. */
  millis: number;
  /** False when the budget ran out before every axis was searched. */
  complete: boolean;
  /** Why the search stopped early (when it did). */
  stopped?: string;
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

// the protocol's parameters with their defaults: one place for both the
// Event[] split and the typed log's
function protocolOf(options: ValidationOptions) {
  const protocol = options.protocol ?? "last-k";
  if (!["stratified", "last-k", "time"].includes(protocol)) {
    throw new ConfigError(
      "tune.protocol",
      `must be stratified, last-k or time, got "${protocol}"`,
    );
  }
  return {
    protocol,
    primaryEvent: options.primaryEvent,
    k: options.k,
    ratio: options.ratio,
    seed: options.seed ?? 43,
    fraction: options.fraction ?? 0.9,
  };
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
  const p = protocolOf(options);
  if (p.protocol === "stratified") {
    return stratifiedSplit(events, { ratio: p.ratio, seed: p.seed });
  }
  if (p.protocol === "last-k") {
    return lastKSplit(events, { k: p.k, primaryEvent: p.primaryEvent });
  }
  return timeSplit(events, {
    fraction: p.fraction,
    primaryEvent: p.primaryEvent,
  });
}

/** What the search needs of a validation split. */
interface Prepared {
  /** The training events (read once). */
  train: EventStream;
  /** The sampled validation users and their relevant items. */
  test: Map<string, Set<string>>;
  /** Their training histories, newest first, MAX_HISTORY per type. */
  history: Map<string, Record<string, string[]>>;
  /** Validation users before sampling. */
  eligible: number;
  /** The sample's seed. */
  seed: number;
}

/**
 * Searches settings on a validation split (see the module doc).
 *
 * @param validation A split of the training events.
 * @param options The build to tune, the grid, the budget.
 * @returns The best setting and every setting tried.
 * @throws {ConfigError} When the split has no test users.
 */
export function tune(
  validation: Split,
  options: TuneOptions,
): Promise<TuneResult> {
  const t0 = (options.clock ?? (() => performance.now()))();
  const users = [...validation.test.keys()];
  const seed = options.seed ?? DEFAULT_TUNE_SEED;
  const picked = sampleOf(users.length, options.maxUsers, seed);
  const test = new Map<string, Set<string>>();
  for (const i of picked) test.set(users[i], validation.test.get(users[i])!);
  const history = histories(
    validation.train.filter((e) => test.has(e.user)),
    MAX_HISTORY,
  );
  return search(
    { train: validation.train, test, history, eligible: users.length, seed },
    options,
    t0,
  );
}

/** The budget ran out while a setting was built or scored. */
class OutOfBudget extends Error {}

async function search(
  prepared: Prepared,
  options: TuneOptions,
  t0: number,
): Promise<TuneResult> {
  const { test, history } = prepared;
  const now = options.clock ?? (() => performance.now());
  if (test.size === 0) {
    throw new ConfigError(
      "tune",
      "the validation split has no test users (too few users with enough history)",
    );
  }
  const build = options.build;
  const primary = build.primaryEvent;
  const grid: TuneGrid = { ...TUNE_GRID, ...options.grid };
  const trained = options.excludeTrained ? trainedItems(history) : undefined;
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
  // no deadline until the first setting is scored (it is the unit)
  let deadline = Infinity;
  const check = () => {
    if (now() >= deadline) throw new OutOfBudget();
  };
  // the training interactions, once: every setting is computed from them
  const {
    significance: _,
    rankings: __,
    onProgress: ___,
    fields: own = {},
    similarEvent: ____,
    ...rest
  } = build;
  const builder = new InteractionsBuilder(rest);
  await builder.addAll(prepared.train);
  const interactions = withMinEventsPerUser(
    builder.build(),
    build.minEventsPerUser,
    { inPlace: true },
  );
  // every setting's rows are a prefix of the rows counted at the loosest
  // threshold and the largest top-k (rows are sorted by score, then id):
  // co-occurrences are counted once. History fields only: user requests
  // never query similar_ fields.
  const limits =
    (s: Pick<TuneSetting, "minRootLlr" | "maxIndicatorsPerItem">) =>
    (field: string): [number, number] => {
      const o = own[field] ?? {};
      return [
        o.minRootLlr !== undefined || o.significance !== undefined
          ? resolveThreshold(o)
          : s.minRootLlr,
        o.maxIndicatorsPerItem ?? s.maxIndicatorsPerItem,
      ];
    };
  // the loosest threshold and the largest top-k of any setting, any field
  const loose = ["indicators", ...Object.keys(own)].flatMap((field) =>
    [
      start,
      ...grid.minRootLlr.map((minRootLlr) => ({ ...start, minRootLlr })),
      ...grid.maxIndicatorsPerItem.map((maxIndicatorsPerItem) => ({
        ...start,
        maxIndicatorsPerItem,
      })),
    ].map((s) => limits(s)(field))
  );
  let counted:
    | { documents: IndicatorDocument[]; fields: string[] }
    | undefined = indicatorDocuments(interactions, {
      ...rest,
      minRootLlr: Math.min(...loose.map(([t]) => t)),
      maxIndicatorsPerItem: Math.max(...loose.map(([, k]) => k)),
      similarEvent: null,
      weights: "none",
    });
  const fields = counted.fields;
  const secondary = fields.filter((f) => f.startsWith("indicators_"));
  // the documents a list can hold: a history matches only items with
  // primary events (popularity > 0); the others come as backfill after all
  // of those, so they are left out unless a list could reach them (the
  // list is evaluate's 20, beside what the user's request excludes)
  const popular = counted.documents.filter((d) =>
    Number(d.metadata?.popularity ?? 0) > 0
  );
  let excluded = 0;
  for (const [u, h] of history) {
    let n = trained?.get(u)?.length ?? 0;
    for (const items of Object.values(h)) n += items.length;
    excluded = Math.max(excluded, n);
  }
  const documents = popular.length >= 20 + excluded
    ? popular
    : counted.documents;
  counted = undefined; // the other documents can go
  const base: Model<IndicatorDocument> = {
    manifest: manifestFor(documents, { primaryEvent: primary }),
    documents,
  };
  // the model of a setting: its prefix of each row, then its weights; the
  // last one is kept (settings on the serving axes share it)
  let last: { key: string; recommender: EmbeddedRecommender } | undefined;
  // learned weights, a slice of the documents at a time (each document is
  // fitted on its own) so that the budget is checked while they are fitted;
  // the column transposes every slice needs are made once
  const transposes = new Map<string, SparseBinaryMatrix | undefined>();
  const columns: Interactions = {
    users: interactions.users,
    items: interactions.items,
    eventTypes: interactions.eventTypes,
    eventsRead: interactions.eventsRead,
    itemRanks: () => interactions.itemRanks(),
    matrix: (type) => {
      if (!transposes.has(type)) {
        const m = interactions.matrix(type);
        transposes.set(type, m && new Transposed(m, m.transpose()));
      }
      return transposes.get(type);
    },
  };
  const learnInSlices = (
    model: Model<IndicatorDocument>,
    ridges: number[],
  ): Model<IndicatorDocument>[] => {
    const documents = ridges.map((): IndicatorDocument[] => []);
    const kept = ridges.map(() => new Map<string, number>());
    let manifests = ridges.map(() => model.manifest);
    const step = Math.max(1, Math.ceil(model.documents.length / LEARN_SLICES));
    for (let at = 0; at < model.documents.length; at += step) {
      check();
      const slices = learnWeightsEach(
        {
          manifest: model.manifest,
          documents: model.documents.slice(at, at + step),
        },
        columns,
        ridges,
      );
      slices.forEach((slice, r) => {
        for (const d of slice.documents) documents[r].push(d);
        for (const f of slice.manifest.fields) {
          kept[r].set(f.name, (kept[r].get(f.name) ?? 0) + (f.indicators ?? 0));
        }
      });
      manifests = slices.map((slice) => slice.manifest);
    }
    return manifests.map((manifest, r) => ({
      manifest: {
        ...manifest,
        fields: manifest.fields.map((f) => ({
          ...f,
          indicators: kept[r].get(f.name) ?? 0,
        })),
      },
      documents: documents[r],
    }));
  };
  // learned models of one prefix by ridge: entering the ridge axis, every
  // penalty it will try is fitted with the first (the counts shared)
  let learned:
    | { key: string; byRidge: Map<number, Model<IndicatorDocument>> }
    | undefined;
  let ridgesAhead: number[] = [];
  const modelOf = (s: TuneSetting) => {
    const prefixKey = `${s.minRootLlr}/${s.maxIndicatorsPerItem}`;
    const key = `${prefixKey}/${s.weights}/${
      s.weights === "learned" ? s.ridge : ""
    }`;
    if (last?.key === key) return last.recommender;
    last = undefined;
    if (learned?.key !== prefixKey) learned = undefined;
    let weighted = s.weights === "learned"
      ? learned?.byRidge.get(s.ridge)
      : undefined;
    if (!weighted) {
      const cut = fields.map(limits(s));
      const documents = base.documents.map((doc) => {
        const record = doc as unknown as Record<string, string[]>;
        let out: IndicatorDocument | undefined;
        fields.forEach((f, j) => {
          const ids = record[f], scores = doc.scores[f];
          if (!ids?.length) return;
          const [t, k] = cut[j];
          const max = Math.min(k, ids.length);
          let n = 0;
          while (n < max && scores[n] >= t) n++;
          if (n === ids.length) return;
          out ??= { ...doc, scores: { ...doc.scores } };
          (out as unknown as Record<string, string[]>)[f] = ids.slice(0, n);
          out.scores[f] = scores.slice(0, n);
        });
        return out ?? doc;
      });
      check();
      const prefix = { manifest: base.manifest, documents };
      if (s.weights === "learned") {
        const ridges = [
          s.ridge,
          ...ridgesAhead.filter((r) => r !== s.ridge),
        ];
        ridgesAhead = [];
        const models = learnInSlices(reweightModel(prefix, "llr"), ridges);
        learned ??= { key: prefixKey, byRidge: new Map() };
        ridges.forEach((r, i) => learned!.byRidge.set(r, models[i]));
        weighted = models[0];
      } else weighted = reweightModel(prefix, s.weights);
    }
    check();
    const recommender = new EmbeddedRecommender(weighted, {
      maxQueryEvents: MAX_HISTORY,
    });
    last = { key, recommender };
    return recommender;
  };
  const scores = new Map<string, TuneScore>();
  const score = async (s: TuneSetting): Promise<TuneScore> => {
    const key = JSON.stringify(s);
    const known = scores.get(key);
    if (known) return known;
    const recommender = modelOf(s);
    const fieldBoosts = Object.fromEntries(
      secondary.map((f) => [f, s.secondaryBoost]),
    );
    const result = await evaluate(
      recommender,
      { train: [], test },
      (u): RecommendRequest => {
        check();
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
    const scored: TuneScore = {
      ...s,
      ndcg: result.atK[10].mean.ndcg,
      recall: result.atK[10].mean.recall,
      ndcgInterval: result.atK[10].interval.ndcg,
    };
    scores.set(key, scored);
    options.onProgress?.(scored, scores.size);
    return scored;
  };
  const first = await score(start);
  const buildMs = now() - t0;
  const budgetMs = options.budgetMs ??
    (options.budget ?? DEFAULT_TUNE_BUDGET) * buildMs;
  deadline = t0 + budgetMs;
  let best = first;
  let stopped: string | undefined;
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
  const spent = () =>
    `the time budget (${
      (budgetMs / 1000).toFixed(1)
    } s) ran out after ${scores.size} settings`;
  search: for (const axis of axes) {
    if (axis === "secondaryBoost" && secondary.length === 0) continue;
    if (axis === "ridge" && best.weights !== "learned") continue;
    const current = stripScore(best);
    if (axis === "ridge") {
      ridgesAhead = grid.ridge.filter((r) => r !== best.ridge);
    }
    for (const value of grid[axis]) {
      if (value === current[axis]) continue;
      const candidate = { ...current, [axis]: value };
      if (now() >= deadline) {
        stopped = spent();
        break search;
      }
      try {
        const s = await score(candidate);
        if (better(s, best)) best = s;
      } catch (error) {
        if (!(error instanceof OutOfBudget)) throw error;
        stopped = `${spent()} (${describeSetting(candidate)} dropped unscored)`;
        break search;
      }
    }
  }
  last = learned = undefined;
  const tried = [...scores.values()].sort((a, b) =>
    better(a, b) ? -1 : better(b, a) ? 1 : 0
  );
  return {
    best,
    start: first,
    tried,
    users: test.size,
    eligibleUsers: prepared.eligible,
    seed: prepared.seed,
    buildMs,
    budgetMs,
    millis: now() - t0,
    complete: stopped === undefined,
    ...(stopped ? { stopped } : {}),
  };
}

/** Slices of the documents whose weights are learned between budget checks. */
const LEARN_SLICES = 64;

/** A matrix whose transpose is already made. */
class Transposed extends SparseBinaryMatrix {
  #transposed: SparseBinaryMatrix;
  constructor(m: SparseBinaryMatrix, transposed: SparseBinaryMatrix) {
    super(m.rows, m.cols, m.ptr, m.idx);
    this.#transposed = transposed;
  }
  override transpose(): SparseBinaryMatrix {
    return this.#transposed;
  }
}

function stripScore(s: TuneScore): TuneSetting {
  const { ndcg: _, recall: __, ndcgInterval: ___, ...setting } = s;
  return setting;
}

/**
 * Which of `n` validation users are scored: all, in order, when there are
 * at most `max`; else the first `max` of a seeded shuffle.
 */
function sampleOf(
  n: number,
  max = DEFAULT_TUNE_USERS,
  seed = DEFAULT_TUNE_SEED,
): Int32Array {
  const users = Int32Array.from({ length: n }, (_, i) => i);
  if (n <= max) return users;
  const random = mulberry32(seed);
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    const x = users[i];
    users[i] = users[j];
    users[j] = x;
  }
  return users.slice(0, max);
}

/** Options of {@linkcode buildTuned}. */
export interface TunedBuildOptions
  extends Omit<TuneOptions, "build" | "excludeTrained"> {
  /** How to carve the validation split (default `last-k`). */
  protocol?: ValidationOptions["protocol"];
}

/**
 * `build-index --tune`: reads the events into typed columns (17 bytes an
 * event, no object per event), carves a validation split out of them (as
 * {@linkcode carveValidation} does), searches the settings on a seeded
 * sample of its users ({@linkcode tune}), and builds on every event with
 * the best one; the documents are lazy, as `buildIndicatorsLazily`'s. The
 * manifest records the chosen build settings per field as any build does,
 * the chosen serving settings in `serving` (`maxQueryEvents`, the
 * secondary fields' boosts), and the search in `tuning` (protocol,
 * validation users scored and before sampling, the sample's seed, budget,
 * time, whether and why it stopped early, the start's and the best's
 * validation figures).
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
 * const model = await buildTuned(events, { primaryEvent: "buy" }, { budget: 2 });
 * assert.equal(model.manifest.tuning?.protocol, "last-k");
 * assert.equal(model.manifest.tuning?.users, 40);
 * assert.equal(typeof model.manifest.serving?.maxQueryEvents, "number");
 * assert.equal(model.documents.length, 8);
 * model.release();
 * ```
 *
 * @param events The whole log (read once, kept in typed columns).
 * @param build The build options to tune.
 * @param options Protocol, budget, users, progress.
 * @returns The model built with the best setting, and the search.
 * @throws {ConfigError} When the log gives no validation users.
 */
export async function buildTuned(
  events: EventStream,
  build: BuildOptions,
  options: TunedBuildOptions = {},
): Promise<LazyIndicatorModel & { tuning: TuneResult }> {
  const t0 = (options.clock ?? (() => performance.now()))();
  const log = await EventLog.read(events);
  const p = protocolOf({
    protocol: options.protocol,
    primaryEvent: build.primaryEvent,
  });
  const carved = log.carve(p);
  const seed = options.seed ?? DEFAULT_TUNE_SEED;
  const picked = sampleOf(carved.users.length, options.maxUsers, seed);
  const test = new Map<string, Set<string>>();
  const history = new Map<string, Record<string, string[]>>();
  for (const i of picked) {
    const u = carved.users[i];
    const user = log.users.idOf(u);
    test.set(
      user,
      new Set(Array.from(carved.relevant(i), (item) => log.items.idOf(item))),
    );
    history.set(user, log.history(u, carved.heldOut, MAX_HISTORY));
  }
  const result = await search(
    {
      train: log.columns(carved.heldOut),
      test,
      history,
      eligible: carved.users.length,
      seed,
    },
    { ...options, build, excludeTrained: p.protocol === "stratified" },
    t0,
  );
  const best = result.best;
  const { significance: _, ...rest } = build;
  const model = await buildIndicatorsLazily(log.columns(), {
    expectedEvents: log.length,
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
    protocol: p.protocol,
    users: result.users,
    eligibleUsers: result.eligibleUsers,
    seed: result.seed,
    settings: result.tried.length,
    budgetMs: Math.round(result.budgetMs),
    millis: Math.round(result.millis),
    complete: result.complete,
    ...(result.stopped ? { stopped: result.stopped } : {}),
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
