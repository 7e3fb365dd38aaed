/**
 * Index lifecycle: every build writes a new versioned index
 * `<alias>_<yyyymmddhhmmssSSS>`, verifies it, and only then moves the alias
 * to it in one atomic `_aliases` call. Queries always go to the alias, so
 * they never see an empty, missing or half-built index.
 *
 * A build that loses a document, does not verify, times out or loses its
 * connection throws an {@linkcode IndexingError}; the alias stays where it
 * was and the new index is deleted. If even the delete fails (the cluster is
 * gone), the index is left behind marked `_meta.cco.state: "building"`:
 * {@linkcode listIndices} shows it as such, it never becomes live, and the
 * next successful build deletes it.
 *
 * Builds of one alias are serialized by a lock document with an owner and
 * a lease (index `cco-locks`): a second build waits for the first, and a
 * build killed mid-way leaves a lock that lapses after its lease (30 s by
 * default), after which the next build takes it over and deletes the
 * killed build's index. Rollback takes the lock too.
 *
 * The newest `keep` complete indices (default 2, the live one included) are
 * kept for {@linkcode rollback}.
 *
 * @example
 * ```ts ignore
 * import { Client } from "./client.ts";
 * import { publishIndex, rollback } from "./lifecycle.ts";
 *
 * const client = new Client({ node: "http://127.0.0.1:9200" });
 * const result = await publishIndex(client, "cco-items", documents);
 * // { index: "cco-items_20261124205601123", previous: "cco-items_2026...", ... }
 * await rollback(client, "cco-items"); // back to the previous build
 * ```
 *
 * @module
 */

import { type Client, clientError } from "./client.ts";
import {
  checkIndexOptions,
  indexDocuments,
  IndexingError,
  type IndexOptions,
} from "./indexing.ts";
import { toSource } from "./mapping.ts";
import { acquireLock, type Lock, type LockHolder } from "./_lock.ts";

export type { LockHolder } from "./_lock.ts";
import type { IndexableDocument } from "../model/document.ts";
import type { ModelManifest } from "../model/manifest.ts";
import { mulberry32 } from "../random/mod.ts";

/** Options for {@linkcode publishIndex}. */
export interface PublishOptions extends Omit<IndexOptions, "replace" | "meta"> {
  /** Complete indices to keep, the live one included (default 2). */
  keep?: number;
  /** Documents read back and compared before the swap (default 20). */
  verifySample?: number;
  /** Clock, for tests (default `() => new Date()`). */
  now?: () => Date;
  /**
   * Largest share of the live index's documents a new model may lose
   * (default 0.5): a smaller model is refused before the swap.
   */
  maxShrink?: number;
  /** Publish however much smaller the model is than the live index. */
  allowShrink?: boolean;
  /** Lease of the alias lock in milliseconds (default 30 000). */
  lockLeaseMs?: number;
  /** How long to wait for another build of the alias (default 30 minutes). */
  lockWaitMs?: number;
  /** Called once if another build holds the alias, with who. */
  onLockWait?: (holder: LockHolder) => void;
}

/** Outcome of {@linkcode publishIndex}. */
export interface PublishResult {
  /** The alias queries use. */
  alias: string;
  /** The new live index. */
  index: string;
  /** The index the alias pointed to before, if any. */
  previous?: string;
  /** Documents indexed and verified. */
  documents: number;
  /** Old indices deleted by retention. */
  deleted: string[];
  /** Wall time in milliseconds. */
  millis: number;
}

/** One versioned index of an alias. */
export interface IndexInfo {
  /** Index name. */
  index: string;
  /** Document count. */
  documents: number;
  /** Whether the alias points to it. */
  live: boolean;
  /** `complete`, or `building` for a build that never finished. */
  state: "complete" | "building";
}

const VALID_ALIAS = /^[a-z0-9][a-z0-9_-]*$/;

function checkAlias(alias: string) {
  if (!VALID_ALIAS.test(alias) || alias.length > 200) {
    throw new IndexingError(
      `invalid alias "${alias}": use lower-case letters, digits, _ and -`,
    );
  }
}

function stamp(date: Date): string {
  const p = (n: number, w = 2) => String(n).padStart(w, "0");
  return `${date.getUTCFullYear()}${p(date.getUTCMonth() + 1)}${
    p(date.getUTCDate())
  }${p(date.getUTCHours())}${p(date.getUTCMinutes())}${
    p(date.getUTCSeconds())
  }${p(date.getUTCMilliseconds(), 3)}`;
}

const VERSIONED = (alias: string) =>
  new RegExp(`^${alias.replace(/[-]/g, "\\-")}_\\d{17}$`);

