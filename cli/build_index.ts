/**
 * `cco build-index` (`deno task build-index`): read an events log, compute
 * every indicator field, and publish the model to Elasticsearch behind an
 * alias and/or export it as NDJSON; or publish an existing export.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { readEventColumns, type SkipReport } from "../events/read.ts";
import type { EventFormat } from "../events/format.ts";
import type { EventColumns } from "../events/columns.ts";
import {
  buildIndicatorsLazily,
  type BuildOptions,
  defaultMemoryBudget,
  type LazyIndicatorModel,
} from "../indicators/build.ts";
import {
  buildTuned,
  describeSetting,
  type TunedBuildOptions,
} from "../evaluate/tune.ts";
import type { IndicatorDocument } from "../model/document.ts";
import type { ModelManifest } from "../model/manifest.ts";
import { openModel, writeModel } from "../model/ndjson.ts";
import { mergeItemsStreaming, readItems } from "../model/items.ts";
import { loadSettings, type Settings } from "../config/settings.ts";
import type { SparkBuildOptions, SparkRunOptions } from "../spark/runner.ts";
import {
  numberFlag,
  parseFlags,
  progressBar,
  run,
  sizeFlag,
  tuneBudgetFlag,
} from "./common.ts";
import {
  acceptNamed,
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
} from "./_format.ts";
import {
  BUILD_FLAGS,
  BUILD_HELP,
  buildOptions,
  namedEvents,
} from "./_build_options.ts";
import { mergeItemsFile } from "./_backend.ts";

const HELP = `
deno task build-index --events FILE [options]
deno task build-index --engine spark --events FILE|DIR [options]
deno task build-index --indicators FILE|DIR [options]

Reads interaction events, computes item-to-item LLR indicators, and
publishes one document per item to Elasticsearch behind an alias (when
ES_URL, --es-url or the settings' elasticsearch.url is set) and/or writes
the model as NDJSON (--out). With --indicators, publishes an existing model
export (this tool's, or a distributed build's directory) instead.

Settings:
  --config FILE          settings file (default $CCO_CONFIG; see
                         config/cco.schema.json); flags override it

Input:
  --events FILE          events file, plain or .gz (default: events.path)
  --indicators FILE|DIR  publish this exported model instead of building
${EVENT_FORMAT_HELP}
  --items FILE           item metadata to merge (CSV with an id/itemid column,
                         or NDJSON; default: items.path)
  --on-error fail|skip   malformed lines: stop with file:line (default), or
                         skip them and report how many
${BUILD_HELP}
Engine:
  --engine deno|spark    compute in this process (deno, default) or on
                         Apache Spark (spark/cco_job.py via spark-submit,
                         PySpark installed into ~/.cache/cco-es on first use):
                         the same model; --events may then be a directory or
                         Parquet. Needs --weights llr-idf|llr|none (learned,
                         the default, is not implemented on Spark); not with
                         --ridge, --min-events-per-user or rankings
  --spark-master URL     local[N] (default: spark.master in the settings,
                         else local[2]), yarn, k8s://..., spark://...; off
                         local mode --out DIR is required: a directory the
                         cluster writes (and this machine reads to publish)
  --spark-conf K=V       a Spark setting (repeatable; over spark.conf)

Memory and threads:
  --memory-budget SIZE   memory the build may use, e.g. 2G, 512M, or bytes
                         (default: half the machine's memory); past it the
                         build counts co-occurrences in item-partitioned
                         passes and keeps indicator rows in temporary files:
                         the model is the same
  --workers N            threads counting co-occurrences (default: one per
                         core; 0: the main thread only)
  --temp-dir DIR         where temporary files go (default: the system's)

Tuning (settings: tune):
  --tune                 carve a validation split out of the log, search the
                         settings above (and the history length and field
                         boosts served), record the best and its validation
                         figures in the model's manifest, and build with it
  --tune-protocol P      last-k (default: each user's last primary item held
                         out), stratified (per-user 75/25) or time (last 10%)
  --tune-budget X        time budget: the search stops (dropping a setting
                         under way) once it has taken X times its first
                         setting, counted from reading the log (about one
                         plain build; default 4; "none": no limit), and
                         keeps the best scored;
                         settings are scored on a seeded sample of at most
                         5000 validation users (settings: tune.maxUsers)

Output:
  --out FILE             write the model as NDJSON (.gz compresses); written
                         to a temporary name, renamed when complete. With
                         --engine spark, a path not ending in .ndjson or
                         .ndjson.gz is a model directory: Spark writes its
                         manifest.json and part-*.ndjson there
  --es-config FILE       JSON connection settings (url, apiKey, username,
                         password, caCert, caFingerprint, requestTimeoutMs);
                         default $CCO_ES_CONFIG; ES_* variables override it
  --es-url URL           Elasticsearch URL (default: $ES_URL)
  --alias NAME           alias queries use (default "cco-items"); each build
                         writes NAME_<timestamp>, verifies it (count, mapping
                         and a sample read back) and only then swaps the alias
  --keep N               complete indices kept for rollback, live one
                         included (default 2)
  --flush-bytes N        bulk request size (default 5000000)
  --concurrency N        concurrent bulk requests (default 2)
  --retries N            retries of a bulk request answered 429 (default 3)
  --shards N             primary shards (default: 1 per 200M indicators, see
                         README "Scale-out")
  --replicas N           index replicas (default 0)
  --allow-shrink         publish even if the model has fewer than half the
                         documents of the live index (elasticsearch.maxShrink,
                         default 0.5, is the share it may lose otherwise)
  --json                 print a JSON summary on stdout when done (progress
                         stays on stderr)
  -h, --help             this text

Builds of one alias run one at a time (a lock in the index cco-locks): a
second build waits for the first; a build that was killed holds the lock for
at most 30 s more, and the next build then removes its index.
`;

const FLAGS = {
  config: { type: "string" },
  events: { type: "string" },
  indicators: { type: "string" },
  ...EVENT_FORMAT_FLAGS,
  ...BUILD_FLAGS,
  "on-error": { type: "string" },
  "memory-budget": { type: "string" },
  workers: { type: "string" },
  "temp-dir": { type: "string" },
  tune: { type: "boolean", default: false },
  "tune-protocol": { type: "string" },
  "tune-budget": { type: "string" },
  items: { type: "string" },
  out: { type: "string" },
  engine: { type: "string" },
  "spark-master": { type: "string" },
  "spark-conf": { type: "string", multiple: true },
  "es-url": { type: "string" },
  "es-config": { type: "string" },
  alias: { type: "string" },
  keep: { type: "string" },
  "flush-bytes": { type: "string" },
  concurrency: { type: "string" },
  retries: { type: "string" },
  shards: { type: "string" },
  replicas: { type: "string" },
  "allow-shrink": { type: "boolean" },
  json: { type: "boolean", default: false },
} as const;

/**
 * Runs `build-index` with command-line arguments.
 *
 * @param args The arguments after the command name.
 */
