/**
 * Runs the Spark build of the indicators (`spark/cco_job.py`): the same
 * documents as {@linkcode buildIndicators}, computed by Apache Spark, written
 * as NDJSON parts plus `manifest.json` into an output directory.
 *
 * On first use it creates a Python virtual environment
 * (`$CCO_SPARK_VENV`, default `~/.cache/cco-es/spark-venv`) and installs
 * PySpark {@linkcode PYSPARK_VERSION} into it (`pip install`, pinned); Spark
 * runs on the machine's Java (17 or later: `java` on `PATH` or `JAVA_HOME`).
 * Each run is one `spark-submit` (default master `local[2]`; any master and
 * `--conf` can be given), whose progress goes to stderr; a failure becomes
 * one line (the job's own message, or the last meaningful line of Spark's
 * stderr, such as the Python or Java exception).
 *
 * This module is not part of the main entry point (`mod.ts`): import it from
 * `spark/mod.ts` only where Spark is wanted.
 *
 * @example Build on Spark (needs Java; installs PySpark on first use)
 * ```ts ignore
 * import { runSparkBuild } from "./runner.ts";
 *
 * const { out, manifest } = await runSparkBuild({
 *   events: "events.csv",
 *   out: "model-spark",
 *   primaryEvent: "transaction",
 *   weights: "llr-idf", // required: the default, learned, is not implemented
 *   significance: 0.01,
 * }, { master: "local[2]", conf: { "spark.driver.memory": "4g" } });
 * manifest.counts.documents; // one document per item
 * ```
 *
 * @example The one-line error of a failed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { sparkErrorLine } from "./runner.ts";
 *
 * assert.equal(
 *   sparkErrorLine("26/01/01 10:00:00 WARN Utils: x\ncco-spark: error: ev.csv:3: empty user id\n"),
 *   "ev.csv:3: empty user id",
 * );
 * ```
 *
 * @module
 */

import { ConfigError, UnavailableError } from "../errors/mod.ts";
import { type EventFormat, resolveFormat } from "../events/format.ts";
import type { OnError } from "../events/read.ts";
import {
  DEFAULT_MIN_ROOT_LLR,
  DEFAULT_SIGNIFICANCE,
  type IndicatorOptions,
  resolveThreshold,
} from "../indicators/build.ts";
import { COUNTED_WEIGHTINGS } from "../indicators/weights.ts";
import { EVENT_TYPE_NAME } from "../model/fields.ts";
import {
  type ModelManifest,
  TOOL_VERSION,
  type Weighting,
} from "../model/manifest.ts";

/** The PySpark release the runner installs (pinned). */
export const PYSPARK_VERSION = "4.3.0";
/** The default Spark master: local mode on two cores. */
export const DEFAULT_SPARK_MASTER = "local[2]";

/**
 * The weightings the Spark job implements: those counted from root LLR.
 * `buildIndicators`' default, `"learned"` (a ridge regression per item),
 * is not one of them.
 */
export type SparkWeighting = Exclude<Weighting, "learned">;

/**
 * What to build: the options of `buildIndicators` that the Spark job
 * implements, plus input and output. It does not implement
 * `minEventsPerUser`, `rankings`, learned weights nor `ridge`: a build
 * naming them (or any other key) is refused with a {@linkcode ConfigError}
 * before Spark starts. `weights` is required, since `buildIndicators`'
 * default (`"learned"`) is not implemented: the same options give the same
 * model on both engines, never a different one.
 */