/**
 * The versioned indices of `alias`, oldest first, with document counts and
 * which one is live.
 *
 * @example
 * ```ts ignore
 * import { listIndices } from "./lifecycle.ts";
 *
 * await listIndices(client, "cco-items");
 * // [{ index: "cco-items_2026...", documents: 235061, live: true, state: "complete" }]
 * ```
 *
 * @param client A connected client.
 * @param alias The alias.
 * @returns The indices, oldest first.
 */
export async function listIndices(
  client: Client,
  alias: string,
): Promise<IndexInfo[]> {
  checkAlias(alias);
  const live = new Set(await aliasTargets(client, alias));
  const rows = await client.cat.indices({
    index: `${alias}_*`,
    format: "json",
    h: ["index", "docs.count"],
    expand_wildcards: "open",
  });
  const names = rows.map((r) => r.index!).filter((n) =>
    VERSIONED(alias).test(n)
  )
    .sort();
  if (names.length === 0) return [];
  const mappings = await client.indices.getMapping({ index: names.join(",") });
  const count = new Map(rows.map((r) => [r.index!, Number(r["docs.count"])]));
  return names.map((index) => ({
    index,
    documents: count.get(index) ?? 0,
    live: live.has(index),
    state: (mappings[index]?.mappings?._meta as { cco?: { state?: string } })
        ?.cco?.state === "building"
      ? "building"
      : "complete",
  }));
}

async function aliasTargets(client: Client, alias: string): Promise<string[]> {
  try {
    const response = await client.indices.getAlias({ name: alias });
    return Object.keys(response);
  } catch (error) {
    if (
      (error as { meta?: { statusCode?: number } }).meta?.statusCode === 404
    ) {
      return [];
    }
    throw error;
  }
}

/**
 * Builds a new versioned index from a model, verifies it, swaps `alias` to
 * it atomically, then deletes indices beyond `keep`. The documents may be
 * an array or any (async) iterable: they are indexed as they come.
 *
 * One build per alias at a time: the build holds the alias's lock (see
 * `_lock.ts`) from before it creates its index until after the swap and
 * the clean-up, renewing its lease; a concurrent build waits for it, and
 * takes the lock over if its holder stops renewing (killed). So a build
 * never deletes another build's index in progress, and the clean-up
 * removes only indices marked `building` whose build is gone.
 *
 * Verification before the swap: the document count equals the number of
 * documents sent, a sample of documents read back equals what was sent,
 * and the index's mapping and manifest are the ones the build created. A
 * model that would shrink the live index by more than `maxShrink` (default
 * half its documents) is refused, before any indexing when the manifest
 * says how many documents it has, unless `allowShrink`.
 *
 * @example
 * ```ts ignore
 * import { publishIndex } from "./lifecycle.ts";
 *
 * const { index, previous } = await publishIndex(client, "cco-items", model);
 * ```
 *
 * @param client A connected client.
 * @param alias The alias queries use (must not be a concrete index).
 * @param model The manifest and the documents.
 * @param options Retention, verification sample, shrink guard, lock, bulk
 * tuning.
 * @returns What was published.
 * @throws {IndexingError} On any failure; the alias is then unchanged.
 */
export async function publishIndex(
  client: Client,
  alias: string,
  model: {
    manifest: ModelManifest;
    documents:
      | Iterable<IndexableDocument>
      | AsyncIterable<IndexableDocument>;
  },
  options: PublishOptions = {},
): Promise<PublishResult> {
  checkPublishOptions(alias, options);
  const keep = options.keep ?? 2;
  const t0 = performance.now();
  const lock = await acquireLock(client, alias, `a build of "${alias}"`, {
    leaseMs: options.lockLeaseMs,
    waitMs: options.lockWaitMs,
    onWait: options.onLockWait,
  });
  try {
    return await publishLocked(client, alias, model, options, keep, t0, lock);
  } finally {
    await lock.release();
  }
}

