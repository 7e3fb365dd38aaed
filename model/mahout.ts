/**
 * Import of Apache Mahout's similarity output as an indicator field, for
 * users who already run Mahout: `spark-itemsimilarity` (its indicator and
 * cross-indicator matrices) and `spark-rowsimilarity` write one text line
 * per item,
 *
 * ```text
 * itemID<TAB>itemID2:strength2 itemID3:strength3 ...
 * ```
 *
 * (Mahout's default delimiters; `--rowKeyDelim`, `--elementDelim` and
 * `--columnIdStrengthDelim` change them, and so do the options here). The
 * strengths are Mahout's log-likelihood ratios (raw LLR, never negative):
 * by default they become scores as their square root, the root LLR that
 * cco-es scores indicators with, so thresholds and weights read the same
 * (`strengths: "as-is"` keeps them). Each item's ids come strongest first,
 * ties by id.
 *
 * @example Mahout's purchase indicators as the `indicators` field
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeMahoutField, parseMahoutSimilarity } from "./mahout.ts";
 * import type { IndicatorDocument } from "./document.ts";
 *
 * const rows = parseMahoutSimilarity(
 *   "tent\tstove:25.0 lamp:16.0\nstove\ttent:25.0\n",
 *   "similarity-matrix/part-00000",
 * );
 * assert.deepEqual(rows.get("tent"), { ids: ["stove", "lamp"], scores: [5, 4] });
 *
 * const docs: IndicatorDocument[] = [];
 * assert.deepEqual(mergeMahoutField(docs, "indicators", rows), { matched: 0, added: 2 });
 * assert.deepEqual(docs[0], {
 *   id: "tent",
 *   indicators: ["stove", "lamp"],
 *   scores: { indicators: [5, 4] },
 * });
 * ```
 *
 * @module
 */

import { ModelError } from "../errors/mod.ts";
import type { IndicatorDocument } from "./document.ts";
import { indicatorFieldsOf, isIndicatorField } from "./fields.ts";

/** One item's row of a Mahout similarity matrix. */
export interface MahoutRow {
  /** Similar item ids, strongest first (ties by id). */
  ids: string[];
  /** Their scores, aligned with `ids`. */
  scores: number[];
}

/** How Mahout's text is laid out, and what its strengths become. */
export interface MahoutOptions {
  /** Between the row's item id and its elements (default tab). */
  rowKeyDelimiter?: string;
  /** Between elements (default a space; runs of it count as one). */
  elementDelimiter?: string;
  /** Between an element's item id and its strength (default `:`; the last one in the element counts). */
  strengthDelimiter?: string;
  /**
   * `"root-llr"` (default): strengths are raw LLRs (Mahout's), scores their
   * square roots; `"as-is"`: scores are the strengths.
   */
  strengths?: "root-llr" | "as-is";
}

/**
 * Parses Mahout similarity text into rows by item id.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMahoutSimilarity } from "./mahout.ts";
 *
 * const rows = parseMahoutSimilarity("a\tb:1.5 c:2.5\n", "x", { strengths: "as-is" });
 * assert.deepEqual(rows.get("a"), { ids: ["c", "b"], scores: [2.5, 1.5] });
 * assert.throws(
 *   () => parseMahoutSimilarity("a\tb:1\na b:2\n", "part-00000"),
 *   /^ModelError: part-00000:2: expected "item<TAB>item:strength \.\.\.", found no row key delimiter$/,
 * );
 * ```
 *
 * @param text The text of one file.
 * @param source Its name, for `source:line` in errors.
 * @param options Delimiters and what strengths become.
 * @returns One row per item, in file order.
 * @throws {ModelError} On a malformed line, naming `source:line` and the
 * cause, or for unknown options.
 */
export function parseMahoutSimilarity(
  text: string,
  source: string,
  options: MahoutOptions = {},
): Map<string, MahoutRow> {
  const rows = new Map<string, MahoutRow>();
  parseInto(rows, new Map(), text, source, options);
  return rows;
}