export async function buildIndexCommand(args: string[]): Promise<void> {
  const flags = parseFlags(FLAGS, HELP, args);
  const settings = await loadSettings(flags.config);
  const es = settings.elasticsearch ?? {};
  const events = flags.events ?? settings.events?.path;
  if (events !== undefined && flags.indicators !== undefined) {
    throw new ConfigError("--events", "and --indicators are exclusive");
  }
  if (events === undefined && flags.indicators === undefined) {
    throw new ConfigError(
      "--events",
      "FILE (or --indicators FILE|DIR) is required (see --help)",
    );
  }
  // every flag is checked before any reading
  const { resolveConnection } = await import(
    "../elasticsearch/connection.ts"
  );
  const esUrl = resolveConnection(
    { url: flags["es-url"] ?? es.url },
    flags["es-config"],
  ).url;
  if (!esUrl && !flags.out) {
    throw new ConfigError(
      "",
      "nothing to write: set ES_URL (or --es-url) to index, and/or --out FILE",
    );
  }
  const engine = flags.engine ?? "deno";
  if (engine !== "deno" && engine !== "spark") {
    throw new ConfigError("--engine", `must be deno or spark, got "${engine}"`);
  }
  if (engine === "spark" && flags.indicators !== undefined) {
    throw new ConfigError(
      "--engine",
      "spark builds from --events; --indicators publishes a model as it is",
    );
  }
  if (
    engine === "deno" &&
    (flags["spark-master"] !== undefined || flags["spark-conf"]?.length)
  ) {
    throw new ConfigError(
      flags["spark-master"] !== undefined ? "--spark-master" : "--spark-conf",
      "needs --engine spark",
    );
  }
  const items = flags.items ?? settings.items?.path;
  const sparkDir = engine === "spark" && flags.out !== undefined &&
    !/\.ndjson(\.gz)?$/.test(flags.out);
  if (flags.out !== undefined && !sparkDir) {
    await checkOut(flags.out, [events, flags.indicators, items]);
  }
  for (const [flag, path] of [["--items", items], ["--events", events]]) {
    // Spark also reads a directory of logs, or Parquet
    const dirOk = flag === "--events" && engine === "spark";
    if (path !== undefined) await checkReadable(flag!, path, dirOk);
  }
  const memoryBudget = sizeFlag("memory-budget", flags["memory-budget"]);
  const workers = numberFlag("workers", flags.workers);
  if (workers !== undefined && workers < 0) {
    throw new ConfigError("--workers", `must be >= 0, got ${workers}`);
  }
  const tempDir = flags["temp-dir"];
  if (tempDir !== undefined) await checkWritableDir("--temp-dir", tempDir);
  const alias = flags.alias ?? es.alias ?? "cco-items";
  const publish = {
    keep: numberFlag("keep", flags.keep) ?? es.keep,
    flushBytes: numberFlag("flush-bytes", flags["flush-bytes"]) ??
      es.flushBytes,
    concurrency: numberFlag("concurrency", flags.concurrency) ??
      es.concurrency,
    retries: numberFlag("retries", flags.retries) ?? es.retries,
    shards: numberFlag("shards", flags.shards) ?? es.shards,
    replicas: numberFlag("replicas", flags.replicas) ?? es.replicas,
    maxShrink: es.maxShrink,
    allowShrink: flags["allow-shrink"] ?? false,
  };
  const { checkPublishOptions } = await import(
    "../elasticsearch/lifecycle.ts"
  );
  if (esUrl) checkPublishOptions(alias, publish);
  const onError = flags["on-error"] ?? settings.events?.onError ?? "fail";
  if (onError !== "fail" && onError !== "skip") {
    throw new ConfigError(
      "--on-error",
      `must be fail or skip, got "${onError}"`,
    );
  }
  const format = flags.indicators === undefined
    ? await eventFormat(flags, settings)
    : undefined;
  const options = format
    ? {
      ...buildOptions(flags, settings, format),
      ...(memoryBudget !== undefined ? { memoryBudget } : {}),
      ...(workers !== undefined ? { workers } : {}),
      ...(tempDir !== undefined ? { tempDir } : {}),
    }
    : undefined;
  const tuning = tuneOptions(flags, settings);
  if (tuning && engine === "spark") {
    throw new ConfigError(
      "--tune",
      "is not implemented by the Spark build: tune with --engine deno",
    );
  }
  const spark = engine === "spark"
    ? await sparkPlan(flags, settings, {
      events: events!,
      format: format!,
      options: options!,
      onError,
      publish: Boolean(esUrl),
    })
    : undefined;

  const { connect, redactUrl } = await import(
    "../elasticsearch/connection.ts"
  );
  // connect first: fail fast before a long build if the cluster is down
  const client = esUrl
    ? await connect({ url: esUrl, configFile: flags["es-config"] })
    : undefined;
  // what --json prints when done
  const summary: Record<string, unknown> = {};
  let sparkBuilt: SparkBuilt | undefined;
  let built: LazyIndicatorModel | undefined;
  try {
    let model: {
      manifest: ModelManifest;
      documents: Iterable<IndicatorDocument> | AsyncIterable<IndicatorDocument>;
    };
    let position: (id: string) => number | undefined;
    if (flags.indicators !== undefined) {
      const path = flags.indicators;
      const opened = await openModel(path);
      model = {
        manifest: opened.manifest!,
        documents: {
          // each pass reads the export again
          async *[Symbol.asyncIterator]() {
            yield* (await openModel(path)).documents;
          },
        },
      };
      await opened.documents.return(undefined);
      console.error(
        `publishing ${path}: ${model.manifest.counts.documents} documents, primary "${model.manifest.primaryEvent}", fields ${
          model.manifest.fields.map((f) => f.name).join(", ")
        }`,
      );
      position = () => undefined;
      if (items !== undefined) {
        // which items of the file have a document: one pass over the ids
        const wanted = await readItems(items, settings.items?.fields ?? {});
        const present = new Set<string>();
        for await (const doc of model.documents) {
          if (wanted.has(doc.id)) present.add(doc.id);
        }
        position = (id) => present.has(id) ? 0 : undefined;
      }
    } else if (spark) {
      sparkBuilt = await buildOnSpark(spark, flags.items, settings);
      model = sparkBuilt.model;
      position = () => undefined;
      if (sparkBuilt.out) summary.out = sparkBuilt.out;
    } else {
      built = await build(events!, format!, options!, onError, tuning);
      model = built;
      position = built.itemIndex;
    }
    if (items !== undefined && !spark) {
      const declared = settings.items?.fields ?? {};
      const merged = mergeItemsStreaming(
        model,
        await readItems(items, declared),
        position,
        declared,
      );
      merged.manifest.source = { ...merged.manifest.source, items };
      model = merged;
      console.error(
        `merged metadata of ${items}: ${merged.matched} items with events, ${merged.added} without (added with empty indicators)`,
      );
    }
    const count = model.manifest.counts.documents;
    if (flags.out && !spark) {
      const bar = progressBar("written", count);
      const written = await writeModel(flags.out, model, {
        onProgress: bar.update,
      });
      bar.done();
      console.error(
        `wrote ${written.documents} documents to ${flags.out}`,
      );
      summary.out = flags.out;
    }
    if (client) {
      const { publishIndex } = await import("../elasticsearch/lifecycle.ts");
      const progress = progressBar("indexed", count);
      const result = await publishIndex(client, alias, model, {
        ...publish,
        onProgress: progress.update,
        onLockWait: (holder) =>
          console.error(
            `waiting for ${holder.purpose} (${holder.owner}, since ${
              new Date(holder.acquired).toISOString()
            }) to finish`,
          ),
      });
      progress.done();
      summary.published = {
        index: result.index,
        alias: result.alias,
        previous: result.previous ?? null,
        deleted: result.deleted,
        documents: result.documents,
        millis: Math.round(result.millis),
      };
      console.error(
        `published ${result.documents} documents as "${result.index}" ` +
          `(alias "${result.alias}"${
            result.previous ? `, was "${result.previous}"` : ""
          }) at ${redactUrl(esUrl!)} in ${ms(result.millis)}` +
          (result.deleted.length
            ? `; deleted ${result.deleted.join(", ")}`
            : ""),
      );
    }
    if (flags.json) {
      const { manifest } = model;
      console.log(JSON.stringify({
        documents: count,
        primaryEvent: manifest.primaryEvent,
        fields: manifest.fields.map((f) => ({
          name: f.name,
          rows: f.rows,
          columns: f.columns,
          indicators: f.indicators,
        })),
        counts: manifest.counts,
        metadata: manifest.metadata,
        ...summary,
      }));
    }
  } finally {
    built?.release();
    await client?.close();
    await sparkBuilt?.cleanup();
  }
}

