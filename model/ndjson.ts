/**
 * The model on disk: NDJSON, one JSON object per line, the
 * {@linkcode ModelManifest} first and then one {@linkcode IndicatorDocument}
 * per item. A single file (`model.ndjson`, or `model.ndjson.gz`
 * compressed), or a directory holding `manifest.json` and any number of
 * `*.ndjson` / `*.ndjson.gz` parts (what a distributed build writes).
 *
 * Both directions stream: {@linkcode writeModel} writes documents as they
 * come, to a temporary name renamed when complete (so a failed or
 * interrupted export never leaves a partial file under the final name), and
 * {@linkcode readDocuments} reads them line by line; no step holds the
 * whole text in one string.
 *
 * @example Round trip
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor } from "./manifest.ts";
 * import { readModel, writeModel } from "./ndjson.ts";
 *
 * const documents = [{ id: "a", indicators: ["b"], scores: { indicators: [5.5] } }];
 * const manifest = manifestFor(documents, { primaryEvent: "buy" });
 * const dir = await Deno.makeTempDir();
 * await writeModel(`${dir}/model.ndjson.gz`, { manifest, documents });
 * const model = await readModel(`${dir}/model.ndjson.gz`);
 * assert.deepEqual(model, { manifest, documents });
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @module
 */

import { ModelError } from "../errors/mod.ts";
import type { IndicatorDocument } from "./document.ts";
import { isIndicatorField } from "./fields.ts";
import {
  MANIFEST_FORMAT,
  manifestFor,
  type Model,
  type ModelManifest,
  parseManifest,
} from "./manifest.ts";
import { fileLines } from "./_lines.ts";

/** Whole NDJSON lines as bytes, and how many documents they hold. */
export interface NdjsonChunk {
  /** The lines, each ending in a line break. */
  bytes: Uint8Array;
  /** Documents (lines) in `bytes`. */
  documents: number;
}

/**
 * Documents that write their own NDJSON lines: exactly `JSON.stringify` of
 * each document and a line break, in order, made faster than from document
 * objects (a build's lazy documents write them from their typed rows).
 * {@linkcode writeModel} writes these lines when the documents have them.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor } from "./manifest.ts";
 * import { type NdjsonLines, writeModel } from "./ndjson.ts";
 *
 * const docs = [{ id: "a", indicators: ["b"], scores: { indicators: [5] } }];
 * const documents = Object.assign(docs, {
 *   *ndjsonLines() {
 *     const line = JSON.stringify(docs[0]) + "\n";
 *     yield { bytes: new TextEncoder().encode(line), documents: 1 };
 *   },
 * }) satisfies NdjsonLines;
 * const path = `${await Deno.makeTempDir()}/m.ndjson`;
 * await writeModel(path, { manifest: manifestFor(docs, { primaryEvent: "buy" }), documents });
 * const lines = (await Deno.readTextFile(path)).trim().split("\n");
 * assert.equal(lines[1], JSON.stringify(docs[0]));
 * ```
 */
export interface NdjsonLines {
  /**
   * The documents' lines, in chunks of whole lines.
   *
   * @returns The chunks, in document order.
   */
  ndjsonLines(): Iterable<NdjsonChunk>;
}

/** Options for {@linkcode writeModel}. */
export interface WriteOptions {
  /** Called with the number of documents written so far. */
  onProgress?: (documents: number) => void;
}

/**
 * Writes a model as NDJSON (gzip-compressed when `path` ends in `.gz`):
 * the manifest on the first line, then the documents as they come. The
 * file appears under `path` only when complete; on any failure (disk full,
 * unwritable directory, a failing document source) the temporary file is
 * removed and the error says what failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor } from "./manifest.ts";
 * import { writeModel } from "./ndjson.ts";
 *
 * const documents = [{ id: "a", indicators: [], scores: {} }];
 * const path = `${await Deno.makeTempDir()}/m.ndjson`;
 * const { documents: n } = await writeModel(path, {
 *   manifest: manifestFor(documents, { primaryEvent: "buy" }),
 *   documents,
 * });
 * assert.equal(n, 1);
 * const lines = (await Deno.readTextFile(path)).trim().split("\n");
 * assert.equal(JSON.parse(lines[0]).format, "cco-es/model");
 * assert.equal(lines[1], '{"id":"a","indicators":[],"scores":{}}');
 * ```
 *
 * @param path Destination file (`.gz` compresses).
 * @param model Manifest and documents (an array or any iterable).
 * @param options Progress callback.
 * @returns Documents and bytes written (before compression).
 * @throws {ModelError} When the file cannot be written.
 */