export interface SparkBuildOptions {
  /** Events file or directory (CSV/text, plain or `.gz`, or Parquet; partitioned directories allowed). */
  events: string;
  /** Output directory: `part-NNNNN.ndjson` files and `manifest.json` (replaced if it holds a previous output). */
  out: string;
  /** Input kind (default `auto`: Parquet when every file ends in `.parquet`). */
  input?: "auto" | "csv" | "parquet";
  /** Preset name or event format (default RetailRocket); see `events/format.ts`. */
  format?: EventFormat | string;
  /**
   * Event type to predict (e.g. `transaction`; a preset names its own, see
   * `PRESETS`). Required, as for `buildIndicators`: nothing guesses it.
   */
  primaryEvent: string;
  /** Secondary event types (default: every other type, sorted by name). */
  secondaryEvents?: readonly string[];
  /** Similar-items event type (default: the most common secondary type; `null`: none). */
  similarEvent?: string | null;
  /**
   * Threshold on signed root LLR (default: the cutoff of
   * {@linkcode DEFAULT_SIGNIFICANCE}; `-Infinity` keeps every pair).
   */
  minRootLlr?: number;
  /**
   * The threshold as a significance level of the LLR test (default
   * {@linkcode DEFAULT_SIGNIFICANCE}; exclusive with `minRootLlr`),
   * recorded in the manifest as `buildIndicators` records it.
   */
  significance?: number;
  /** Indicators kept per item (default `DEFAULT_MAX_INDICATORS_PER_ITEM`, 100). */
  maxIndicatorsPerItem?: number;
  /** Most recent distinct items per user and event type (default 500). */
  maxHistoryPerUser?: number;
  /**
   * Per-field overrides of the threshold (`minRootLlr` or `significance`:
   * either replaces the build's) and top-k.
   */
  fields?: Readonly<Record<string, IndicatorOptions>>;
  /** Indicator strength: `llr-idf`, `llr` or `none` (required, see above). */
  weights: SparkWeighting;
  /** Malformed lines: `fail` (default) or `skip` (counted, left out). */
  onError?: OnError;
  /** Number of NDJSON parts (default: as Spark partitions the result). */
  partitions?: number;
  /**
   * Also write the events read as Parquet into this directory, partitioned
   * by event type (columns `user`, `item`, `timestamp` in unix ms, and
   * `event`): later builds read it faster, with the format
   * `{ user: "user", item: "item", event: "event", timestamp: "timestamp" }`.
   */
  saveEvents?: string;
  /**
   * Spark SQL settings for this build only (those settable at run time,
   * e.g. `spark.sql.shuffle.partitions`); `conf` of the run options sets
   * them for every build.
   */
  sqlConf?: Readonly<Record<string, string | number | boolean>>;
  /**
   * Where the events came from, recorded in the manifest (default: the
   * events path and the format's preset name, or `custom`).
   */
  source?: ModelManifest["source"];
}

/** Every key of {@linkcode SparkBuildOptions}: the job refuses others. */
const BUILD_KEYS: ReadonlySet<string> = new Set(
  [
    "events",
    "out",
    "input",
    "format",
    "primaryEvent",
    "secondaryEvents",
    "similarEvent",
    "minRootLlr",
    "significance",
    "maxIndicatorsPerItem",
    "maxHistoryPerUser",
    "fields",
    "weights",
    "onError",
    "partitions",
    "saveEvents",
    "sqlConf",
    "source",
  ] satisfies (keyof SparkBuildOptions)[],
);

/** How to run Spark. */
export interface SparkRunOptions {
  /** Spark master (default {@linkcode DEFAULT_SPARK_MASTER}). */
  master?: string;
  /** Extra Spark settings, as `{key: value}` or `"key=value"` strings. */
  conf?:
    | Readonly<Record<string, string | number | boolean>>
    | readonly string[];
  /** The virtual environment (default `$CCO_SPARK_VENV` or `~/.cache/cco-es/spark-venv`). */
  venv?: string;
  /** Python used to create the environment (default `python3`). */
  python?: string;
  /** Use this `spark-submit` (e.g. a cluster's) instead of the environment's. */
  sparkSubmit?: string;
  /** Where Spark's stderr goes (default: this process's stderr); `null` discards it. */
  stderr?: ((text: string) => void) | null;
  /** Stops the run. */
  signal?: AbortSignal;
  /** Called once `spark-submit` started, e.g. to watch its memory. */
  onStart?: (process: { pid: number }) => void;
}

/** What a Spark build wrote. */
export interface SparkBuildResult {
  /** The output directory. */
  out: string;
  /** The model manifest (also in `out/manifest.json`). */
  manifest: ModelManifest;
  /** The NDJSON parts, in item id order. */
  parts: string[];
  /** Malformed lines left out (`onError: "skip"`): count and first messages. */
  skipped: { count: number; first: string[] };
  /** Seconds the build took inside Spark (after start-up). */
  seconds: number;
  /** Text input splits read (0 for Parquet): the units of CSV line numbering. */
  splits: number;
}

/** One build's outcome in {@linkcode runSparkBuilds}. */
export type SparkBuildOutcome =
  | { ok: true; result: SparkBuildResult }
  | { ok: false; error: string };

