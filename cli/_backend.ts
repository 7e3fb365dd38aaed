/**
 * Which backend `serve` and `recommend` answer from, decided in one place
 * and in one order: `--indicators FILE|DIR` (an exported model, embedded),
 * `--events FILE` (a model built now, embedded), else Elasticsearch
 * (`--es-url`, `ES_URL`, or the settings' `elasticsearch.url`) at the
 * alias. An explicit file always wins over an exported `ES_URL`.
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";
import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, readItems } from "../model/items.ts";
import { readModel } from "../model/ndjson.ts";
import type { Model } from "../model/manifest.ts";
import type { IndicatorDocument } from "../model/document.ts";
import {
  checkServingOptions,
  type Recommender,
  type ServingOptions,
} from "../serving/request.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { itemFieldTypes, type Settings } from "../config/settings.ts";
import { acceptNamed, eventFormat, type FormatFlags } from "./_format.ts";
import {
  type BuildFlags,
  buildOptions,
  namedEvents,
} from "./_build_options.ts";
import type { Client } from "../elasticsearch/client.ts";

/** The flags that choose a backend. */
export interface BackendFlags extends FormatFlags, BuildFlags {
  indicators?: string;
  events?: string;
  items?: string;
  "es-url"?: string;
  "es-config"?: string;
  alias?: string;
}

/** An open backend. */
export interface Backend {
  /** What answers requests. */
  recommender: Recommender;
  /** A one-line description, e.g. `embedded (model.ndjson)`. */
  label: string;
  /** The index or file served. */
  index?: string;
  /** The Elasticsearch client, when the backend is Elasticsearch. */
  client?: Client;
  /** Checks the backend (for `/health`). */
  healthCheck?: () => Promise<unknown>;
  /** Releases it. */
  close(): Promise<void>;
}

/**
 * The serving options of the settings (`serving`, and the availability
 * window's fields from `items`), flags over them, checked before any work.
 *
 * @param settings The settings file.
 * @param flags Values given by flags (undefined: not given).
 * @returns The options.
 * @throws {ConfigError} Naming the setting at fault.
 */
export function servingOptionsOf(
  settings: Settings,
  flags: ServingOptions = {},
): ServingOptions {
  const options: ServingOptions = {
    ...settings.serving as ServingOptions,
    ...(settings.items?.availableDateName !== undefined
      ? { availableDateName: settings.items.availableDateName }
      : {}),
    ...(settings.items?.expireDateName !== undefined
      ? { expireDateName: settings.items.expireDateName }
      : {}),
  };
  for (const [key, value] of Object.entries(flags)) {
    if (value !== undefined) (options as Record<string, unknown>)[key] = value;
  }
  try {
    checkServingOptions(options);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    const key = error.path.split(/[.[]/)[0];
    if ((flags as Record<string, unknown>)[key] !== undefined) throw error;
    const where = key.endsWith("DateName") ? "items" : "serving";
    throw new ConfigError(
      `${where}.${error.path}`,
      error.message.slice(error.path.length + 1),
    );
  }
  return options;
}

/**
 * Opens the backend the flags and settings name.
 *
 * @param flags Parsed flags.
 * @param settings The settings file.
 * @param serving Serving settings for the recommender.
 * @returns The backend.
 * @throws {ConfigError} When nothing names a backend, or a flag is wrong.
 */
export async function openBackend(
  flags: BackendFlags,
  settings: Settings,
  serving: ServingOptions,
): Promise<Backend> {
  if (flags.indicators !== undefined && flags.events !== undefined) {
    throw new ConfigError("--indicators", "and --events are exclusive");
  }
  if (flags.indicators !== undefined) {
    const model = await readModel(flags.indicators, {
      primaryEvent: flags.primary,
    });
    if (
      flags.primary !== undefined &&
      flags.primary !== model.manifest.primaryEvent
    ) {
      throw new ConfigError(
        "--primary",
        `is "${flags.primary}" but the model at ${flags.indicators} predicts "${model.manifest.primaryEvent}"`,
      );
    }
    await mergeItemsFile(model, flags.items, settings);
    return embedded(
      model,
      serving,
      `embedded (${flags.indicators})`,
      flags.indicators,
    );
  }
  if (flags.events !== undefined) {
    const format = await eventFormat(flags, settings);
    const options = buildOptions(flags, settings, format);
    const { manifest, documents } = await buildIndicators(
      readEventBatches(
        flags.events,
        acceptNamed(format.format, namedEvents(options)),
        { onError: settings.events?.onError },
      ),
      { ...options, source: { events: flags.events, format: format.name } },
    );
    const model = { manifest, documents };
    await mergeItemsFile(model, flags.items, settings);
    return embedded(
      model,
      serving,
      `embedded (built from ${flags.events})`,
      flags.events,
    );
  }
  // Elasticsearch only when asked for: the client is loaded on demand
  const { resolveConnection, connect, redactUrl } = await import(
    "../elasticsearch/connection.ts"
  );
  const url = resolveConnection(
    { url: flags["es-url"] ?? settings.elasticsearch?.url },
    flags["es-config"],
  ).url ?? settings.elasticsearch?.url;
  if (!url) {
    throw new ConfigError(
      "",
      "no backend: pass --indicators FILE or --events FILE, or set ES_URL (or --es-url)",
    );
  }
  const { ElasticsearchRecommender, readIndexManifest } = await import(
    "../elasticsearch/recommender.ts"
  );
  const alias = flags.alias ?? settings.elasticsearch?.alias ?? "cco-items";
  // serving fails fast: no retries on the one node (each waits 1 to 4 s),
  // so a cluster that refuses connections is a 503 at once, and the first
  // request after it is back succeeds
  const client = await connect({
    url,
    configFile: flags["es-config"],
    maxRetries: 0,
  });
  const recommender = new ElasticsearchRecommender(client, alias, serving);
  return {
    recommender,
    label: `elasticsearch ${redactUrl(url)} alias "${alias}"`,
    index: alias,
    client,
    // the cluster asked every time (not the cached manifest), within 2 s:
    // /health answers 503 before the request deadline's 504
    healthCheck: () =>
      readIndexManifest(client, alias, { signal: AbortSignal.timeout(2000) }),
    close: () => client.close(),
  };
}

/**
 * Merges the items file (`--items`, else the settings' `items.path`) into
 * a model, with the settings' declared field types.
 *
 * @param model The model.
 * @param flag `--items`.
 * @param settings The settings file.
 * @returns The file merged, if any, and the counts.
 */
export async function mergeItemsFile(
  model: Model<IndicatorDocument>,
  flag: string | undefined,
  settings: Settings,
): Promise<{ path: string; matched: number; added: number } | undefined> {
  const path = flag ?? settings.items?.path;
  if (path === undefined) return undefined;
  const declared = itemFieldTypes(settings);
  const counts = mergeItems(model, await readItems(path, declared), declared);
  model.manifest.source = { ...model.manifest.source, items: path };
  return { path, ...counts };
}

function embedded(
  model: Model,
  serving: ServingOptions,
  label: string,
  index: string,
): Backend {
  return {
    recommender: new EmbeddedRecommender(model, serving),
    label,
    index,
    close: () => Promise.resolve(),
  };
}
