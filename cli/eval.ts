/**
 * `deno task eval`: offline evaluation of cco-es against simple baselines
 * on a split of an events log, with a Markdown + JSON report and an SVG
 * chart of recall@k.
 *
 * @module
 */

import { EmbeddedRecommender } from "../embedded/recommender.ts";
import type { Client } from "../elasticsearch/client.ts";
import {
  evaluate,
  type Evaluation,
  histories,
  lastKSplit,
  type Split,
  stratifiedSplit,
  timeSplit,
} from "../evaluate/evaluate.ts";
import type { Event } from "../events/format.ts";
import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import type { Model } from "../model/manifest.ts";
import {
  checkServingOptions,
  DEFAULT_MAX_QUERY_EVENTS,
  MAX_HISTORY,
  type Recommender,
  type RecommendRequest,
  type ServingOptions,
} from "../serving/request.ts";
import { ConfigError } from "../errors/mod.ts";
import { loadSettings } from "../config/settings.ts";
import {
  numberFlag,
  parseFlags,
  run,
  tuneBudgetFlag,
  weightingFlag,
  withProgress,
} from "./common.ts";
import {
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
  primaryEvent,
} from "./_format.ts";
import { writeReport } from "../evaluate/report.ts";
import { trainedItems } from "../evaluate/sweep.ts";
import {
  carveValidation,
  DEFAULT_TUNE_BUDGET,
  describeSetting,
  tune,
  type TuneResult,
  type ValidationOptions,
} from "../evaluate/tune.ts";
import {
  type BuildOptions,
  checkBuildOptions,
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_SIGNIFICANCE,
} from "../indicators/build.ts";
import { DEFAULT_RIDGE } from "../indicators/learned.ts";
import { rootLlrThreshold } from "../indicators/significance.ts";
import { DEFAULT_WEIGHTING } from "../indicators/weights.ts";

const HELP = `
deno task eval [--events FILE] [options]

Splits an events log, builds indicators on the training part, and compares
on the held-out part, through the same recommend() API that serves:
  popularity      the most popular items the user has not had
  tutorial seed   the original tutorial's approach: LLR on the primary event
                  alone, top 50 per item, root LLR >= 5, unweighted (BM25)
  0.2 defaults    cco-es 0.2's defaults: root LLR >= 5, top 50, root LLR ×
                  idf weights, the newest 100 history items per type
  purchase-only   LLR on the primary event alone, with this run's settings
  CCO             every indicator field, the whole history
  CCO - <type>    CCO without one secondary event type (ablation)
Metrics at k = 10 and 20 (precision, recall, MAP, nDCG, hit rate, with
bootstrap 95% intervals), catalogue coverage, backfill share; a recall@k
chart. Writes report.md, report.json and recall.svg to --out-dir.

  --events FILE        events (default fixtures/demo_events.csv)
  --protocol P         time (default), last-k (each user's last k primary
                       items held out) or stratified (per-user random split)
  --k N                last-k: items held out per user (1)
  --cutoff DATE        time split: train before this ISO date
  --fraction X         time split: train on the first X of the time range (0.9)
  --ratio X            stratified: training share per user (0.75)
  --seed N             stratified: seed (42)
  --single-event       treat every event as the primary event (one type)
  --primary NAME       primary event (default: the format's)
  --min-llr X          threshold on signed root LLR for the models
  --significance A     the threshold as a significance level of the LLR test
                       (default ${DEFAULT_SIGNIFICANCE}: root LLR >= ${
  rootLlrThreshold(DEFAULT_SIGNIFICANCE).toFixed(2)
})
  --max-indicators N   indicators per item (default ${DEFAULT_MAX_INDICATORS_PER_ITEM})
  --max-query-events N history items used per event type (default ${DEFAULT_MAX_QUERY_EVENTS}:
                       the whole history a request can carry)
  --weights W          indicator strength of the run's LLR models: ${DEFAULT_WEIGHTING}
                       (the default), llr-idf or llr (weighted sparse_vector
                       fields), none (keyword fields, BM25); see README
                       "Indicator strength"
  --ridge X            ridge penalty of learned weights (default ${DEFAULT_RIDGE})
  --backend B          embedded (default) or es: every model is indexed into
                       a temporary Elasticsearch index (deleted afterwards)
                       and queried there; the sweep stays embedded (same
                       ranking, much faster)
  --es-url URL         Elasticsearch URL (default: $ES_URL)
  --es-config FILE     JSON connection settings (default $CCO_ES_CONFIG)
  --out-dir DIR        where the report goes (default out/eval)
  --tune, --sweep      tune history length, secondary-field weight, weighting,
                       ridge, indicators per item and threshold on a validation
                       split carved out of the training data with the same
                       protocol (never the test split), as build-index --tune
                       does, then add the best setting as a "(tuned)" model
  --tune-budget X      time budget of --tune, in plain builds (default ${DEFAULT_TUNE_BUDGET});
                       "none" searches every axis
  --title TEXT         report title
  --published sar      add Microsoft Recommenders' published MovieLens-100k
                       figures (SAR, BPR; stratified 75/25, seed 42) beside ours
${EVENT_FORMAT_HELP}  -h, --help           this text
`;