function parseInto(
  rows: Map<string, MahoutRow>,
  firstSeen: Map<string, string>,
  text: string,
  source: string,
  options: MahoutOptions,
): void {
  const key = options.rowKeyDelimiter ?? "\t";
  const element = options.elementDelimiter ?? " ";
  const strength = options.strengthDelimiter ?? ":";
  const mode = options.strengths ?? "root-llr";
  for (
    const [name, d] of [
      ["rowKeyDelimiter", key],
      ["elementDelimiter", element],
      ["strengthDelimiter", strength],
    ]
  ) {
    if (d === "") throw new ModelError(`mahout ${name} must not be empty`);
  }
  if (mode !== "root-llr" && mode !== "as-is") {
    throw new ModelError(
      `mahout strengths must be "root-llr" or "as-is", got "${mode}"`,
    );
  }
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i];
    if (line.endsWith("\r")) line = line.slice(0, -1);
    if (line.trim() === "") continue;
    const where = `${source}:${i + 1}`;
    const fail = (cause: string): never => {
      throw new ModelError(`${where}: ${cause}`);
    };
    const tab = line.indexOf(key);
    if (tab < 0) {
      fail(
        `expected "item${
          key === "\t" ? "<TAB>" : key
        }item${strength}strength ...", found no row key delimiter`,
      );
    }
    const id = line.slice(0, tab);
    if (id === "") fail("empty item id");
    const earlier = firstSeen.get(id);
    if (earlier) fail(`item "${id}" repeats (first at ${earlier})`);
    firstSeen.set(id, where);
    const entries: [string, number][] = [];
    const listed = new Set<string>();
    for (const part of line.slice(tab + key.length).split(element)) {
      if (part.trim() === "") continue;
      const colon = part.lastIndexOf(strength);
      if (colon < 0) {
        fail(`element "${part}" has no strength (id${strength}strength)`);
      }
      const other = part.slice(0, colon);
      const raw = part.slice(colon + strength.length);
      if (other === "") fail(`element "${part}" has an empty item id`);
      const value = raw.trim() === "" ? NaN : Number(raw);
      if (!Number.isFinite(value)) {
        fail(`strength "${raw}" of "${other}" is not a number`);
      }
      if (mode === "root-llr" && value < 0) {
        fail(`strength ${raw} of "${other}" is negative: not an LLR`);
      }
      if (listed.has(other)) fail(`"${other}" is listed twice`);
      listed.add(other);
      entries.push([other, mode === "root-llr" ? Math.sqrt(value) : value]);
    }
    entries.sort((a, b) =>
      b[1] - a[1] || (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
    );
    rows.set(id, {
      ids: entries.map((e) => e[0]),
      scores: entries.map((e) => e[1]),
    });
  }
}

/**
 * Reads Mahout similarity output: one file, or a directory of `part-*`
 * files (as Spark writes them), read in name order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readMahoutSimilarity } from "./mahout.ts";
 *
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/part-00000`, "a\tb:4.0\n");
 * await Deno.writeTextFile(`${dir}/part-00001`, "b\ta:4.0\n");
 * const rows = await readMahoutSimilarity(dir);
 * assert.deepEqual([...rows.keys()], ["a", "b"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 *
 * @param path A file or a directory.
 * @param options Delimiters and what strengths become.
 * @returns One row per item.
 * @throws {ModelError} On a malformed line (`file:line: cause`), an item in
 * two files, or an unreadable path.
 */
