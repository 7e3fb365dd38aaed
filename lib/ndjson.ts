/**
 * NDJSON export and import of indicator documents: one JSON object per line,
 * `{"id":…,"indicators":[…],"scores":[…]}`. The export of a build
 * (`deno task build-index --out file.ndjson`) loads straight into the
 * embedded backend.
 *
 * @example Round trip
 * ```ts
 * import { parseIndicatorDocuments, toNdjson } from "./ndjson.ts";
 *
 * const text = toNdjson([{ id: "a", indicators: ["b"], scores: [5.5] }]);
 * // '{"id":"a","indicators":["b"],"scores":[5.5]}\n'
 * parseIndicatorDocuments(text, "inline"); // [{ id: "a", indicators: ["b"], scores: [5.5] }]
 * ```
 *
 * @module
 */

import type { IndicatorDocument } from "./indicators.ts";

/**
 * Serializes documents, one per line.
 *
 * @example
 * ```ts
 * import { toNdjson } from "./ndjson.ts";
 *
 * toNdjson([]); // ""
 * ```
 *
 * @param documents Indicator documents.
 * @returns NDJSON text (each line ends with `\n`).
 */
export function toNdjson(documents: Iterable<IndicatorDocument>): string {
  let out = "";
  for (const d of documents) {
    out += JSON.stringify({
      id: d.id,
      indicators: d.indicators,
      scores: d.scores,
    }) + "\n";
  }
  return out;
}

/**
 * Parses and validates NDJSON indicator documents.
 *
 * @example
 * ```ts
 * import { parseIndicatorDocuments } from "./ndjson.ts";
 *
 * parseIndicatorDocuments('{"id":"a","indicators":[]}\n', "x.ndjson");
 * // [{ id: "a", indicators: [], scores: [] }]
 * ```
 *
 * @param text NDJSON text.
 * @param source File name for error messages.
 * @returns The documents.
 * @throws {SyntaxError} Naming `source:line` and the cause.
 */
export function parseIndicatorDocuments(
  text: string,
  source: string,
): IndicatorDocument[] {
  const docs: IndicatorDocument[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${source}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (error) {
      throw new SyntaxError(`${where}: ${(error as Error).message}`);
    }
    const doc = value as Partial<IndicatorDocument>;
    if (typeof doc !== "object" || doc === null || typeof doc.id !== "string") {
      throw new SyntaxError(`${where}: expected an object with a string "id"`);
    }
    if (
      !Array.isArray(doc.indicators) ||
      !doc.indicators.every((x) => typeof x === "string")
    ) {
      throw new SyntaxError(
        `${where}: "indicators" must be an array of strings`,
      );
    }
    const scores = doc.scores ?? [];
    if (
      !Array.isArray(scores) || !scores.every((x) => typeof x === "number")
    ) {
      throw new SyntaxError(`${where}: "scores" must be an array of numbers`);
    }
    docs.push({ id: doc.id, indicators: doc.indicators, scores });
  });
  return docs;
}