async function build(
  events: string,
  format: Awaited<ReturnType<typeof eventFormat>>,
  options: BuildOptions,
  onError: "fail" | "skip",
  tuning: TunedBuildOptions | undefined,
): Promise<LazyIndicatorModel> {
  const skipped: SkipReport = { count: 0, first: [] };
  const accepted = acceptNamed(format.format, namedEvents(options));
  const source = { events, format: format.name };
  const model = tuning
    ? await tunedBuild(
      events,
      accepted,
      options,
      onError,
      skipped,
      source,
      tuning,
    )
    : await streamingBuild(events, accepted, options, onError, skipped, source);
  const { manifest, fields, stats } = model;
  if (manifest.tuning) {
    console.error(`tuned: ${JSON.stringify(manifest.tuning)}`);
  }
  if (skipped.count > 0) {
    console.error(
      `skipped ${skipped.count} malformed lines, e.g. ${
        skipped.first.map((e) => e.message).join("; ")
      }`,
    );
  }
  console.error(
    `events per type: ${JSON.stringify(stats.eventsRead)}; ` +
      `${stats.users} users, ${stats.items} items; read ${
        ms(stats.millis.read)
      }, indicators ${
        ms(stats.millis.indicators)
      }; primary "${manifest.primaryEvent}"`,
  );
  if (stats.learnedWeightsSkipped) {
    const { work, limit } = stats.learnedWeightsSkipped;
    console.error(
      `learned weights skipped: they would read ${work.toExponential(1)} ` +
        `user entries, past the default limit ${limit.toExponential(0)} ` +
        `(their work grows with the square of the log); the history fields ` +
        `keep llr-idf weights; pass --weights learned to learn them anyway`,
    );
  }
  for (const name of fields) {
    const f = stats.fields[name];
    console.error(
      `  ${
        name.padEnd(24)
      } ${f.rows} × ${f.columns}: ${f.pairsScored} pairs scored, ` +
        `${f.indicatorsKept} kept, ${ms(f.millis)}${
          f.passes > 1 ? ` in ${f.passes} passes` : ""
        }`,
    );
  }
  return model;
}

