/**
 * Internal: iterate the JSON values of NDJSON text with `file:line`
 * locations, turning JSON syntax errors into the caller's error type.
 *
 * @module
 */

/**
 * Parses each non-blank line of `text` as JSON.
 *
 * @param text NDJSON text.
 * @param source File name for locations.
 * @param error Builds the error thrown for a line that is not JSON.
 * @returns `[where, value]` per non-blank line, `where` = `source:line`.
 */
export function* ndjsonValues(
  text: string,
  source: string,
  error: (message: string) => Error,
): Generator<[string, unknown]> {
  const lines = text.split("\n");
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() === "") continue;
    const where = `${source}:${i + 1}`;
    let value: unknown;
    try {
      value = JSON.parse(lines[i]);
    } catch (e) {
      throw error(`${where}: ${(e as Error).message}`);
    }
    yield [where, value];
  }
}