/** A usable `spark-submit` and the Python it runs the job with. */
export interface SparkSetup {
  /** Path of `spark-submit`. */
  sparkSubmit: string;
  /** Python for the driver (PySpark installed). */
  python: string;
  /** The environment's `bin` folder, put first on `PATH`, if any. */
  bin?: string;
}

const ERROR_MARK = "cco-spark: error: ";
const RESULT_MARK = "cco-spark-result: ";

/**
 * The virtual environment the runner uses: `$CCO_SPARK_VENV`, else
 * `~/.cache/cco-es/spark-venv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sparkVenvDir } from "./runner.ts";
 *
 * assert.ok(sparkVenvDir().length > 0);
 * ```
 *
 * @returns The directory.
 */
export function sparkVenvDir(): string {
  const set = Deno.env.get("CCO_SPARK_VENV");
  if (set) return set;
  const home = Deno.env.get("HOME") ?? Deno.env.get("USERPROFILE") ?? ".";
  return `${home}/.cache/cco-es/spark-venv`;
}

/**
 * Whether PySpark {@linkcode PYSPARK_VERSION} is already installed in the
 * environment (so a run starts without installing anything).
 *
 * @example
 * ```ts
 * import { sparkInstalled } from "./runner.ts";
 *
 * await sparkInstalled("/nonexistent"); // false
 * ```
 *
 * @param venv The environment (default {@linkcode sparkVenvDir}).
 * @returns True when it is ready.
 */
export async function sparkInstalled(
  venv: string = sparkVenvDir(),
): Promise<boolean> {
  return await exists(marker(venv)) && await exists(`${venv}/bin/spark-submit`);
}