// the streaming build: column batches, parsed in another thread
async function streamingBuild(
  events: string,
  format: EventFormat,
  options: BuildOptions,
  onError: "fail" | "skip",
  skipped: SkipReport,
  source: { events: string; format?: string },
): Promise<LazyIndicatorModel> {
  const size = (await Deno.stat(events)).size;
  let field: ReturnType<typeof progressBar> | undefined;
  let fieldName = "";
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  console.error(`memory budget ${(budget / 2 ** 30).toFixed(1)} GiB`);
  const model = await buildIndicatorsLazily(
    readWithProgress(
      `reading ${events}`,
      size,
      events,
      format,
      options,
      onError,
      skipped,
    ),
    {
      ...options,
      memoryBudget: budget,
      // about 34 bytes a line, a third of that compressed
      expectedEvents: size / (events.endsWith(".gz") ? 10 : 34),
      source,
      onProgress: (p) => {
        const label = `${p.field}${
          p.passes > 1 ? ` (pass ${p.pass}/${p.passes})` : ""
        }: row interactions`;
        if (label !== fieldName) {
          field?.done();
          fieldName = label;
          field = progressBar(label, p.total);
        }
        field!.update(p.done);
      },
    },
  );
  field?.done();
  return model;
}

// the events' column batches, parsed in another thread (while this one
// interns ids) when there is a core for it, with a progress bar in bytes
async function* readWithProgress(
  label: string,
  size: number,
  events: string,
  format: EventFormat,
  options: BuildOptions,
  onError: "fail" | "skip",
  skipped: SkipReport,
): AsyncGenerator<EventColumns> {
  let eventsRead = 0;
  const reading = progressBar(label, size, {
    unit: "bytes",
    detail: () => `events: ${eventsRead.toLocaleString("en")}`,
  });
  for await (
    const batch of readEventColumns(events, format, {
      onError,
      skipped,
      onProgress: (read) => reading.update(read),
      parallel: options.workers !== 0 &&
        (navigator.hardwareConcurrency ?? 1) > 1,
    })
  ) {
    eventsRead += batch.length;
    yield batch;
  }
  reading.done();
}