async function publishLocked(
  client: Client,
  alias: string,
  model: {
    manifest: ModelManifest;
    documents:
      | Iterable<IndexableDocument>
      | AsyncIterable<IndexableDocument>;
  },
  options: PublishOptions,
  keep: number,
  t0: number,
  lock: Lock,
): Promise<PublishResult> {
  let previous: string | undefined;
  let previousCount = 0;
  let index: string;
  try {
    if (
      await client.indices.exists({ index: alias, allow_no_indices: false })
    ) {
      const targets = await aliasTargets(client, alias);
      if (targets.length === 0) {
        throw new IndexingError(
          `"${alias}" is an index, not an alias: rename or delete it first`,
        );
      }
    }
    previous = (await aliasTargets(client, alias))[0];
    if (previous) {
      previousCount = (await client.count({ index: previous })).count;
    }
    index = `${alias}_${stamp((options.now ?? (() => new Date()))())}`;
    if (await client.indices.exists({ index })) {
      throw new IndexingError(`index "${index}" already exists`);
    }
  } catch (error) {
    if (error instanceof IndexingError) throw error;
    throw new IndexingError(
      `publishing "${alias}" failed: ${
        clientError(error, "checking the alias").message
      }`,
      0,
      { cause: error },
    );
  }
  await lock.describe(`building "${index}"`);
  const declared = model.manifest.counts?.documents;
  if (typeof declared === "number") {
    checkShrink(alias, previous, previousCount, declared, options);
  }
  const sample = new Sample(options.verifySample ?? 20);
  let swapped = false;
  try {
    const result = await indexDocuments(client, index, model, {
      ...options,
      meta: { state: "building", alias },
      onDocument: (doc, n) => {
        sample.offer(doc, n);
        options.onDocument?.(doc, n);
      },
    });
    checkShrink(alias, previous, previousCount, result.documents, options);
    await verifyIndex(client, index, model.manifest, sample.picks());
    await lock.check(); // still ours: nobody else builds or swaps
    await client.indices.putMapping({
      index,
      _meta: { cco: { state: "complete", alias, manifest: model.manifest } },
    });
    const actions: Record<string, { index: string; alias: string }>[] =
      (await aliasTargets(client, alias))
        .map((old) => ({ remove: { index: old, alias } }));
    actions.push({ add: { index, alias } });
    await client.indices.updateAliases({ actions });
    swapped = true;
    const deleted = await applyRetention(client, alias, keep);
    return {
      alias,
      index,
      previous,
      documents: result.documents,
      deleted,
      millis: performance.now() - t0,
    };
  } catch (error) {
    if (!swapped) {
      await client.indices.delete({ index, ignore_unavailable: true })
        .catch(() => {}); // unreachable: left marked "building"
    }
    if (error instanceof IndexingError) throw error;
    throw new IndexingError(
      `building "${index}" failed: ${clientError(error, "publishing").message}`,
      0,
      { cause: error },
    );
  }
}

// a model much smaller than the live index is refused, unless allowed
function checkShrink(
  alias: string,
  previous: string | undefined,
  previousCount: number,
  documents: number,
  options: PublishOptions,
) {
  if (!previous || options.allowShrink || previousCount === 0) return;
  const maxShrink = options.maxShrink ?? 0.5;
  if (documents >= previousCount * (1 - maxShrink)) return;
  const lost = (1 - documents / previousCount) * 100;
  throw new IndexingError(
    `the new model of "${alias}" has ${documents} documents and the live index "${previous}" ${previousCount}: ` +
      `it would lose ${
        lost.toFixed(1)
      }% of them, more than maxShrink ${maxShrink} allows (a broken or partial events file?); ` +
      `pass --allow-shrink (allowShrink) to publish it anyway`,
  );
}

/**
 * Checks publishing options before any work: the alias name, `keep`, the
 * bulk options.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkPublishOptions } from "./lifecycle.ts";
 *
 * checkPublishOptions("cco-items", { keep: 2 });
 * assert.throws(() => checkPublishOptions("BAD", {}), /invalid alias "BAD"/);
 * assert.throws(() => checkPublishOptions("cco-items", { keep: 0 }), /keep must be an integer >= 1, got 0/);
 * assert.throws(() => checkPublishOptions("cco-items", { maxShrink: 2 }), /maxShrink must be a number from 0 to 1, got 2/);
 * ```
 *
 * @param alias The alias.
 * @param options Publishing options.
 * @throws {IndexingError} For an option that cannot work.
 */
export function checkPublishOptions(
  alias: string,
  options: PublishOptions,
): void {
  checkAlias(alias);
  const keep = options.keep ?? 2;
  if (!Number.isInteger(keep) || keep < 1) {
    throw new IndexingError(`keep must be an integer >= 1, got ${keep}`);
  }
  const sample = options.verifySample ?? 20;
  if (!Number.isInteger(sample) || sample < 0) {
    throw new IndexingError(
      `verifySample must be an integer >= 0, got ${sample}`,
    );
  }
  const shrink = options.maxShrink;
  if (
    shrink !== undefined &&
    !(typeof shrink === "number" && shrink >= 0 && shrink <= 1)
  ) {
    throw new IndexingError(
      `maxShrink must be a number from 0 to 1, got ${shrink}`,
    );
  }
  for (const key of ["lockLeaseMs", "lockWaitMs"] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new IndexingError(`${key} must be an integer >= 1, got ${v}`);
    }
  }
  checkIndexOptions(options);
}