export async function writeModel(
  path: string,
  model: {
    manifest: ModelManifest;
    documents:
      | Iterable<IndicatorDocument>
      | AsyncIterable<IndicatorDocument>;
  },
  options: WriteOptions = {},
): Promise<{ documents: number; bytes: number }> {
  const slash = path.lastIndexOf("/");
  const dir = slash < 0 ? "." : path.slice(0, slash) || "/";
  const base = path.slice(slash + 1);
  const tmp = `${dir}/.${base}.${Deno.pid}.${
    crypto.randomUUID().slice(0, 8)
  }.tmp`;
  let file: Deno.FsFile;
  try {
    file = await Deno.open(tmp, { write: true, createNew: true });
  } catch (error) {
    throw new ModelError(`cannot write ${path}: ${oneLine(error)}`);
  }
  const encoder = new TextEncoder();
  let documents = 0;
  let bytes = 0;
  const sink = path.endsWith(".gz")
    ? gzipTo(file)
    : { write: (b: Uint8Array) => writeAll(file, b), close: () => {} };
  let buffer = "";
  const flush = async () => {
    if (buffer === "") return;
    const chunk = encoder.encode(buffer);
    buffer = "";
    bytes += chunk.length;
    await sink.write(chunk);
  };
  try {
    buffer = JSON.stringify(model.manifest) + "\n";
    const lines = linesOf(model.documents);
    if (lines) {
      await flush();
      // a chunk is written while the next is made
      let writing: Promise<void> | undefined;
      for (const chunk of lines.ndjsonLines()) {
        await writing;
        options.onProgress?.(documents);
        bytes += chunk.bytes.length;
        writing = sink.write(chunk.bytes);
        // (awaited next turn; a failure to make the next chunk wins)
        writing.catch(() => {});
        documents += chunk.documents;
      }
      await writing;
      options.onProgress?.(documents);
    } else {
      for await (const doc of model.documents) {
        buffer += JSON.stringify(doc) + "\n";
        documents++;
        if (buffer.length > 1 << 20) {
          await flush();
          options.onProgress?.(documents);
        }
      }
    }
    await flush();
    await sink.close();
    await file.sync();
    file.close();
    await Deno.rename(tmp, path);
  } catch (error) {
    try {
      file.close();
    } catch {
      // already closed
    }
    await Deno.remove(tmp).catch(() => {});
    if (error instanceof ModelError) throw error;
    throw new ModelError(`cannot write ${path}: ${oneLine(error)}`, {
      cause: error,
    });
  }
  options.onProgress?.(documents);
  return { documents, bytes };
}

function linesOf(documents: unknown): NdjsonLines | undefined {
  const lines = documents as Partial<NdjsonLines> | null;
  return typeof lines?.ndjsonLines === "function"
    ? lines as NdjsonLines
    : undefined;
}

async function writeAll(file: Deno.FsFile, bytes: Uint8Array) {
  let at = 0;
  while (at < bytes.length) at += await file.write(bytes.subarray(at));
}

function gzipTo(file: Deno.FsFile) {
  const gzip = new CompressionStream("gzip");
  const writer = gzip.writable.getWriter();
  const drained = (async () => {
    for await (const chunk of gzip.readable) await writeAll(file, chunk);
  })();
  // keep a failed drain from becoming an unhandled rejection before close
  drained.catch(() => {});
  return {
    write: async (bytes: Uint8Array) => {
      await writer.ready;
      await writer.write(bytes as Uint8Array<ArrayBuffer>);
    },
    close: async () => {
      await writer.close();
      await drained;
    },
  };
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(
    "\n",
  )[0];
}

