/**
 * `cco build-index` (`deno task build-index`): read an events log, compute
 * every indicator field, and publish the model to Elasticsearch behind an
 * alias and/or export it as NDJSON; or publish an existing export.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { readEventBatches, type SkipReport } from "../events/read.ts";
import { buildIndicators, type BuildOptions } from "../indicators/build.ts";
import type { EventStream } from "../indicators/interactions.ts";
import {
  buildTuned,
  describeSetting,
  type TunedBuildOptions,
} from "../evaluate/tune.ts";
import type { Settings } from "../config/settings.ts";
import type { IndicatorDocument } from "../model/document.ts";
import type { Model, ModelManifest } from "../model/manifest.ts";
import { openModel, writeModel } from "../model/ndjson.ts";
import { loadSettings } from "../config/settings.ts";
import {
  numberFlag,
  parseFlags,
  progressBar,
  run,
  withProgress,
} from "./common.ts";
import {
  acceptNamed,
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
} from "./_format.ts";
import { BUILD_FLAGS, BUILD_HELP, buildOptions } from "./_build_options.ts";
import { mergeItemsFile } from "./_backend.ts";

const HELP = `
deno task build-index --events FILE [options]
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
Tuning (settings: tune):
  --tune                 carve a validation split out of the log, search the
                         settings above (and the history length and field
                         boosts served), record the best and its validation
                         figures in the model's manifest, and build with it
  --tune-protocol P      last-k (default: each user's last primary item held
                         out), stratified (per-user 75/25) or time (last 10%)
  --tune-budget X        stop starting new settings after X times the first
                         build (default 4)

Output:
  --out FILE             write the model as NDJSON (.gz compresses); written
                         to a temporary name, renamed when complete
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
  --shards N             primary shards (default 1)
  --replicas N           index replicas (default 0)
  -h, --help             this text
`;

const FLAGS = {
  config: { type: "string" },
  events: { type: "string" },
  indicators: { type: "string" },
  ...EVENT_FORMAT_FLAGS,
  ...BUILD_FLAGS,
  "on-error": { type: "string" },
  tune: { type: "boolean", default: false },
  "tune-protocol": { type: "string" },
  "tune-budget": { type: "string" },
  items: { type: "string" },
  out: { type: "string" },
  "es-url": { type: "string" },
  "es-config": { type: "string" },
  alias: { type: "string" },
  keep: { type: "string" },
  "flush-bytes": { type: "string" },
  concurrency: { type: "string" },
  retries: { type: "string" },
  shards: { type: "string" },
  replicas: { type: "string" },
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
  if (flags.out !== undefined) {
    await checkOut(flags.out, [events, flags.indicators, flags.items]);
  }
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
  const options = format ? buildOptions(flags, settings, format) : undefined;
  const tuning = tuneOptions(flags, settings);

  const { connect, redactUrl } = await import(
    "../elasticsearch/connection.ts"
  );
  // connect first: fail fast before a long build if the cluster is down
  const client = esUrl
    ? await connect({ url: esUrl, configFile: flags["es-config"] })
    : undefined;
  try {
    let model: {
      manifest: ModelManifest;
      documents: IndicatorDocument[] | AsyncIterable<IndicatorDocument>;
    };
    let count: number;
    if (flags.indicators !== undefined) {
      const opened = await openModel(flags.indicators);
      model = { manifest: opened.manifest!, documents: opened.documents };
      count = opened.manifest!.counts.documents;
      console.error(
        `publishing ${flags.indicators}: ${count} documents, primary "${model.manifest.primaryEvent}", fields ${
          model.manifest.fields.map((f) => f.name).join(", ")
        }`,
      );
      if (flags.items !== undefined || settings.items?.path !== undefined) {
        const all = {
          manifest: model.manifest,
          documents: await Array.fromAsync(model.documents),
        };
        await mergeItemsFile(all, flags.items, settings);
        model = all;
        count = all.documents.length;
      }
    } else {
      const built = await build(events!, format!, options!, onError, tuning);
      const merged = await mergeItemsFile(built, flags.items, settings);
      if (merged) {
        console.error(
          `merged metadata of ${merged.path}: ${merged.matched} items with events, ${merged.added} without (added with empty indicators)`,
        );
      }
      model = built;
      count = built.documents.length;
    }
    if (flags.out) {
      if (!Array.isArray(model.documents)) {
        model = {
          manifest: model.manifest,
          documents: await Array.fromAsync(model.documents),
        };
      }
      const bar = progressBar("written", count);
      await writeModel(flags.out, model, { onProgress: bar.update });
      bar.done();
      console.error(`wrote ${count} documents to ${flags.out}`);
    }
    if (client) {
      const { publishIndex } = await import("../elasticsearch/lifecycle.ts");
      const progress = progressBar("indexed", count);
      const result = await publishIndex(client, alias, model, {
        ...publish,
        onProgress: progress.update,
      });
      progress.done();
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
  } finally {
    await client?.close();
  }
}

async function build(
  events: string,
  format: Awaited<ReturnType<typeof eventFormat>>,
  options: ReturnType<typeof buildOptions>,
  onError: "fail" | "skip",
  tuning: TunedBuildOptions | undefined,
): Promise<Model<IndicatorDocument>> {
  console.error(`reading ${events}`);
  const skipped: SkipReport = { count: 0, first: [] };
  // --tune: the whole log in memory, a validation split, the search
  const { manifest, documents, fields, stats } =
    await (tuning
      ? (stream: EventStream, o: BuildOptions) => buildTuned(stream, o, tuning)
      : buildIndicators)(
        withProgress(
          readEventBatches(
            events,
            acceptNamed(format.format, [
              options.primaryEvent,
              ...options.secondaryEvents ?? [],
              options.similarEvent,
            ]),
            { onError, skipped },
          ),
          "events",
        ),
        { ...options, source: { events, format: format.name } },
      );
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
  for (const field of fields) {
    const f = stats.fields[field];
    console.error(
      `  ${
        field.padEnd(24)
      } ${f.rows} × ${f.columns}: ${f.pairsScored} pairs scored, ` +
        `${f.indicatorsKept} kept, ${ms(f.millis)}`,
    );
  }
  return { manifest, documents };
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
  const budget = numberFlag("tune-budget", flags["tune-budget"], false) ??
    settings.tune?.budget;
  if (budget !== undefined && !(budget > 0)) {
    throw new ConfigError("--tune-budget", "must be a positive number");
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
        `  tuning ${done}: ${describeSetting(s)}: nDCG@10 ${s.ndcg.toFixed(4)}`,
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
  } catch {
    info = undefined;
  }
  if (!info?.isDirectory) {
    throw new ConfigError("--out", `directory ${dir} does not exist`);
  }
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