// a seeded reservoir sample of the documents sent, plus the last one
class Sample {
  #size: number;
  #picks: IndexableDocument[] = [];
  #last?: IndexableDocument;
  #random = mulberry32(0x5eed);

  constructor(size: number) {
    this.#size = size;
  }

  offer(doc: IndexableDocument, n: number) {
    this.#last = doc;
    if (this.#size === 0) return;
    if (this.#picks.length < this.#size) this.#picks.push(doc);
    else {
      const j = Math.floor(this.#random() * n);
      if (j < this.#size) this.#picks[j] = doc;
    }
  }

  picks(): IndexableDocument[] {
    return this.#last && this.#size > 0
      ? [...this.#picks, this.#last]
      : this.#picks;
  }
}

async function verifyIndex(
  client: Client,
  index: string,
  manifest: ModelManifest,
  picks: IndexableDocument[],
) {
  // the mapping must be the strict one this build created, with its manifest
  const mapping = await client.indices.getMapping({ index });
  const got = mapping[index]?.mappings as
    | { dynamic?: unknown; _meta?: { cco?: { manifest?: unknown } } }
    | undefined;
  if (
    String(got?.dynamic) !== "strict" ||
    canonicalJson(got?._meta?.cco?.manifest) !== canonicalJson(manifest)
  ) {
    throw new IndexingError(
      `index "${index}" does not have the mapping this build created (was it replaced under the build?)`,
    );
  }
  if (picks.length === 0) return;
  const { docs } = await client.mget({
    index,
    ids: picks.map((d) => d.id),
  });
  docs.forEach((doc, i) => {
    const want = toSource(picks[i]);
    const source = "found" in doc && doc.found ? doc._source : undefined;
    if (JSON.stringify(source) !== JSON.stringify(want)) {
      throw new IndexingError(
        `index "${index}" does not return document "${
          picks[i].id
        }" as it was sent`,
      );
    }
  });
}

// JSON with every object's keys sorted: Elasticsearch returns `_meta`
// objects with their keys in another order than they were sent
function canonicalJson(value: unknown): string | undefined {
  return JSON.stringify(
    value,
    (_, v) =>
      typeof v === "object" && v !== null && !Array.isArray(v)
        ? Object.fromEntries(
          Object.entries(v).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0),
        )
        : v,
  );
}

async function applyRetention(
  client: Client,
  alias: string,
  keep: number,
): Promise<string[]> {
  const all = await listIndices(client, alias);
  const complete = all.filter((i) => i.state === "complete");
  const doomed = [
    ...complete.slice(0, Math.max(0, complete.length - keep)),
    ...all.filter((i) => i.state === "building"),
  ].filter((i) => !i.live).map((i) => i.index);
  if (doomed.length > 0) {
    await client.indices.delete({ index: doomed.join(",") });
  }
  return doomed;
}

/**
 * Points `alias` back to the newest complete index older than the live one.
 *
 * @example
 * ```ts ignore
 * import { rollback } from "./lifecycle.ts";
 *
 * await rollback(client, "cco-items"); // { from: "..._2026...", to: "..._2026..." }
 * ```
 *
 * @param client A connected client.
 * @param alias The alias.
 * @param options The alias lock's lease and wait (a build in progress
 * finishes first).
 * @returns The indices the alias moved from and to.
 * @throws {IndexingError} When there is no live index or nothing older.
 */
export async function rollback(
  client: Client,
  alias: string,
  options: Pick<PublishOptions, "lockLeaseMs" | "lockWaitMs" | "onLockWait"> =
    {},
): Promise<{ from: string; to: string }> {
  checkAlias(alias);
  const lock = await acquireLock(client, alias, `a rollback of "${alias}"`, {
    leaseMs: options.lockLeaseMs,
    waitMs: options.lockWaitMs,
    onWait: options.onLockWait,
  });
  try {
    return await rollbackLocked(client, alias);
  } finally {
    await lock.release();
  }
}

async function rollbackLocked(
  client: Client,
  alias: string,
): Promise<{ from: string; to: string }> {
  const all = await listIndices(client, alias);
  const liveAt = all.findIndex((i) => i.live);
  if (liveAt < 0) {
    throw new IndexingError(`alias "${alias}" points to no index`);
  }
  const older = all.slice(0, liveAt).filter((i) => i.state === "complete");
  const to = older[older.length - 1];
  if (!to) {
    throw new IndexingError(
      `no earlier complete index of "${alias}" to roll back to`,
    );
  }
  const from = all[liveAt].index;
  await client.indices.updateAliases({
    actions: [
      { remove: { index: from, alias } },
      { add: { index: to.index, alias } },
    ],
  });
  return { from, to: to.index };
}
