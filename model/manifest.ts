/**
 * The model manifest: what a model is, recorded with it, so that nothing
 * downstream guesses. Every build writes one: in the index's `_meta` (key
 * `cco.manifest`), as the first line of an NDJSON export, or as
 * `manifest.json` beside the parts of a distributed build. Every consumer
 * (both recommenders, serve, recommend, eval) takes the primary event, the
 * event types and their fields, and the serving defaults from it.
 *
 * @example Which field a history event type queries
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyFields, manifestFor } from "./manifest.ts";
 *
 * const manifest = manifestFor(
 *   [{ id: "a", indicators: ["b"], indicators_view: ["c"], scores: {} }],
 *   { primaryEvent: "buy" },
 * );
 * assert.deepEqual([...historyFields(manifest)], [
 *   ["buy", "indicators"],
 *   ["view", "indicators_view"],
 * ]);
 * ```
 *
 * @module
 */

import config from "../deno.json" with { type: "json" };
import { ModelError } from "../errors/mod.ts";
import type { IndexableDocument } from "./document.ts";
import {
  crossOccurrenceField,
  EVENT_TYPE_NAME,
  indicatorFieldsOf,
  PRIMARY_FIELD,
  similarField,
} from "./fields.ts";

/** The value of {@linkcode ModelManifest.format}. */
export const MANIFEST_FORMAT = "cco-es/model";
/** The manifest layout version this library writes and reads. */
export const MANIFEST_VERSION = 1;
/**
 * This library's version, recorded in every manifest it writes and printed
 * by `cco --version`: the package's version in `deno.json`, its one source.
 */
export const TOOL_VERSION: string = config.version;

/**
 * How indicator strength is computed: counted from root LLR
 * (`indicators/weights.ts`) or learned by regression
 * (`indicators/learned.ts`).
 */
export type Weighting = "none" | "llr" | "llr-idf" | "learned";

/**
 * Types of item metadata fields: `keyword` (strings, compared as strings;
 * arrays allowed), `number` (double), `boolean`, `date` (ISO 8601 or unix
 * ms in, compared as instants).
 */
export type MetadataType = "keyword" | "number" | "boolean" | "date";

/** Every {@linkcode MetadataType}. */
export const METADATA_TYPES: readonly MetadataType[] = [
  "keyword",
  "number",
  "boolean",
  "date",
];

/** One indicator field of a model. */
export interface FieldManifest {
  /** Field name: `indicators`, `indicators_<S>` or `similar_<S>`. */
  name: string;
  /** Row event type (the primary, or the similar-items type). */
  rows: string;
  /** Column event type: the history event type that queries the field. */
  columns: string;
  /** Indicator strength: `none` is a BM25-scored keyword field. */
  weights: Weighting | "given";
  /** Threshold on signed root LLR the build used (absent when unknown). */
  minRootLlr?: number;
  /**
   * The significance level the threshold came from, when it was given as
   * one (`minRootLlr` is then the root of the χ²(1) quantile).
   */
  significance?: number;
  /** Ridge penalty of learned weights (`weights: "learned"`). */
  ridge?: number;
  /** Indicators kept per item (absent when unknown). */
  maxIndicatorsPerItem?: number;
  /** Indicators kept in all. */
  indicators: number;
}

/** Serving defaults recorded with a model (e.g. chosen by tuning). */
export interface ServingDefaults {
  /** History items used per event type. */
  maxQueryEvents?: number;
  /** Boost of each field's matches. */
  fieldBoosts?: Record<string, number>;
}

/**
 * A ranking a build computed into a number metadata field (see
 * `indicators/rankings.ts`).
 */
export interface RankingManifest {
  /** Metadata field. */
  name: string;
  /** What it measures: `popular`, `trending` or `hot`. */
  type: "popular" | "trending" | "hot";
  /** Event types counted. */
  eventNames: string[];
  /** Events or distinct users. */
  count: "events" | "users";
  /** Window length in ms (absent: all time). */
  durationMs?: number;
  /** Window end in unix ms, exclusive (absent: all time, or no events). */
  endMs?: number;
}