function marker(venv: string): string {
  return `${venv}/.cco-es-pyspark-${PYSPARK_VERSION}`;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Finds or installs `spark-submit`: the given one, else the environment's,
 * creating it (`python3 -m venv`) and installing PySpark
 * {@linkcode PYSPARK_VERSION} (`pip install`) on first use.
 *
 * @example
 * ```ts ignore
 * import { ensureSparkSubmit } from "./runner.ts";
 *
 * const { sparkSubmit } = await ensureSparkSubmit();
 * ```
 *
 * @param options The environment, the Python that creates it, an existing
 * `spark-submit`, and where install output goes.
 * @returns How to run Spark.
 * @throws {UnavailableError} When the environment cannot be created or
 * PySpark cannot be installed.
 */
export async function ensureSparkSubmit(
  options: Pick<SparkRunOptions, "venv" | "python" | "sparkSubmit" | "stderr"> =
    {},
): Promise<SparkSetup> {
  if (options.sparkSubmit) {
    return {
      sparkSubmit: options.sparkSubmit,
      python: Deno.env.get("PYSPARK_PYTHON") ?? "python3",
    };
  }
  const venv = options.venv ?? sparkVenvDir();
  const setup = {
    sparkSubmit: `${venv}/bin/spark-submit`,
    python: `${venv}/bin/python`,
    bin: `${venv}/bin`,
  };
  if (await sparkInstalled(venv)) return setup;
  const say = sink(options.stderr);
  if (!await exists(setup.python)) {
    say(`cco-spark: creating a Python environment in ${venv}\n`);
    await Deno.mkdir(venv, { recursive: true });
    await setupStep(
      options.python ?? "python3",
      ["-m", "venv", venv],
      `cannot create a Python environment in ${venv} (python3 -m venv; on Debian: apt-get install python3-venv)`,
      say,
    );
  }
  say(`cco-spark: installing pyspark==${PYSPARK_VERSION} into ${venv}\n`);
  await setupStep(
    setup.python,
    [
      "-m",
      "pip",
      "install",
      "--disable-pip-version-check",
      "--no-input",
      `pyspark==${PYSPARK_VERSION}`,
    ],
    `cannot install pyspark==${PYSPARK_VERSION} into ${venv}`,
    say,
  );
  await Deno.writeTextFile(marker(venv), `${PYSPARK_VERSION}\n`);
  return setup;
}

async function setupStep(
  command: string,
  args: string[],
  what: string,
  say: (text: string) => void,
): Promise<void> {
  let output: Deno.CommandOutput;
  try {
    output = await new Deno.Command(command, {
      args,
      stdout: "piped",
      stderr: "piped",
    }).output();
  } catch (error) {
    throw new UnavailableError(
      `${what}: ${command}: ${(error as Error).message.split("\n")[0]}`,
    );
  }
  const text = new TextDecoder().decode(output.stdout) +
    new TextDecoder().decode(output.stderr);
  say(text);
  if (!output.success) {
    throw new UnavailableError(`${what}: ${sparkErrorLine(text)}`);
  }
}

function sink(
  stderr: SparkRunOptions["stderr"],
): (text: string) => void {
  if (stderr === null) return () => {};
  if (stderr) return stderr;
  const encoder = new TextEncoder();
  return (text) => {
    Deno.stderr.writeSync(encoder.encode(text));
  };
}

/**
 * The one line that says why a Spark run failed: the job's own message
 * (`cco-spark: error: ...`), else the exception that ended the Python
 * driver (for a Java error raised through Py4J, the Java exception), else
 * the JVM's (or why the JVM could not start), else the last line that is
 * not a log line.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sparkErrorLine } from "./runner.ts";
 *
 * const stderr = [
 *   "Traceback (most recent call last):",
 *   '  File "cco_job.py", line 9, in <module>',
 *   "py4j.protocol.Py4JJavaError: An error occurred while calling o58.collect.",
 *   ": java.lang.OutOfMemoryError: Java heap space",
 *   "\tat java.base/java.util.Arrays.copyOf(Arrays.java:3537)",
 * ].join("\n");
 * assert.equal(sparkErrorLine(stderr), "java.lang.OutOfMemoryError: Java heap space");
 * assert.equal(sparkErrorLine("JAVA_HOME is not set\n"), "JAVA_HOME is not set");
 * ```
 *
 * @param stderr Spark's stderr (or its tail).
 * @returns One line (at most 500 characters).
 */
export function sparkErrorLine(stderr: string): string {
  const lines = stderr.split(/\r?\n|\r/).map((l) => l.trimEnd());
  const clip = (s: string) => s.length > 500 ? `${s.slice(0, 497)}...` : s;
  for (let i = lines.length - 1; i >= 0; i--) {
    const at = lines[i].indexOf(ERROR_MARK);
    if (at >= 0) return clip(lines[i].slice(at + ERROR_MARK.length));
  }
  const exception =
    /^([A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*(Error|Exception|Exit|Interrupt)\b(:.*)?$/;
  // the last Python traceback: its final exception line
  const traceback = lines.lastIndexOf("Traceback (most recent call last):");
  if (traceback >= 0) {
    for (let i = traceback + 1; i < lines.length; i++) {
      if (/^\s/.test(lines[i]) || lines[i] === "") continue;
      if (exception.test(lines[i])) {
        if (/^py4j\.protocol\.Py4JJavaError\b/.test(lines[i])) {
          const cause = lines.slice(i + 1).find((l) => l.startsWith(": "));
          if (cause) return clip(cause.slice(2));
        }
        return clip(lines[i]);
      }
    }
  }
  // the JVM did not start (e.g. a bad spark.driver.memory): the cause is
  // the line before the JVM's own
  const noJvm = lines.lastIndexOf(
    "Error: Could not create the Java Virtual Machine.",
  );
  if (noJvm > 0 && lines[noJvm - 1].trim() !== "") {
    return clip(`${lines[noJvm - 1].trim()} (the JVM could not start)`);
  }
  const log = /^\d\d\/\d\d\/\d\d \d\d:\d\d:\d\d (TRACE|DEBUG|INFO|WARN)\b/;
  for (let i = lines.length - 1; i >= 0; i--) {
    const m = /^Exception in thread "[^"]*" (.*)$/.exec(lines[i]);
    if (m) return clip(m[1]);
  }
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].trim();
    if (line === "" || log.test(line) || /^at /.test(line)) continue;
    if (/^\.\.\. \d+ more$/.test(line) || line.startsWith("[Stage ")) continue;
    return clip(line);
  }
  return "no error message (see Spark's output above)";
}

/**
 * The job and its logging settings as local files: beside this module
 * when it is loaded from disk, else downloaded once into the cache.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sparkJobFiles } from "./runner.ts";
 *
 * const { job } = await sparkJobFiles();
 * assert.ok(job.endsWith("cco_job.py"));
 * ```
 *
 * @returns The job's path and the folder to use as `SPARK_CONF_DIR`.
 */