// --tune: the log in typed columns, a validation split, the search on a
// sample of its users under the time budget, then the build
async function tunedBuild(
  events: string,
  format: EventFormat,
  options: BuildOptions,
  onError: "fail" | "skip",
  skipped: SkipReport,
  source: { events: string; format?: string },
  tuning: TunedBuildOptions,
): Promise<LazyIndicatorModel> {
  const model = await buildTuned(
    readWithProgress(
      `reading ${events} (tuning holds it in typed columns)`,
      (await Deno.stat(events)).size,
      events,
      format,
      options,
      onError,
      skipped,
    ),
    {
      ...options,
      memoryBudget: options.memoryBudget ?? defaultMemoryBudget(),
      source,
    },
    tuning,
  );
  if (model.tuning.stopped) {
    console.error(`tuning stopped: ${model.tuning.stopped}; kept the best`);
  }
  return model;
}

async function checkReadable(flag: string, path: string, dirOk = false) {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory && !dirOk) {
      throw new ConfigError(flag, `${path} is a directory`);
    }
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(
      flag,
      `cannot read ${path}: ${String((error as Error).message).split("\n")[0]}`,
    );
  }
}

async function checkWritableDir(flag: string, dir: string) {
  const probe = `${dir}/.cco-write-test-${Deno.pid}-${crypto.randomUUID()}`;
  try {
    (await Deno.open(probe, { write: true, createNew: true })).close();
    await Deno.remove(probe);
  } catch (error) {
    throw new ConfigError(
      flag,
      `cannot write in ${dir}: ${
        String((error as Error).message).split("\n")[0]
      }`,
    );
  }
}

/** A Spark build, checked before anything runs. */
interface SparkPlan {
  build: SparkBuildOptions;
  run: SparkRunOptions;
  /** `--out` when it names a model directory: Spark writes there. */
  dir?: string;
  /** `--out` when it names an NDJSON file: converted from Spark's output. */
  file?: string;
  /** Whether the model is published (so the output must be readable here). */
  publish: boolean;
}