/** One line: our best nDCG@10 against SAR's and BPR's published figures. */
function versusSar(results: Record<string, Evaluation>): string {
  const [name, best] = Object.entries(results)
    .sort(([, a], [, b]) => b.atK[10].mean.ndcg - a.atK[10].mean.ndcg)[0];
  const { mean, interval } = best.atK[10];
  const versus = (label: string, published: number) => {
    const diff = mean.ndcg - published;
    return `${diff >= 0 ? "above" : "below"} ${label}'s published ${
      published.toFixed(4).replace(/0$/, "")
    } by ${Math.abs(diff).toFixed(4)}`;
  };
  return `Best nDCG@10 here: ${name}, ${mean.ndcg.toFixed(4)} [${
    interval.ndcg[0].toFixed(4)
  }, ${interval.ndcg[1].toFixed(4)}], ${versus("SAR", 0.3848)}, ${
    versus("BPR", 0.442)
  }.`;
}

/**
 * Runs `eval` with command-line arguments.
 *
 * @param args The arguments after the command name.
 */
export async function evalCommand(args: string[]): Promise<void> {
  const flags = parseFlags(
    {
      config: { type: "string" },
      events: { type: "string" },
      protocol: { type: "string", default: "time" },
      cutoff: { type: "string" },
      fraction: { type: "string" },
      ratio: { type: "string" },
      k: { type: "string" },
      seed: { type: "string" },
      "single-event": { type: "boolean", default: false },
      primary: { type: "string" },
      "min-llr": { type: "string" },
      significance: { type: "string" },
      ridge: { type: "string" },
      "max-indicators": { type: "string" },
      "max-query-events": { type: "string" },
      weights: { type: "string" },
      backend: { type: "string", default: "embedded" },
      "es-url": { type: "string" },
      "es-config": { type: "string" },
      "out-dir": { type: "string", default: "out/eval" },
      title: { type: "string" },
      published: { type: "string" },
      sweep: { type: "boolean", default: false },
      tune: { type: "boolean", default: false },
      "tune-budget": { type: "string" },
      ...EVENT_FORMAT_FLAGS,
    },
    HELP,
    args,
  );
  const settings = await loadSettings(flags.config);
  // check every flag before the long work
  const weights = weightingFlag(flags.weights);
  const minRootLlr = numberFlag("min-llr", flags["min-llr"], false);
  const significance = numberFlag("significance", flags.significance, false);
  if (minRootLlr !== undefined && significance !== undefined) {
    throw new ConfigError("--min-llr", "and --significance are exclusive");
  }
  const ridge = numberFlag("ridge", flags.ridge, false);
  const maxIndicatorsPerItem = numberFlag(
    "max-indicators",
    flags["max-indicators"],
  );
  // this run's build: the flags over the library's defaults
  const runBuild: Omit<BuildOptions, "primaryEvent"> = {
    ...(minRootLlr !== undefined ? { minRootLlr } : {}),
    ...(significance !== undefined ? { significance } : {}),
    ...(maxIndicatorsPerItem !== undefined ? { maxIndicatorsPerItem } : {}),
    ...(weights !== undefined ? { weights } : {}),
    ...(ridge !== undefined ? { ridge } : {}),
  };
  checkBuildOptions({ primaryEvent: "x", ...runBuild });
  const maxQueryEvents = numberFlag(
    "max-query-events",
    flags["max-query-events"],
  );
  checkServingOptions({ maxQueryEvents });
  const tuning = flags.tune || flags.sweep;
  const tuneBudget = tuneBudgetFlag(flags["tune-budget"]);
  const backend = flags.backend;
  if (backend !== "embedded" && backend !== "es") {
    throw new ConfigError(
      "",
      `--backend must be embedded or es, got "${backend}"`,
    );
  }
  const path = flags.events ?? settings.events?.path ??
    new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
  const resolved = await eventFormat(flags, settings);
  const format = resolved.format;
  const primary = primaryEvent(flags.primary, settings, resolved);
  console.error(`reading ${path}`);
  const events: Event[] = [];
  for await (
    const batch of withProgress(readEventBatches(path, format), "events")
  ) {
    for (const e of batch) {
      events.push(flags["single-event"] ? { ...e, event: primary } : e);
    }
  }
  let split: Split;
  if (flags.protocol === "time") {
    const cutoff = flags.cutoff === undefined
      ? undefined
      : Date.parse(flags.cutoff);
    if (cutoff !== undefined && !Number.isFinite(cutoff)) {
      throw new ConfigError(
        "",
        `--cutoff must be an ISO date, got "${flags.cutoff}"`,
      );
    }
    split = timeSplit(events, {
      cutoff,
      fraction: numberFlag("fraction", flags.fraction, false),
      primaryEvent: primary,
    });
  } else if (flags.protocol === "last-k") {
    split = lastKSplit(events, {
      k: numberFlag("k", flags.k),
      primaryEvent: primary,
    });
  } else if (flags.protocol === "stratified") {
    split = stratifiedSplit(events, {
      ratio: numberFlag("ratio", flags.ratio, false),
      seed: numberFlag("seed", flags.seed),
    });
  } else {
    throw new ConfigError(
      "",
      `--protocol must be time, last-k or stratified, got "${flags.protocol}"`,
    );
  }
  if (split.test.size === 0) {
    throw new ConfigError(
      "",
      "no test users: nobody has held-out primary events and history before them (try --protocol last-k)",
    );
  }
  console.error(
    `${split.train.length} training events, ${split.test.size} test users`,
  );
  // the models answer through the embedded backend, or with --backend es
  // through Elasticsearch: one temporary index per model, deleted at the end
  const es = backend === "es"
    ? {
      ...await import("../elasticsearch/connection.ts"),
      ...await import("../elasticsearch/indexing.ts"),
      ...await import("../elasticsearch/recommender.ts"),
    }
    : undefined;
  const client: Client | undefined = es
    ? await es.connect({
      url: flags["es-url"] ?? settings.elasticsearch?.url,
      configFile: flags["es-config"],
    })
    : undefined;
  const indices: string[] = [];
  const prefix = `cco-eval-${Date.now()}-${Deno.pid}`;
  const serve = async (
    name: string,
    model: Model,
    options: ServingOptions,
  ): Promise<Recommender> => {
    if (!client || !es) return new EmbeddedRecommender(model, options);
    const index = `${prefix}-${name}`;
    indices.push(index);
    console.error(`indexing ${model.documents.length} documents into ${index}`);
    await es.indexDocuments(client, index, model);
    return new es.ElasticsearchRecommender(client, index, options);
  };
  try {
    const t0 = performance.now();
    const built = await buildIndicators(split.train, {
      primaryEvent: primary,
      ...runBuild,
    });
    const buildMs = performance.now() - t0;
    const { documents, fields, stats } = built;
    const recommender = await serve("cco", built, { maxQueryEvents });
    // requests accept at most MAX_HISTORY items per type: keep the newest
    const history = histories(split.train, MAX_HISTORY);
    const catalogue = documents.length;
    const secondaries = Object.keys(stats.eventsRead).filter((t) =>
      t !== primary
    )
      .sort();
    // what excludeSeen excludes: the user's primary-event items
    const seenOf = (user: string) => history.get(user)?.[primary] ?? [];
    // the stratified protocol (SAR's) removes every item seen in training,
    // whatever the event: held-out items are never training items
    const trained = flags.protocol === "stratified"
      ? trainedItems(history)
      : new Map<string, string[]>();
    const rules = (user: string): RecommendRequest => {
      const exclude = trained.get(user);
      return exclude ? { exclude } : {};
    };
    // the seed approach, whatever the flags: purchases only, top 50, root LLR
    // >= 5, unweighted keyword fields
    const seed = await buildIndicators(split.train, {
      primaryEvent: primary,
      secondaryEvents: [],
      similarEvent: null,
      minRootLlr: 5,
      maxIndicatorsPerItem: 50,
      weights: "none",
    });
    const seedRecommender = await serve("seed", seed, { maxQueryEvents });
    // cco-es 0.2's defaults, for comparison with this run's
    const previous = await buildIndicators(split.train, {
      primaryEvent: primary,
      minRootLlr: 5,
      maxIndicatorsPerItem: 50,
      weights: "llr-idf",
    });
    const previousRecommender = await serve("previous", previous, {
      maxQueryEvents: 100,
    });
    const models: [
      string,
      (user: string) => RecommendRequest,
      Recommender?,
    ][] = [
      ["popularity", (u) => ({ exclude: seenOf(u), ...rules(u) })],
      ["tutorial seed", (u) => ({
        history: { [primary]: seenOf(u) },
        ...rules(u),
      }), seedRecommender],
      ["0.2 defaults", (u) => ({
        history: secondaries.length
          ? history.get(u) ?? {}
          : { [primary]: seenOf(u) },
        ...rules(u),
      }), previousRecommender],
      ["purchase-only LLR", (u) => ({
        history: { [primary]: seenOf(u) },
        ...rules(u),
      })],
    ];
    if (secondaries.length > 0) {
      models.push([
        "CCO",
        (u) => ({ history: history.get(u) ?? {}, ...rules(u) }),
      ]);
      for (const s of secondaries) {
        models.push([`CCO - ${s}`, (u) => {
          const { [s]: _, ...rest } = history.get(u) ?? {};
          return { history: rest, ...rules(u) };
        }]);
      }
    }
    const results: Record<string, Evaluation> = {};
    for (const [name, request, model] of models) {
      const t = performance.now();
      results[name] = await evaluate(model ?? recommender, split, request, {
        catalogue,
      });
      console.error(
        `${name}: recall@10 ${results[name].atK[10].mean.recall.toFixed(4)}, ` +
          `nDCG@10 ${results[name].atK[10].mean.ndcg.toFixed(4)} ` +
          `(${((performance.now() - t) / 1000).toFixed(1)} s)`,
      );
    }
    let tuned: TuneResult | undefined;
    if (tuning) {
      const validation = carveValidation(split.train, {
        protocol: flags.protocol as ValidationOptions["protocol"],
        primaryEvent: primary,
        k: numberFlag("k", flags.k),
        ratio: numberFlag("ratio", flags.ratio, false),
        seed: (numberFlag("seed", flags.seed) ?? 42) + 1,
      });
      if (validation.test.size === 0) {
        throw new ConfigError(
          "",
          "--tune: the validation split has no test users",
        );
      }
      console.error(
        `tuning on a validation split of the training data: ${validation.test.size} users`,
      );
      tuned = await tune(validation, {
        build: { primaryEvent: primary, ...runBuild },
        start: { maxQueryEvents: maxQueryEvents ?? DEFAULT_MAX_QUERY_EVENTS },
        budget: tuneBudget,
        excludeTrained: flags.protocol === "stratified",
        onProgress: (s, done) =>
          console.error(
            `  ${done}. ${describeSetting(s)}: nDCG@10 ${s.ndcg.toFixed(4)}`,
          ),
      });
      const best = tuned.best;
      if (tuned.stopped) console.error(`tuning stopped: ${tuned.stopped}`);
      console.error(
        `best on validation (${tuned.users} of ${tuned.eligibleUsers} users, ${tuned.tried.length} settings in ${
          (tuned.millis / 1000).toFixed(0)
        } s${tuned.complete ? "" : ", budget reached"}): ${
          describeSetting(best)
        }`,
      );
      const tunedModel = await buildIndicators(split.train, {
        primaryEvent: primary,
        minRootLlr: best.minRootLlr,
        maxIndicatorsPerItem: best.maxIndicatorsPerItem,
        weights: best.weights,
        ridge: best.ridge,
      });
      const tunedRecommender = await serve("tuned", tunedModel, {
        maxQueryEvents: best.maxQueryEvents,
      });
      const fieldBoosts = Object.fromEntries(
        tunedModel.fields.filter((f) => f.startsWith("indicators_"))
          .map((f) => [f, best.secondaryBoost]),
      );
      const tunedName = secondaries.length
        ? "CCO (tuned)"
        : "purchase-only LLR (tuned)";
      results[tunedName] = await evaluate(
        tunedRecommender,
        split,
        (u) => ({ history: history.get(u) ?? {}, fieldBoosts, ...rules(u) }),
        { catalogue: tunedModel.documents.length },
      );
      console.error(
        `${tunedName}: nDCG@10 ${
          results[tunedName].atK[10].mean.ndcg.toFixed(4)
        }`,
      );
    }
    const files = await writeReport(flags["out-dir"]!, {
      title: flags.title ??
        `cco-es offline evaluation: ${path.split("/").pop()}`,
      dataset: path.split("/").pop()!,
      protocol: (flags.protocol === "time"
        ? `time split at ${
          new Date(split.cutoff!).toISOString()
        } (primary: ${primary})`
        : flags.protocol === "last-k"
        ? `each user's last ${flags.k ?? 1} ${primary} item(s) held out`
        : `stratified per user, ${flags.ratio ?? 0.75} train, seed ${
          flags.seed ?? 42
        }`) + (client ? "; models served by Elasticsearch" : ""),
      trainEvents: split.train.length,
      testUsers: split.test.size,
      fields,
      buildMs,
      results,
      tuning: tuned
        ? {
          users: tuned.users,
          settings: tuned.tried.length,
          seconds: tuned.millis / 1000,
          complete: tuned.complete,
          start: tuned.start,
          best: tuned.tried.slice(0, 10),
        }
        : undefined,
      published: flags.published === "sar"
        ? [
          "Microsoft Recommenders' published MovieLens-100k results on the same protocol",
          "(python_stratified_split 75/25, seed 42; sar_deep_dive notebook and benchmark table):",
          "",
          "| model | MAP | nDCG@10 | precision@10 | recall@10 |",
          "| --- | --- | --- | --- | --- |",
          "| SAR | 0.1138 | 0.3848 | 0.3317 | 0.1826 |",
          "| BPR | - | 0.442 | - | - |",
          "",
          "Our split uses the same ratio and seed but not their random number generator, so the",
          "held-out ratings differ; MAP here is @10 (theirs is not truncated).",
          "",
          versusSar(results),
        ].join("\n")
        : undefined,
    });
    console.log(`wrote ${files.join(", ")}`);
  } finally {
    if (client) {
      if (indices.length) {
        await client.indices.delete({ index: indices }).catch(() => {});
      }
      await client.close();
    }
  }
}

if (import.meta.main) await run(() => evalCommand(Deno.args));