export async function sparkJobFiles(): Promise<
  { job: string; confDir: string }
> {
  const job = new URL("./cco_job.py", import.meta.url);
  const conf = new URL("./conf/log4j2.properties", import.meta.url);
  if (job.protocol === "file:") {
    return {
      job: decodeURIComponent(job.pathname),
      confDir: decodeURIComponent(new URL("./conf", import.meta.url).pathname),
    };
  }
  const dir = `${sparkVenvDir()}/../spark-job-${TOOL_VERSION}`;
  await Deno.mkdir(`${dir}/conf`, { recursive: true });
  for (
    const [url, path] of [[job, `${dir}/cco_job.py`], [
      conf,
      `${dir}/conf/log4j2.properties`,
    ]] as const
  ) {
    if (await exists(path)) continue;
    const response = await fetch(url);
    if (!response.ok) {
      throw new UnavailableError(`cannot fetch ${url}: ${response.status}`);
    }
    await Deno.writeTextFile(`${path}.tmp`, await response.text());
    await Deno.rename(`${path}.tmp`, path);
  }
  return { job: `${dir}/cco_job.py`, confDir: `${dir}/conf` };
}

/**
 * Checks a build's options before Spark starts (a typo should not cost a
 * JVM start-up): every key is one the job implements, the primary event is
 * named, values are in range.
 */
function checkBuild(build: SparkBuildOptions): Record<string, unknown> {
  const fail = (key: string, reason: string): never => {
    throw new ConfigError(key, reason);
  };
  for (const key of Object.keys(build)) {
    if (
      !BUILD_KEYS.has(key) &&
      (build as unknown as Record<string, unknown>)[key] !== undefined
    ) {
      fail(key, "is not implemented by the Spark build");
    }
  }
  if (!build.events) fail("events", "is required");
  if (!build.out) fail("out", "is required");
  if (
    typeof build.primaryEvent !== "string" ||
    !EVENT_TYPE_NAME.test(build.primaryEvent)
  ) {
    fail(
      "primaryEvent",
      `must be an event type name (letters, digits, _ or -), got ${
        JSON.stringify(build.primaryEvent)
      }`,
    );
  }
  try {
    resolveFormat(build.format);
  } catch (error) {
    fail("format", (error as Error).message);
  }
  const weightings = `${COUNTED_WEIGHTINGS.slice(0, -1).join(", ")} or ${
    COUNTED_WEIGHTINGS.at(-1)
  }`;
  if (build.weights === undefined) {
    fail(
      "weights",
      `is required: buildIndicators' default, learned, is not implemented by the Spark build; give ${weightings}`,
    );
  }
  if ((build.weights as string) === "learned") {
    fail(
      "weights",
      `"learned" is not implemented by the Spark build: give ${weightings}, or build with buildIndicators`,
    );
  }
  if (!COUNTED_WEIGHTINGS.includes(build.weights)) {
    fail("weights", `must be ${weightings}, got "${build.weights}"`);
  }
  if (
    build.onError !== undefined && build.onError !== "fail" &&
    build.onError !== "skip"
  ) fail("onError", `must be "fail" or "skip", got "${build.onError}"`);
  const count = (key: string, v: unknown, min: number) => {
    if (v !== undefined && !(Number.isInteger(v) && (v as number) >= min)) {
      fail(key, `must be an integer >= ${min}, got ${v}`);
    }
  };
  count("maxIndicatorsPerItem", build.maxIndicatorsPerItem, 0);
  count("maxHistoryPerUser", build.maxHistoryPerUser, 1);
  count("partitions", build.partitions, 1);
  const fields: Record<string, Record<string, unknown>> = {};
  for (const [name, o] of Object.entries(build.fields ?? {})) {
    for (const key of Object.keys(o)) {
      if (!FIELD_KEYS.has(key)) {
        fail(`fields.${name}.${key}`, "is not implemented by the Spark build");
      }
    }
    count(`fields.${name}.maxIndicatorsPerItem`, o.maxIndicatorsPerItem, 0);
    fields[name] = { ...o, ...threshold(o, `fields.${name}.`) };
  }
  return {
    ...build,
    // neither given: the library's default level and its exact cutoff
    ...(build.minRootLlr === undefined && build.significance === undefined
      ? { minRootLlr: DEFAULT_MIN_ROOT_LLR, significance: DEFAULT_SIGNIFICANCE }
      : threshold(build, "")),
    fields,
    toolVersion: TOOL_VERSION,
  };
}

