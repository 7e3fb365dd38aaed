/**
 * The runner without Spark: option checks before anything starts, setup
 * failures as one line, the error line of Spark's stderr, and the job's
 * copies of the library's facts (presets, versions) equal the library's.
 * The Spark builds themselves are tested in tests/spark_test.ts.
 */
import assert from "node:assert/strict";
import { ConfigError, UnavailableError } from "../errors/mod.ts";
import { PRESETS } from "../events/read.ts";
import {
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MIN_ROOT_LLR,
  DEFAULT_PRIMARY_EVENT,
} from "../indicators/build.ts";
import { DEFAULT_MAX_HISTORY_PER_USER } from "../indicators/interactions.ts";
import { MIN_WEIGHTED_ROOT_LLR, WEIGHTINGS } from "../indicators/weights.ts";
import {
  MANIFEST_FORMAT,
  MANIFEST_VERSION,
  TOOL_VERSION,
} from "../model/manifest.ts";
import {
  runSparkBuild,
  sparkErrorLine,
  sparkInstalled,
  sparkJobFiles,
} from "./runner.ts";

const inCi = Deno.env.get("CI") === "true";

Deno.test("runner: invalid options fail before Spark starts", async () => {
  const never = { sparkSubmit: "/nonexistent/spark-submit" };
  const cases: [Record<string, unknown>, string][] = [
    [{ out: "o" }, "events is required"],
    [
      { events: "e.csv", out: "o", weights: "bm25" },
      'weights must be llr-idf, llr or none, got "bm25"',
    ],
    [
      { events: "e.csv", out: "o", onError: "ignore" },
      'onError must be "fail" or "skip", got "ignore"',
    ],
    [
      { events: "e.csv", out: "o", maxHistoryPerUser: 0 },
      "maxHistoryPerUser must be an integer >= 1, got 0",
    ],
    [
      { events: "e.csv", out: "o", maxIndicatorsPerItem: 2.5 },
      "maxIndicatorsPerItem must be an integer >= 0, got 2.5",
    ],
    [
      { events: "e.csv", out: "o", minRootLlr: NaN },
      "minRootLlr must be a number, got NaN",
    ],
    [
      { events: "e.csv", out: "o", format: "parquet" },
      'format unknown format "parquet"; presets: retailrocket, taobao, tianchi, movielens',
    ],
    [
      {
        events: "e.csv",
        out: "o",
        fields: { indicators: { maxIndicatorsPerItem: -1 } },
      },
      "fields.indicators.maxIndicatorsPerItem must be an integer >= 0, got -1",
    ],
  ];
  for (const [options, message] of cases) {
    await assert.rejects(
      // deno-lint-ignore no-explicit-any
      () => runSparkBuild(options as any, never),
      (e: Error) => e instanceof ConfigError && e.message === message,
      message,
    );
  }
  await assert.rejects(
    () =>
      runSparkBuild({ events: "e.csv", out: "o" }, { ...never, conf: ["x"] }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message === '--conf must look like key=value, got "x"',
  );
});

Deno.test("runner: a spark-submit that cannot run is one line", async () => {
  await assert.rejects(
    () =>
      runSparkBuild({ events: "e.csv", out: "o" }, {
        sparkSubmit: "/nonexistent/spark-submit",
      }),
    (e: Error) =>
      e instanceof UnavailableError &&
      e.message.startsWith("cannot run /nonexistent/spark-submit: ") &&
      !e.message.includes("\n"),
  );
});

Deno.test("runner: an environment that cannot be created is one line", async () => {
  const venv = await Deno.makeTempDir();
  try {
    assert.equal(await sparkInstalled(venv), false);
    await assert.rejects(
      () =>
        runSparkBuild({ events: "e.csv", out: "o" }, {
          venv: `${venv}/env`,
          python: "/nonexistent/python3",
          stderr: null,
        }),
      (e: Error) =>
        e instanceof UnavailableError &&
        e.message.startsWith(
          `cannot create a Python environment in ${venv}/env (python3 -m venv; on Debian: apt-get install python3-venv): /nonexistent/python3: `,
        ) && !e.message.includes("\n"),
    );
  } finally {
    await Deno.remove(venv, { recursive: true });
  }
});

Deno.test("runner: the error line of Spark's stderr", () => {
  const log = "26/11/25 22:36:06 WARN Utils: Set SPARK_LOCAL_IP if you need to";
  assert.equal(
    sparkErrorLine(
      `${log}\ncco-spark: error: a.csv:7: empty item id\n${log}\n`,
    ),
    "a.csv:7: empty item id",
  );
  const python = [
    log,
    "Traceback (most recent call last):",
    '  File "/x/cco_job.py", line 1205, in <module>',
    "    sys.exit(main(sys.argv[1:]))",
    "pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] Path does not exist: file:/x.",
    log,
  ].join("\n");
  assert.equal(
    sparkErrorLine(python),
    "pyspark.errors.exceptions.captured.AnalysisException: [PATH_NOT_FOUND] Path does not exist: file:/x.",
  );
  assert.equal(
    sparkErrorLine(
      'Exception in thread "main" java.lang.UnsupportedClassVersionError: x\n\tat y\n',
    ),
    "java.lang.UnsupportedClassVersionError: x",
  );
  assert.equal(
    sparkErrorLine(`${log}\n`),
    "no error message (see Spark's output above)",
  );
  assert.equal(sparkErrorLine("x".repeat(600)).length, 500);
});

Deno.test({
  name: "runner: the job's presets, defaults and versions are the library's",
  // needs python3 (not Spark): always there in CI
  ignore: !inCi && !await hasPython(),
  fn: async () => {
    const { job } = await sparkJobFiles();
    const out = await new Deno.Command("python3", {
      args: [job, "--describe"],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
    const d = JSON.parse(new TextDecoder().decode(out.stdout));
    const presets = Object.fromEntries(
      Object.entries(PRESETS).map((
        [name, { name: _n, description: _d, ...rest }],
      ) => [name, rest]),
    );
    assert.deepEqual(d.presets, JSON.parse(JSON.stringify(presets)));
    assert.deepEqual(d.defaults, {
      toolVersion: TOOL_VERSION,
      manifestFormat: MANIFEST_FORMAT,
      manifestVersion: MANIFEST_VERSION,
      maxIndicatorsPerItem: DEFAULT_MAX_INDICATORS_PER_ITEM,
      minRootLlr: DEFAULT_MIN_ROOT_LLR,
      primaryEvent: DEFAULT_PRIMARY_EVENT,
      maxHistoryPerUser: DEFAULT_MAX_HISTORY_PER_USER,
      minWeightedRootLlr: MIN_WEIGHTED_ROOT_LLR,
      weightings: WEIGHTINGS,
    });
  },
});

async function hasPython(): Promise<boolean> {
  try {
    return (await new Deno.Command("python3", { args: ["--version"] })
      .output()).success;
  } catch {
    return false;
  }
}
