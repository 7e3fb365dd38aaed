/**
 * NDJSON export and import of indicator documents: one JSON object per line,
 * `{"id":…,"indicators":[…],"indicators_view":[…],…,"scores":{"indicators":[…],…}}`. The export of a build
 * (`deno task build-index --out file.ndjson`) loads straight into the
 * embedded backend.
 *
 * @example Round trip
 * ```ts
 * import { parseIndicatorDocuments, toNdjson } from "./ndjson.ts";
 *
 * const doc = { id: "a", indicators: ["b"], scores: { indicators: [5.5] } };
 * const text = toNdjson([doc]);
 * // '{"id":"a","indicators":["b"],"scores":{"indicators":[5.5]}}\n'
 * parseIndicatorDocuments(text, "inline"); // [doc]
 * ```
 *
 * @module
 */

import { ndjsonValues } from "./_ndjson_lines.ts";
import { isIndicatorField } from "../embedded/recommender.ts";
import type { IndicatorDocument } from "../indicators/build.ts";

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
    out += JSON.stringify(d) + "\n";
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
 * // [{ id: "a", indicators: [], scores: {} }]
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
  for (
    const [where, value] of ndjsonValues(
      text,
      source,
      (m) => new SyntaxError(m),
    )
  ) {
    const doc = value as Record<string, unknown>;
    if (typeof doc !== "object" || doc === null || typeof doc.id !== "string") {
      throw new SyntaxError(`${where}: expected an object with a string "id"`);
    }
    const out: Record<string, unknown> = { id: doc.id, indicators: [] };
    for (const [key, v] of Object.entries(doc)) {
      if (!isIndicatorField(key)) continue;
      if (!Array.isArray(v) || !v.every((x) => typeof x === "string")) {
        throw new SyntaxError(`${where}: "${key}" must be an array of strings`);
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
      throw new SyntaxError(
        `${where}: "scores" must map fields to arrays of numbers`,
      );
    }
    out.scores = scores;
    if (doc.weights !== undefined) {
      const weights = doc.weights as Record<string, unknown>;
      if (
        typeof weights !== "object" || weights === null ||
        Array.isArray(weights)
      ) {
        throw new SyntaxError(`${where}: "weights" must be an object`);
      }
      for (const [field, w] of Object.entries(weights)) {
        const ids = out[field];
        if (
          !Array.isArray(ids) || !Array.isArray(w) ||
          w.length !== ids.length ||
          !w.every((x) => typeof x === "number" && x > 0)
        ) {
          throw new SyntaxError(
            `${where}: "weights.${field}" must be positive numbers, one per id of "${field}"`,
          );
        }
      }
      out.weights = weights;
    }
    if (doc.metadata !== undefined) {
      const m = doc.metadata;
      if (typeof m !== "object" || m === null || Array.isArray(m)) {
        throw new SyntaxError(`${where}: "metadata" must be an object`);
      }
      out.metadata = m;
    }
    docs.push(out as unknown as IndicatorDocument);
  }
  return docs;
}