/** The options of a field the job implements. */
const FIELD_KEYS: ReadonlySet<string> = new Set(
  [
    "minRootLlr",
    "significance",
    "maxIndicatorsPerItem",
  ] satisfies (keyof IndicatorOptions)[],
);

/**
 * One level's threshold options for the job: a significance level comes
 * with its cutoff as the library computes it (the job checks the pair and
 * uses this very double), a root LLR as it is (`-Infinity` spelled for
 * JSON); checked as `buildIndicators` checks them (exclusive, in range).
 */
function threshold(
  o: IndicatorOptions,
  prefix: string,
): { minRootLlr?: number | string; significance?: number } {
  const own = { minRootLlr: o.minRootLlr, significance: o.significance };
  if (own.minRootLlr === undefined && own.significance === undefined) {
    return {};
  }
  let minRootLlr: number;
  try {
    minRootLlr = resolveThreshold(own);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    throw new ConfigError(
      `${prefix}${error.path}`,
      error.message.slice(error.path.length + 1),
    );
  }
  return {
    minRootLlr: minRootLlr === -Infinity ? "-Infinity" : minRootLlr,
    ...(own.significance !== undefined
      ? { significance: own.significance }
      : {}),
  };
}

function confPairs(conf: SparkRunOptions["conf"]): [string, string][] {
  if (!conf) return [];
  if (Array.isArray(conf)) {
    return (conf as readonly string[]).map((kv) => {
      const eq = kv.indexOf("=");
      if (eq <= 0) {
        throw new ConfigError(
          "--conf",
          `must look like key=value, got "${kv}"`,
        );
      }
      return [kv.slice(0, eq), kv.slice(eq + 1)];
    });
  }
  return Object.entries(conf).map(([k, v]) => [k, String(v)]);
}

/**
 * Runs several builds in one `spark-submit` (one Spark start-up), in
 * order. A build whose input or options are at fault (a malformed line, a
 * missing event type) is reported in its outcome and the next one runs.
 *
 * @example
 * ```ts ignore
 * import { runSparkBuilds } from "./runner.ts";
 *
 * const outcomes = await runSparkBuilds([
 *   { events: "a.csv", out: "model-a", primaryEvent: "transaction" },
 *   { events: "b.csv", out: "model-b", primaryEvent: "buy", weights: "none" },
 * ]);
 * outcomes.map((o) => o.ok ? o.result.out : o.error);
 * ```
 *
 * @param builds What to build.
 * @param run How to run Spark.
 * @returns One outcome per build, in order.
 * @throws {ConfigError} For invalid options (before Spark starts).
 * @throws {UnavailableError} When Spark cannot be set up or fails.
 */
