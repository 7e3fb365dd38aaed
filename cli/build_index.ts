/**
 * `cco build-index` (`deno task build-index`): read an events log, compute
 * every indicator field, and publish the model to Elasticsearch behind an
 * alias and/or export it as NDJSON; or publish an existing export.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { readEventColumns, type SkipReport } from "../events/read.ts";
import type { EventColumns } from "../events/columns.ts";
import {
  buildIndicatorsLazily,
  type BuildOptions,
  defaultMemoryBudget,
  type LazyIndicatorModel,
} from "../indicators/build.ts";
import type { IndicatorDocument } from "../model/document.ts";
import type { ModelManifest } from "../model/manifest.ts";
import { openModel, writeModel } from "../model/ndjson.ts";
import { mergeItemsStreaming, readItems } from "../model/items.ts";
import { loadSettings } from "../config/settings.ts";
import {
  numberFlag,
  parseFlags,
  progressBar,
  run,
  sizeFlag,
} from "./common.ts";
import {
  acceptNamed,
  EVENT_FORMAT_FLAGS,
  EVENT_FORMAT_HELP,
  eventFormat,
} from "./_format.ts";
import { BUILD_FLAGS, BUILD_HELP, buildOptions } from "./_build_options.ts";

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
Memory and threads:
  --memory-budget SIZE   memory the build may use, e.g. 2G, 512M, or bytes
                         (default: half the machine's memory); past it the
                         build counts co-occurrences in item-partitioned
                         passes and keeps indicator rows in temporary files:
                         the model is the same
  --workers N            threads counting co-occurrences (default: one per
                         core; 0: the main thread only)
  --temp-dir DIR         where temporary files go (default: the system's)

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
  "memory-budget": { type: "string" },
  workers: { type: "string" },
  "temp-dir": { type: "string" },
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
  const items = flags.items ?? settings.items?.path;
  if (flags.out !== undefined) {
    await checkOut(flags.out, [events, flags.indicators, items]);
  }
  for (const [flag, path] of [["--items", items], ["--events", events]]) {
    if (path !== undefined) await checkReadable(flag!, path);
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

  const { connect, redactUrl } = await import(
    "../elasticsearch/connection.ts"
  );
  // connect first: fail fast before a long build if the cluster is down
  const client = esUrl
    ? await connect({ url: esUrl, configFile: flags["es-config"] })
    : undefined;
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
    } else {
      built = await build(events!, format!, options!, onError);
      model = built;
      position = built.itemIndex;
    }
    if (items !== undefined) {
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
    if (flags.out) {
      const bar = progressBar("written", count);
      const written = await writeModel(flags.out, model, {
        onProgress: bar.update,
      });
      bar.done();
      console.error(
        `wrote ${written.documents} documents to ${flags.out}`,
      );
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
    built?.release();
    await client?.close();
  }
}

async function build(
  events: string,
  format: Awaited<ReturnType<typeof eventFormat>>,
  options: BuildOptions,
  onError: "fail" | "skip",
): Promise<LazyIndicatorModel> {
  const skipped: SkipReport = { count: 0, first: [] };
  let eventsRead = 0;
  const size = (await Deno.stat(events)).size;
  const reading = progressBar(`reading ${events}`, size, {
    unit: "bytes",
    detail: () => `events: ${eventsRead.toLocaleString("en")}`,
  });
  async function* counted(
    batches: AsyncIterable<EventColumns>,
  ): AsyncGenerator<EventColumns> {
    for await (const batch of batches) {
      eventsRead += batch.length;
      yield batch;
    }
    reading.done();
  }
  let field: ReturnType<typeof progressBar> | undefined;
  let fieldName = "";
  const budget = options.memoryBudget ?? defaultMemoryBudget();
  console.error(`memory budget ${(budget / 2 ** 30).toFixed(1)} GiB`);
  const model = await buildIndicatorsLazily(
    counted(readEventColumns(
      events,
      acceptNamed(format.format, [
        options.primaryEvent,
        ...options.secondaryEvents ?? [],
        options.similarEvent,
      ]),
      {
        onError,
        skipped,
        onProgress: (read) => reading.update(read),
        // parse in another thread while this one interns ids
        parallel: options.workers !== 0 &&
          (navigator.hardwareConcurrency ?? 1) > 1,
      },
    )),
    {
      ...options,
      memoryBudget: budget,
      // about 34 bytes a line, a third of that compressed
      expectedEvents: size / (events.endsWith(".gz") ? 10 : 34),
      source: { events, format: format.name },
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
  const { manifest, fields, stats } = model;
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

async function checkReadable(flag: string, path: string) {
  try {
    const info = await Deno.stat(path);
    if (info.isDirectory && flag !== "--indicators") {
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