/**
 * Reads a whole model into memory: the manifest and every document, from a
 * file or a directory of parts (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readModel } from "./ndjson.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/old.ndjson`, '{"id":"a","indicators":["b"]}\n');
 * // a file without a manifest (cco-es 0.1) needs its primary event named
 * await assert.rejects(() => readModel(`${dir}/old.ndjson`), /has no manifest/);
 * const model = await readModel(`${dir}/old.ndjson`, { primaryEvent: "buy" });
 * assert.equal(model.manifest.primaryEvent, "buy");
 * assert.deepEqual(model.documents, [{ id: "a", indicators: ["b"], scores: {} }]);
 * ```
 *
 * @param path A model file or directory.
 * @param options `primaryEvent` for a file without a manifest (the
 * manifest is then derived from the documents, see `manifestFor`).
 * @returns The model.
 * @throws {ModelError} For an unreadable or malformed model, naming the
 * file and line.
 */
export async function readModel(
  path: string,
  options: { primaryEvent?: string } = {},
): Promise<Model<IndicatorDocument>> {
  const { manifest, documents } = await openModel(path, options);
  const all: IndicatorDocument[] = [];
  for await (const doc of documents) all.push(doc);
  if (manifest) return { manifest, documents: all };
  return {
    manifest: manifestFor(all, { primaryEvent: options.primaryEvent! }),
    documents: all,
  };
}

/**
 * Opens a model for streaming: its manifest (read first) and an iterator
 * of its documents, validated line by line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { manifestFor } from "./manifest.ts";
 * import { openModel, writeModel } from "./ndjson.ts";
 *
 * const dir = await Deno.makeTempDir();
 * const documents = [{ id: "a", indicators: [], scores: {} }];
 * await writeModel(`${dir}/m.ndjson`, { manifest: manifestFor(documents, { primaryEvent: "buy" }), documents });
 * const model = await openModel(`${dir}/m.ndjson`);
 * assert.equal(model.manifest?.primaryEvent, "buy");
 * assert.deepEqual(await Array.fromAsync(model.documents), documents);
 * ```
 *
 * @param path A model file or directory.
 * @param options `primaryEvent`: accept a file without a manifest.
 * @returns The manifest (`undefined` for a file without one, when
 * `primaryEvent` allows it) and the documents.
 * @throws {ModelError} When the path cannot be read or has no manifest.
 */
export async function openModel(
  path: string,
  options: { primaryEvent?: string } = {},
): Promise<{
  manifest?: ModelManifest;
  documents: AsyncGenerator<IndicatorDocument>;
}> {
  let info: Deno.FileInfo;
  try {
    info = await Deno.stat(path);
  } catch (error) {
    throw new ModelError(`cannot read model ${path}: ${oneLine(error)}`);
  }
  if (info.isDirectory) return await openDirectory(path);
  const lines = fileLines(path, (m) => new ModelError(m));
  const first = await lines.next();
  let manifest: ModelManifest | undefined;
  let pending: [number, string] | undefined;
  if (!first.done) {
    const [n, text] = first.value;
    const value = parseLine(text, `${path}:${n}`);
    if (isManifest(value)) manifest = parseManifest(value, `${path}:${n}`);
    else pending = first.value;
  }
  if (!manifest && options.primaryEvent === undefined) {
    await lines.return(undefined);
    throw new ModelError(
      `${path} has no manifest on its first line (a model of cco-es 0.1?): rebuild it, or name its primary event`,
    );
  }
  async function* documents(): AsyncGenerator<IndicatorDocument> {
    if (pending) yield checkDocument(pending[1], `${path}:${pending[0]}`);
    for await (const [n, text] of lines) {
      yield checkDocument(text, `${path}:${n}`);
    }
  }
  return { manifest, documents: documents() };
}