/** What a model is. */
export interface ModelManifest {
  /** Always {@linkcode MANIFEST_FORMAT}. */
  format: typeof MANIFEST_FORMAT;
  /** Manifest layout version ({@linkcode MANIFEST_VERSION}). */
  version: number;
  /** What wrote the model. */
  tool: {
    /** Always `cco-es`. */
    name: string;
    /** Its version. */
    version: string;
    /** `deno`, `spark`, or `import` for documents made elsewhere. */
    engine: string;
  };
  /** When the model was built (ISO 8601). */
  created: string;
  /** The event type recommendations predict; it queries `indicators`. */
  primaryEvent: string;
  /** The indicator fields, primary first. */
  fields: FieldManifest[];
  /** Most recent distinct items kept per user and event type, if known. */
  maxHistoryPerUser?: number;
  /** Users with fewer distinct interactions were left out of the build. */
  minEventsPerUser?: number;
  /** Figures of the build. */
  counts: {
    /** Events read per type. */
    events?: Record<string, number>;
    /** Users (N of the LLR tables). */
    users?: number;
    /** Items seen in the events. */
    items?: number;
    /** Documents in the model. */
    documents: number;
  };
  /** Where the model came from. */
  source?: {
    /** Events file or directory. */
    events?: string;
    /** Event format preset or `custom`. */
    format?: string;
    /** Items file merged. */
    items?: string;
  };
  /** Item metadata fields and their types. */
  metadata: Record<string, MetadataType>;
  /** Rankings computed into number metadata fields (e.g. `trending`). */
  rankings?: RankingManifest[];
  /** Serving defaults (override them per request or in settings). */
  serving?: ServingDefaults;
  /** Tuning results, when the build tuned its settings. */
  tuning?: Record<string, unknown>;
}

/** A model: its manifest and its documents. */
export interface Model<D extends IndexableDocument = IndexableDocument> {
  /** What the model is. */
  manifest: ModelManifest;
  /** One document per item. */
  documents: D[];
}

/**
 * The history event types a model answers, each with the field it queries:
 * the primary type → `indicators`, each secondary type S →
 * `indicators_<S>`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { historyFields, manifestFor } from "./manifest.ts";
 *
 * const m = manifestFor([{ id: "a", indicators: [] }], { primaryEvent: "like" });
 * assert.equal(historyFields(m).get("like"), "indicators");
 * ```
 *
 * @param manifest A model manifest.
 * @returns Field by event type, primary first.
 */
export function historyFields(manifest: ModelManifest): Map<string, string> {
  const out = new Map<string, string>();
  for (const f of manifest.fields) {
    if (f.rows === manifest.primaryEvent) out.set(f.columns, f.name);
  }
  return out;
}

/**
 * A manifest for documents made without one (by hand, by another tool, or
 * an export of cco-es 0.1): fields from the documents' properties, their
 * weighting from the presence of `weights`, metadata types from the values.
 * The primary event must be given: it cannot be read off documents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor } from "./manifest.ts";
 *
 * const m = manifestFor(
 *   [{ id: "a", indicators: ["b"], weights: { indicators: [2] }, metadata: { popularity: 3 } }],
 *   { primaryEvent: "transaction" },
 * );
 * assert.deepEqual(m.fields, [{
 *   name: "indicators", rows: "transaction", columns: "transaction",
 *   weights: "given", indicators: 1,
 * }]);
 * assert.deepEqual(m.metadata, { popularity: "number" });
 * ```
 *
 * @param documents The documents.
 * @param options The primary event type, and metadata types that the
 * values cannot tell (dates are strings).
 * @returns The manifest.
 * @throws {ModelError} For an unusable primary event name.
 */
export function manifestFor<D extends IndexableDocument>(
  documents: Iterable<D>,
  options: {
    primaryEvent: string;
    metadata?: Record<string, MetadataType>;
    engine?: string;
  },
): ModelManifest {
  const primary = options.primaryEvent;
  if (typeof primary !== "string" || !EVENT_TYPE_NAME.test(primary)) {
    throw new ModelError(
      `primary event ${
        JSON.stringify(primary)
      } cannot name a field (use letters, digits, _ or -)`,
    );
  }
  const counts = new Map<string, number>([[PRIMARY_FIELD, 0]]);
  const weighted = new Set<string>();
  const metadata: Record<string, MetadataType> = { ...options.metadata };
  let n = 0;
  for (const doc of documents) {
    n++;
    for (const [field, ids] of indicatorFieldsOf(doc)) {
      counts.set(field, (counts.get(field) ?? 0) + ids.length);
      if (doc.weights?.[field]) weighted.add(field);
    }
    for (const [key, value] of Object.entries(doc.metadata ?? {})) {
      if (options.metadata?.[key]) continue;
      metadata[key] ??= typeof value === "number"
        ? "number"
        : typeof value === "boolean"
        ? "boolean"
        : "keyword";
    }
  }
  const fields: FieldManifest[] = [...counts].map(([name, indicators]) => {
    const [rows, columns] = name === PRIMARY_FIELD
      ? [primary, primary]
      : name.startsWith("indicators_")
      ? [primary, name.slice("indicators_".length)]
      : [name.slice("similar_".length), name.slice("similar_".length)];
    return {
      name,
      rows,
      columns,
      weights: weighted.has(name) ? "given" : "none",
      indicators,
    };
  });
  return {
    format: MANIFEST_FORMAT,
    version: MANIFEST_VERSION,
    tool: {
      name: "cco-es",
      version: TOOL_VERSION,
      engine: options.engine ?? "import",
    },
    created: new Date().toISOString(),
    primaryEvent: primary,
    fields,
    counts: { documents: n },
    metadata,
  };
}

