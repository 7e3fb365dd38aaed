/**
 * Shared by the tests that run Spark: when they run, and the Spark
 * settings for their small inputs.
 *
 * - `CI=true`, or `CCO_SPARK_TESTS=1`: the focused set runs (and under CI
 *   fails if Spark cannot be set up: the runner installs PySpark on first
 *   use).
 * - `CCO_SPARK_TESTS=all`: every case.
 * - Otherwise they are registered as ignored, saying how to run them.
 *
 * @module
 */

const mode = Deno.env.get("CCO_SPARK_TESTS");

/** Whether the Spark tests run. */
export const sparkEnabled: boolean = Deno.env.get("CI") === "true" ||
  mode === "1" || mode === "all";

/** Whether every case runs, not only the focused set. */
export const sparkFull: boolean = mode === "all";

/**
 * Spark settings for small test inputs: interpreted expressions, the C1
 * compiler only, no adaptive execution and two shuffle partitions give the
 * same results with less work than Spark's defaults (measured: about a
 * fifth less CPU on the demo log); production runs keep the defaults.
 */
export const SMALL_INPUT_CONF: Readonly<Record<string, string>> = {
  "spark.sql.codegen.wholeStage": "false",
  "spark.sql.codegen.factoryMode": "NO_CODEGEN",
  "spark.driver.extraJavaOptions": "-XX:TieredStopAtLevel=1",
  "spark.ui.enabled": "false",
  "spark.sql.adaptive.enabled": "false",
  "spark.sql.shuffle.partitions": "2",
};
