/**
 * The chaos tests' figures: one line each on stdout (shown by `deno test`),
 * and appended as JSON to `$CHAOS_REPORT` when it is set.
 *
 * @module
 */

/**
 * Reports a figure.
 *
 * @param what What was counted, e.g. "requests fuzzed".
 * @param count How many.
 * @param detail Context.
 */
export function report(what: string, count: number, detail = ""): void {
  console.log(`[chaos] ${what}: ${count}${detail ? ` (${detail})` : ""}`);
  const file = Deno.env.get("CHAOS_REPORT");
  if (file) {
    Deno.writeTextFileSync(
      file,
      JSON.stringify({ what, count, detail }) + "\n",
      { append: true },
    );
  }
}