/** What a Spark build gives the rest of the command. */
interface SparkBuilt {
  model: {
    manifest: ModelManifest;
    documents: IndicatorDocument[] | AsyncIterable<IndicatorDocument>;
  };
  count: number;
  /** The export written (`--out`), if any. */
  out?: string;
  cleanup: () => Promise<void>;
}

/**
 * Checks a Spark build (`--engine spark`) before any work: the build
 * options are those of the Deno build, minus what the Spark job does not
 * implement (refused, never ignored); the master, the settings and where
 * the output goes. The Deno build's default weighting (learned) is one of
 * those: `--engine spark` needs `--weights` (or the settings' `weights`),
 * so that the same flags build the same model on both engines.
 */
async function sparkPlan(
  flags: {
    out?: string;
    items?: string;
    "spark-master"?: string;
    "spark-conf"?: string[];
    "min-events-per-user"?: string;
    ridge?: string;
    weights?: string;
  },
  settings: Settings,
  what: {
    events: string;
    format: Awaited<ReturnType<typeof eventFormat>>;
    options: BuildOptions;
    onError: "fail" | "skip";
    publish: boolean;
  },
): Promise<SparkPlan> {
  const { options } = what;
  const unsupported = (key: string, flag: string | undefined) => {
    throw new ConfigError(
      flag ?? key,
      "is not implemented by the Spark build (--engine spark): leave it out, or build with --engine deno",
    );
  };
  if (options.minEventsPerUser !== undefined) {
    unsupported(
      "minEventsPerUser",
      flags["min-events-per-user"] !== undefined
        ? "--min-events-per-user"
        : undefined,
    );
  }
  if (options.rankings?.length) unsupported("rankings", undefined);
  if (options.ridge !== undefined) {
    unsupported("ridge", flags.ridge !== undefined ? "--ridge" : undefined);
  }
  const weights = options.weights;
  if (weights === undefined) {
    // not learned weights on the quiet: a model other than --engine deno's
    throw new ConfigError(
      "--weights",
      "is required with --engine spark: the default, learned, is not implemented by the Spark build; pass --weights llr-idf (or llr, none), and the same to --engine deno for the same model",
    );
  }
  if (weights === "learned") {
    throw new ConfigError(
      flags.weights !== undefined ? "--weights learned" : "weights learned",
      "is not implemented by the Spark build (--engine spark): use llr-idf, llr or none, or build with --engine deno",
    );
  }
  const known = new Set([
    "primaryEvent",
    "secondaryEvents",
    "similarEvent",
    "minRootLlr",
    "significance",
    "maxIndicatorsPerItem",
    "maxHistoryPerUser",
    "fields",
    "weights",
    "rankings",
    "minEventsPerUser",
  ]);
  for (const [key, value] of Object.entries(options)) {
    if (!known.has(key) && value !== undefined) unsupported(key, undefined);
  }
  const master = flags["spark-master"] ?? settings.spark?.master;
  const conf: Record<string, string> = {};
  for (const [k, v] of Object.entries(settings.spark?.conf ?? {})) {
    conf[k] = String(v);
  }
  for (const kv of flags["spark-conf"] ?? []) {
    const eq = kv.indexOf("=");
    if (eq <= 0) {
      throw new ConfigError(
        "--spark-conf",
        `must look like key=value, got "${kv}"`,
      );
    }
    conf[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  const out = flags.out;
  const dir = out !== undefined && !/\.ndjson(\.gz)?$/.test(out)
    ? out
    : undefined;
  const local = master === undefined || master.startsWith("local");
  if (!local && dir === undefined) {
    throw new ConfigError(
      "--out",
      `DIR is needed with --spark-master ${master}: a directory the cluster writes and this machine reads (a local temporary one is not)`,
    );
  }
  const remote = dir !== undefined && /^[A-Za-z][\w+.-]*:\/\//.test(dir) &&
    !dir.startsWith("file://");
  if (remote && what.publish) {
    throw new ConfigError(
      "--out",
      `${dir} cannot be read here to publish it: leave ES_URL unset, then copy the directory and run build-index --indicators DIR`,
    );
  }
  if (
    dir !== undefined &&
    (flags.items !== undefined || settings.items?.path !== undefined)
  ) {
    throw new ConfigError(
      "--items",
      `with --engine spark and --out DIR: the directory holds the model as Spark computed it; merge the items when publishing it (build-index --indicators ${dir} --items FILE), or give --out FILE.ndjson`,
    );
  }
  if (dir !== undefined && !remote) await checkModelDir(dir, what.events);
  return {
    build: {
      events: what.events,
      out: dir ?? "",
      format: acceptNamed(what.format.format, namedEvents(options)),
      primaryEvent: options.primaryEvent,
      secondaryEvents: options.secondaryEvents,
      similarEvent: options.similarEvent,
      minRootLlr: options.minRootLlr,
      significance: options.significance,
      maxIndicatorsPerItem: options.maxIndicatorsPerItem,
      maxHistoryPerUser: options.maxHistoryPerUser,
      fields: options.fields,
      weights,
      onError: what.onError,
      source: { events: what.events, format: what.format.name },
    },
    run: { master, conf },
    dir,
    file: dir === undefined ? out : undefined,
    publish: what.publish,
  };
}

/**
 * Runs a Spark build: into `--out DIR`, or a temporary directory (then
 * converted to `--out FILE` and/or published, and removed). The documents
 * stream from the output directory (`openModel`), unless an items file is
 * merged into them.
 */
async function buildOnSpark(
  plan: SparkPlan,
  items: string | undefined,
  settings: Settings,
): Promise<SparkBuilt> {
  const { runSparkBuild } = await import("../spark/runner.ts");
  const temporary = plan.dir === undefined
    ? await Deno.makeTempDir({ prefix: "cco-spark-model-" })
    : undefined;
  const cleanup = async () => {
    if (temporary) await Deno.remove(temporary, { recursive: true });
  };
  try {
    const out = plan.dir ?? temporary!;
    console.error(
      `building on Spark (${
        plan.run.master ?? "local[2]"
      }): ${plan.build.events} -> ${out}`,
    );
    const result = await runSparkBuild({ ...plan.build, out }, plan.run);
    const { manifest } = result;
    if (result.skipped.count > 0) {
      console.error(
        `skipped ${result.skipped.count} malformed lines, e.g. ${
          result.skipped.first.join("; ")
        }`,
      );
    }
    console.error(
      `events per type: ${
        JSON.stringify(manifest.counts.events)
      }; ${manifest.counts.users} users, ${manifest.counts.items} items; Spark ${
        ms(result.seconds * 1000)
      }; primary "${manifest.primaryEvent}"`,
    );
    for (const f of manifest.fields) {
      console.error(
        `  ${f.name.padEnd(24)} ${f.rows} × ${f.columns}: ${f.indicators} kept`,
      );
    }
    if (plan.dir !== undefined && !plan.publish) {
      // nothing reads it here (it may be on the cluster's storage)
      return {
        model: { manifest, documents: [] },
        count: manifest.counts.documents,
        out: plan.dir,
        cleanup,
      };
    }
    const opened = await openModel(out);
    let model: SparkBuilt["model"] = {
      manifest: opened.manifest!,
      documents: opened.documents,
    };
    let count = model.manifest.counts.documents;
    if (items !== undefined || settings.items?.path !== undefined) {
      const all = {
        manifest: model.manifest,
        documents: await Array.fromAsync(model.documents),
      };
      const merged = await mergeItemsFile(all, items, settings);
      console.error(
        `merged metadata of ${merged!.path}: ${
          merged!.matched
        } items with events, ${
          merged!.added
        } without (added with empty indicators)`,
      );
      model = all;
      count = all.documents.length;
    }
    if (plan.file !== undefined) {
      const bar = progressBar("written", count);
      await writeModel(plan.file, model, { onProgress: bar.update });
      bar.done();
      console.error(`wrote ${count} documents to ${plan.file}`);
      if (!Array.isArray(model.documents)) {
        const again = await openModel(out);
        model = { manifest: model.manifest, documents: again.documents };
      }
    } else if (plan.dir !== undefined) {
      console.error(
        `wrote ${count} documents to ${plan.dir} (manifest.json and ${result.parts.length} parts)`,
      );
    }
    return { model, count, out: plan.dir ?? plan.file, cleanup };
  } catch (error) {
    await cleanup();
    throw error;
  }
}

// a Spark output directory must not be an input, its parent must exist,
// and it may only replace a previous model directory
async function checkModelDir(dir: string, events: string) {
  const path = dir.startsWith("file://") ? new URL(dir).pathname : dir;
  const real = async (p: string) => {
    try {
      return await Deno.realPath(p);
    } catch {
      return undefined;
    }
  };
  const target = await real(path);
  const source = await real(events);
  if (path === events || (target !== undefined && target === source)) {
    throw new ConfigError(
      "--out",
      `is the input ${events}: writing it would destroy it`,
    );
  }
  const trimmed = path.replace(/\/+$/, "");
  const slash = trimmed.lastIndexOf("/");
  const parent = slash < 0 ? "." : trimmed.slice(0, slash) || "/";
  if (!(await Deno.stat(parent).catch(() => undefined))?.isDirectory) {
    throw new ConfigError("--out", `directory ${parent} does not exist`);
  }
  if (target === undefined) return;
  if (!(await Deno.stat(target)).isDirectory) {
    throw new ConfigError(
      "--out",
      `${dir} is a file: with --engine spark, --out names a directory (or FILE.ndjson)`,
    );
  }
  for await (const entry of Deno.readDir(target)) {
    if (!/^(part-.*|manifest\.json|_SUCCESS|\..*\.crc)$/.test(entry.name)) {
      throw new ConfigError(
        "--out",
        `${dir} is not empty and not a model directory (has ${entry.name}); choose another --out`,
      );
    }
  }
}

// --tune and its options over the settings' tune, checked before reading
function tuneOptions(
  flags: {
    tune?: boolean;
    "tune-protocol"?: string;
    "tune-budget"?: string;
    indicators?: string;
  },
  settings: Settings,
): TunedBuildOptions | undefined {
  const protocol = flags["tune-protocol"] ?? settings.tune?.protocol;
  if (
    protocol !== undefined &&
    !["last-k", "stratified", "time"].includes(protocol)
  ) {
    throw new ConfigError(
      "--tune-protocol",
      `must be last-k, stratified or time, got "${protocol}"`,
    );
  }
  const budget = tuneBudgetFlag(flags["tune-budget"]) ??
    settings.tune?.budget;
  if (budget !== undefined && !(budget > 0)) {
    throw new ConfigError("tune.budget", "must be a positive number");
  }
  if (!flags.tune) {
    if (flags["tune-protocol"] ?? flags["tune-budget"]) {
      throw new ConfigError("--tune-protocol", "and --tune-budget need --tune");
    }
    return undefined;
  }
  if (flags.indicators !== undefined) {
    throw new ConfigError("--tune", "needs --events (it builds the model)");
  }
  return {
    protocol: protocol as TunedBuildOptions["protocol"],
    budget,
    maxUsers: settings.tune?.maxUsers,
    onProgress: (s, done) =>
      console.error(
        `  tuning ${done}: ${describeSetting(s)}: nDCG@10 ${
          s.ndcg.toFixed(4)
        } [${s.ndcgInterval.map((x) => x.toFixed(4)).join(", ")}]`,
      ),
  };
}

// --out must not overwrite an input, and its directory must exist
async function checkOut(out: string, inputs: (string | undefined)[]) {
  const real = async (p: string) => {
    try {
      return await Deno.realPath(p);
    } catch {
      return undefined;
    }
  };
  const target = await real(out);
  for (const input of inputs) {
    if (input === undefined) continue;
    const source = await real(input);
    if (out === input || (target !== undefined && target === source)) {
      throw new ConfigError(
        "--out",
        `is the input ${input}: writing it would destroy it`,
      );
    }
  }
  const slash = out.lastIndexOf("/");
  const dir = slash < 0 ? "." : out.slice(0, slash) || "/";
  let info: Deno.FileInfo | undefined;
  try {
    info = await Deno.stat(dir);
  } catch (error) {
    if (!(error instanceof Deno.errors.NotFound)) {
      throw new ConfigError(
        "--out",
        `cannot use directory ${dir}: ${
          String((error as Error).message).split("\n")[0]
        }`,
      );
    }
  }
  if (!info?.isDirectory) {
    throw new ConfigError("--out", `directory ${dir} does not exist`);
  }
  await checkWritableDir("--out", dir);
  if (target !== undefined && (await Deno.stat(target)).isDirectory) {
    throw new ConfigError("--out", `${out} is a directory`);
  }
}

function ms(millis: number): string {
  return millis < 1000
    ? `${millis.toFixed(0)} ms`
    : `${(millis / 1000).toFixed(2)} s`;
}

if (import.meta.main) await run(() => buildIndexCommand(Deno.args));