const isObject = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/**
 * Checks that a parsed value is a manifest this library can serve, with a
 * one-line error naming the key at fault.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor, parseManifest } from "./manifest.ts";
 *
 * const m = manifestFor([], { primaryEvent: "buy" });
 * assert.deepEqual(parseManifest(JSON.parse(JSON.stringify(m)), "x"), m);
 * assert.throws(
 *   () => parseManifest({ ...m, primaryEvent: 3 }, "model.ndjson:1"),
 *   /model.ndjson:1: manifest.primaryEvent must be an event type name/,
 * );
 * ```
 *
 * @param value A parsed JSON value.
 * @param where Where it came from, for messages (e.g. `file:1`).
 * @returns The manifest.
 * @throws {ModelError} When it is not a manifest.
 */
export function parseManifest(value: unknown, where: string): ModelManifest {
  const fail = (key: string, what: string): never => {
    throw new ModelError(`${where}: manifest${key} ${what}`);
  };
  if (!isObject(value)) fail("", "must be an object");
  const m = value as Record<string, unknown>;
  if (m.format !== MANIFEST_FORMAT) {
    fail(".format", `must be "${MANIFEST_FORMAT}"`);
  }
  if (m.version !== MANIFEST_VERSION) {
    fail(
      ".version",
      `is ${
        JSON.stringify(m.version)
      }; this cco-es reads version ${MANIFEST_VERSION} (rebuild the model)`,
    );
  }
  if (
    typeof m.primaryEvent !== "string" || !EVENT_TYPE_NAME.test(m.primaryEvent)
  ) {
    fail(".primaryEvent", "must be an event type name");
  }
  if (!Array.isArray(m.fields) || m.fields.length === 0) {
    fail(".fields", "must be a non-empty array");
  }
  const names = new Set<string>();
  (m.fields as unknown[]).forEach((f, i) => {
    const at = `.fields[${i}]`;
    if (!isObject(f)) fail(at, "must be an object");
    const field = f as Record<string, unknown>;
    for (const key of ["name", "rows", "columns"]) {
      if (typeof field[key] !== "string") {
        fail(`${at}.${key}`, "must be a string");
      }
    }
    const want =
      field.rows === m.primaryEvent && field.columns === m.primaryEvent
        ? PRIMARY_FIELD
        : field.rows === m.primaryEvent
        ? crossOccurrenceField(field.columns as string)
        : similarField(field.rows as string);
    if (field.name !== want) {
      fail(
        `${at}.name`,
        `must be "${want}" for ${field.rows} × ${field.columns}`,
      );
    }
    if (names.has(want)) fail(`${at}.name`, `repeats "${want}"`);
    names.add(want);
    if (
      !["none", "llr", "llr-idf", "learned", "given"].includes(
        field.weights as string,
      )
    ) {
      fail(`${at}.weights`, "must be none, llr, llr-idf, learned or given");
    }
  });
  if (!isObject(m.counts) || typeof m.counts.documents !== "number") {
    fail(".counts.documents", "must be a number");
  }
  if (!isObject(m.metadata)) fail(".metadata", "must be an object");
  for (const [k, t] of Object.entries(m.metadata as object)) {
    if (!METADATA_TYPES.includes(t)) {
      fail(`.metadata.${k}`, `must be one of ${METADATA_TYPES.join(", ")}`);
    }
  }
  if (!isObject(m.tool) || typeof m.tool.version !== "string") {
    fail(".tool.version", "must be a string");
  }
  return value as ModelManifest;
}