export async function runSparkBuilds(
  builds: readonly SparkBuildOptions[],
  run: SparkRunOptions = {},
): Promise<SparkBuildOutcome[]> {
  const checked = builds.map(checkBuild);
  const pairs = confPairs(run.conf);
  const setup = await ensureSparkSubmit(run);
  const { job, confDir } = await sparkJobFiles();
  const config = await Deno.makeTempFile({
    prefix: "cco-spark-",
    suffix: ".json",
  });
  const master = run.master ?? DEFAULT_SPARK_MASTER;
  const local = master.startsWith("local");
  const say = sink(run.stderr);
  const defaults: [string, string][] = [
    [
      "spark.ui.showConsoleProgress",
      String(run.stderr === undefined && Deno.stderr.isTerminal()),
    ],
  ];
  const given = new Set(pairs.map(([k]) => k));
  const args = ["--master", master, "--name", "cco-es indicators"];
  for (const [k, v] of [...defaults.filter(([k]) => !given.has(k)), ...pairs]) {
    args.push("--conf", `${k}=${v}`);
  }
  args.push(job, "--config", config);
  const env: Record<string, string> = {
    PYSPARK_PYTHON: Deno.env.get("PYSPARK_PYTHON") ?? setup.python,
    PYSPARK_DRIVER_PYTHON: Deno.env.get("PYSPARK_DRIVER_PYTHON") ??
      setup.python,
  };
  if (setup.bin) env.PATH = `${setup.bin}:${Deno.env.get("PATH") ?? ""}`;
  if (!Deno.env.get("SPARK_CONF_DIR")) env.SPARK_CONF_DIR = confDir;
  // local mode talks to itself only: keep it on the loopback interface
  if (local && !Deno.env.get("SPARK_LOCAL_IP")) {
    env.SPARK_LOCAL_IP = "127.0.0.1";
  }
  try {
    await Deno.writeTextFile(
      config,
      JSON.stringify({ builds: checked, continueOnError: true }),
    );
    let child: Deno.ChildProcess;
    try {
      child = new Deno.Command(setup.sparkSubmit, {
        args,
        env,
        stdin: "null",
        stdout: "piped",
        stderr: "piped",
        signal: run.signal,
      }).spawn();
    } catch (error) {
      throw new UnavailableError(
        `cannot run ${setup.sparkSubmit}: ${
          (error as Error).message.split("\n")[0]
        }`,
      );
    }
    run.onStart?.({ pid: child.pid });
    let tail = "";
    const stderrDone = (async () => {
      const decoder = new TextDecoder();
      for await (const chunk of child.stderr) {
        const text = decoder.decode(chunk, { stream: true });
        say(text);
        tail = (tail + text).slice(-256 * 1024);
      }
    })();
    const outcomes: SparkBuildOutcome[] = [];
    const stdoutDone = (async () => {
      const decoder = new TextDecoder();
      let rest = "";
      const line = (l: string) => {
        if (!l.startsWith(RESULT_MARK)) {
          if (l !== "") say(`${l}\n`);
          return;
        }
        const r = JSON.parse(l.slice(RESULT_MARK.length));
        outcomes.push(
          r.error !== undefined
            ? { ok: false, error: r.error }
            : { ok: true, result: r as SparkBuildResult },
        );
      };
      for await (const chunk of child.stdout) {
        rest += decoder.decode(chunk, { stream: true });
        let nl;
        while ((nl = rest.indexOf("\n")) >= 0) {
          line(rest.slice(0, nl));
          rest = rest.slice(nl + 1);
        }
      }
      if (rest) line(rest);
    })();
    const status = await child.status;
    await Promise.all([stderrDone, stdoutDone]);
    if (!status.success || outcomes.length !== builds.length) {
      const why = sparkErrorLine(tail);
      throw new UnavailableError(
        `spark-submit failed (exit ${status.code}): ${why}`,
      );
    }
    return outcomes;
  } finally {
    await Deno.remove(config).catch(() => {});
  }
}

/**
 * Builds the indicators of an events log on Spark and writes them to
 * `options.out`: `part-NNNNN.ndjson` (one document per item, in item id
 * order across the parts, exactly the fields, order and values of
 * `buildIndicators`) and `manifest.json` (engine `spark`).
 *
 * `cco build-index --engine spark` calls it with the options of the Deno
 * build (the same flags and settings), an output directory, `--spark-master`
 * as `master` and `--spark-conf k=v` as `conf`; then it opens the output
 * as a model directory (`openModel`: `manifest.json` and the parts) and
 * publishes its documents as they stream.
 *
 * @example
 * ```ts ignore
 * import { runSparkBuild } from "./runner.ts";
 * import { openModel } from "../model/ndjson.ts";
 *
 * const { out, manifest, skipped } = await runSparkBuild({
 *   events: "events/",
 *   format: "retailrocket",
 *   primaryEvent: "transaction",
 *   out: "/tmp/model",
 *   onError: "skip",
 * });
 * const model = await openModel(out); // the same manifest, and the documents
 * ```
 *
 * @param options What to build.
 * @param run How to run Spark.
 * @returns The output directory, its manifest and parts, skipped lines.
 * @throws {ConfigError} For invalid options, a malformed events file
 * (`file:line: cause`) or event types the build cannot use.
 * @throws {UnavailableError} When Spark cannot be set up or fails.
 */
export async function runSparkBuild(
  options: SparkBuildOptions,
  run: SparkRunOptions = {},
): Promise<SparkBuildResult> {
  const [outcome] = await runSparkBuilds([options], run);
  if (!outcome.ok) throw new ConfigError("", outcome.error);
  return outcome.result;
}