export async function readMahoutSimilarity(
  path: string,
  options: MahoutOptions = {},
): Promise<Map<string, MahoutRow>> {
  let files: string[];
  try {
    const info = await Deno.stat(path);
    files = info.isDirectory
      ? (await Array.fromAsync(Deno.readDir(path)))
        .filter((e) => e.isFile && e.name.startsWith("part-"))
        .map((e) => `${path.replace(/\/+$/, "")}/${e.name}`)
        .sort()
      : [path];
  } catch (error) {
    throw new ModelError(
      `${path}: cannot read: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  if (files.length === 0) {
    throw new ModelError(`${path}: no part-* files in the directory`);
  }
  const rows = new Map<string, MahoutRow>();
  const firstSeen = new Map<string, string>();
  for (const file of files) {
    parseInto(rows, firstSeen, await Deno.readTextFile(file), file, options);
  }
  return rows;
}

/**
 * Sets one indicator field of documents from Mahout rows, in place: every
 * document gets the field (empty when Mahout lists nothing for it) with its
 * scores, replacing the field if it was there (and its weights, which
 * would no longer align); items only Mahout knows are added as documents
 * with every other field empty. Key order stays that of an export (id,
 * fields, scores, weights, metadata).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mergeMahoutField } from "./mahout.ts";
 * import type { IndicatorDocument } from "./document.ts";
 *
 * const docs: IndicatorDocument[] = [
 *   { id: "a", indicators: ["b"], scores: { indicators: [6] }, metadata: { popularity: 2 } },
 * ];
 * const rows = new Map([["a", { ids: ["c"], scores: [3] }]]);
 * assert.deepEqual(mergeMahoutField(docs, "indicators_view", rows), { matched: 1, added: 0 });
 * assert.deepEqual(Object.keys(docs[0]), ["id", "indicators", "indicators_view", "scores", "metadata"]);
 * assert.deepEqual(docs[0].scores, { indicators: [6], indicators_view: [3] });
 * ```
 *
 * @param documents The documents (changed in place; new ones appended).
 * @param field The field: `indicators`, `indicators_<type>` or `similar_<type>`.
 * @param rows Mahout's rows by item id.
 * @returns Documents that Mahout lists, and documents added.
 * @throws {ModelError} When `field` is not an indicator field name.
 */
export function mergeMahoutField(
  documents: IndicatorDocument[],
  field: string,
  rows: ReadonlyMap<string, MahoutRow>,
): { matched: number; added: number } {
  if (!isIndicatorField(field)) {
    throw new ModelError(
      `"${field}" is not an indicator field (indicators, indicators_<type>, similar_<type>)`,
    );
  }
  const template = documents[0]
    ? indicatorFieldsOf(documents[0]).map(([f]) => f)
    : ["indicators"];
  const seen = new Set<string>();
  let matched = 0;
  for (let i = 0; i < documents.length; i++) {
    const doc = documents[i];
    seen.add(doc.id);
    const row = rows.get(doc.id);
    if (row) matched++;
    documents[i] = withField(doc, field, row ?? { ids: [], scores: [] });
  }
  let added = 0;
  for (const [id, row] of rows) {
    if (seen.has(id)) continue;
    const doc: Record<string, unknown> = { id };
    const scores: Record<string, number[]> = {};
    for (const f of template) {
      doc[f] = [];
      scores[f] = [];
    }
    doc.scores = scores;
    documents.push(
      withField(doc as unknown as IndicatorDocument, field, row),
    );
    added++;
  }
  return { matched, added };
}

function withField(
  doc: IndicatorDocument,
  field: string,
  row: MahoutRow,
): IndicatorDocument {
  const source = doc as unknown as Record<string, unknown>;
  const fields = indicatorFieldsOf(doc).map(([f]) => f);
  if (!fields.includes("indicators")) fields.unshift("indicators");
  if (!fields.includes(field)) fields.push(field);
  const out: Record<string, unknown> = { id: doc.id };
  for (const f of fields) {
    out[f] = f === field ? row.ids.slice() : source[f] ?? [];
  }
  // the rest (scores, weights, metadata) after the fields, in its order
  for (const [key, value] of Object.entries(source)) {
    if (!(key in out)) out[key] = value;
  }
  out.scores = { ...doc.scores, [field]: row.scores.slice() };
  if (doc.weights && field in doc.weights) {
    const { [field]: _stale, ...rest } = doc.weights;
    out.weights = rest;
  }
  return out as unknown as IndicatorDocument;
}