async function openDirectory(dir: string) {
  let manifest: ModelManifest;
  const at = `${dir}/manifest.json`;
  try {
    manifest = parseManifest(JSON.parse(await Deno.readTextFile(at)), at);
  } catch (error) {
    if (error instanceof ModelError) throw error;
    throw new ModelError(`cannot read ${at}: ${oneLine(error)}`);
  }
  const parts: string[] = [];
  for await (const entry of Deno.readDir(dir)) {
    if (entry.isFile && /\.(nd)?json(l)?(\.gz)?$/.test(entry.name)) {
      if (entry.name !== "manifest.json") parts.push(`${dir}/${entry.name}`);
    }
  }
  parts.sort();
  if (parts.length === 0) {
    throw new ModelError(`${dir} has a manifest but no *.ndjson parts`);
  }
  async function* documents(): AsyncGenerator<IndicatorDocument> {
    for (const part of parts) {
      for await (
        const [n, text] of fileLines(part, (m) => new ModelError(m))
      ) {
        yield checkDocument(text, `${part}:${n}`);
      }
    }
  }
  return { manifest, documents: documents() };
}

function parseLine(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    throw new ModelError(`${where}: ${oneLine(error)}`);
  }
}

function isManifest(value: unknown): boolean {
  return typeof value === "object" && value !== null &&
    (value as { format?: unknown }).format === MANIFEST_FORMAT;
}

function checkDocument(text: string, where: string): IndicatorDocument {
  return parseIndicatorDocument(parseLine(text, where), where);
}

/**
 * Checks one parsed document: a string `id`, indicator fields as arrays of
 * strings, `scores` and `weights` aligned with them (weights positive),
 * `metadata` an object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseIndicatorDocument } from "./ndjson.ts";
 *
 * assert.deepEqual(
 *   parseIndicatorDocument({ id: "a", indicators: ["b"] }, "x:1"),
 *   { id: "a", indicators: ["b"], scores: {} },
 * );
 * assert.throws(
 *   () => parseIndicatorDocument({ id: "a", indicators_view: [1] }, "x:2"),
 *   /x:2: "indicators_view" must be an array of strings/,
 * );
 * ```
 *
 * @param value A parsed JSON value.
 * @param where `file:line`, for messages.
 * @returns The document.
 * @throws {ModelError} Naming `where` and the cause.
 */
export function parseIndicatorDocument(
  value: unknown,
  where: string,
): IndicatorDocument {
  const doc = value as Record<string, unknown>;
  if (typeof doc !== "object" || doc === null || typeof doc.id !== "string") {
    throw new ModelError(`${where}: expected an object with a string "id"`);
  }
  const out: Record<string, unknown> = { id: doc.id, indicators: [] };
  for (const [key, v] of Object.entries(doc)) {
    if (!isIndicatorField(key)) continue;
    if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
      throw new ModelError(`${where}: "${key}" must be an array of strings`);
    }
    out[key] = v;
  }
  const scores = doc.scores ?? {};
  if (
    typeof scores !== "object" || scores === null || Array.isArray(scores) ||
    !Object.values(scores).every((a) =>
      Array.isArray(a) && a.every((x) => typeof x === "number")
    )
  ) {
    throw new ModelError(
      `${where}: "scores" must map fields to arrays of numbers`,
    );
  }
  out.scores = scores;
  if (doc.weights !== undefined) {
    const weights = doc.weights as Record<string, unknown>;
    if (
      typeof weights !== "object" || weights === null || Array.isArray(weights)
    ) {
      throw new ModelError(`${where}: "weights" must be an object`);
    }
    for (const [field, w] of Object.entries(weights)) {
      const ids = out[field];
      if (
        !Array.isArray(ids) || !Array.isArray(w) ||
        w.length !== ids.length ||
        !w.every((x) => typeof x === "number" && x > 0)
      ) {
        throw new ModelError(
          `${where}: "weights.${field}" must be positive numbers, one per id of "${field}"`,
        );
      }
    }
    out.weights = weights;
  }
  if (doc.metadata !== undefined) {
    const m = doc.metadata;
    if (typeof m !== "object" || m === null || Array.isArray(m)) {
      throw new ModelError(`${where}: "metadata" must be an object`);
    }
    out.metadata = m;
  }
  return out as unknown as IndicatorDocument;
}
