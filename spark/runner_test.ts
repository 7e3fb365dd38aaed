/**
 * The runner without Spark: option checks before anything starts, setup
 * failures as one line, the error line of Spark's stderr, and the job's
 * copies of the library's facts (presets, versions) equal the library's.
 * The Spark builds themselves are tested in tests/spark_test.ts.
 */
import assert from "node:assert/strict";
import { ConfigError, UnavailableError } from "../errors/mod.ts";
import { PRESETS } from "../events/format.ts";
import {
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MIN_ROOT_LLR,
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
    [{ out: "o", primaryEvent: "transaction" }, "events is required"],
    [
      { events: "e.csv", out: "o" },
      "primaryEvent must be an event type name (letters, digits, _ or -), got undefined",
    ],
    [
      { events: "e.csv", out: "o", primaryEvent: "a b" },
      'primaryEvent must be an event type name (letters, digits, _ or -), got "a b"',
    ],
    // options of the Deno build the job does not implement are refused
    [
      { events: "e.csv", out: "o", primaryEvent: "buy", minEventsPerUser: 2 },
      "minEventsPerUser is not implemented by the Spark build",
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "buy",
        rankings: [{ name: "hot", type: "hot" }],
      },
      "rankings is not implemented by the Spark build",
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        weights: "bm25",
      },
      'weights must be llr-idf, llr or none, got "bm25"',
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        onError: "ignore",
      },
      'onError must be "fail" or "skip", got "ignore"',
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        maxHistoryPerUser: 0,
      },
      "maxHistoryPerUser must be an integer >= 1, got 0",
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        maxIndicatorsPerItem: 2.5,
      },
      "maxIndicatorsPerItem must be an integer >= 0, got 2.5",
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        minRootLlr: NaN,
      },
      "minRootLlr must be a number, got NaN",
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
        format: "parquet",
      },
      'format unknown format "parquet"; presets: retailrocket, taobao, tianchi, movielens',
    ],
    [
      {
        events: "e.csv",
        out: "o",
        primaryEvent: "transaction",
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
      runSparkBuild({ events: "e.csv", out: "o", primaryEvent: "buy" }, {
        ...never,
        conf: ["x"],
      }),
    (e: Error) =>
      e instanceof ConfigError &&
      e.message === '--conf must look like key=value, got "x"',
  );
});

Deno.test("runner: a spark-submit that cannot run is one line", async () => {
  await assert.rejects(
    () =>
      runSparkBuild({ events: "e.csv", out: "o", primaryEvent: "buy" }, {
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
        runSparkBuild({ events: "e.csv", out: "o", primaryEvent: "buy" }, {
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
    sparkErrorLine(
      "Invalid maximum heap size: -Xmxlots\nError: Could not create the Java Virtual Machine.\nError: A fatal exception has occurred. Program will exit.\n",
    ),
    "Invalid maximum heap size: -Xmxlots (the JVM could not start)",
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

Deno.test({
  name: "runner: the job itself refuses options it does not implement",
  // needs python3 (not Spark): the job checks every build before starting it
  ignore: !inCi && !await hasPython(),
  fn: async () => {
    const { job } = await sparkJobFiles();
    const dir = await Deno.makeTempDir();
    try {
      const cases: [Record<string, unknown>, string][] = [
        [
          { events: "e.csv", out: "o", minEventsPerUser: 2 },
          "minEventsPerUser is not an option of the Spark build",
        ],
        [
          { events: "e.csv", out: "o", format: { user: 0, item: 1 } },
          'invalid event format: give an "event" column or a "fixedEvent" name',
        ],
        [
          {
            events: "e.csv",
            out: "o",
            format: { user: 0, item: 1, event: 2, header: false },
          },
          "primaryEvent is required: the format names no primary event (--primary)",
        ],
      ];
      for (const [build, message] of cases) {
        await Deno.writeTextFile(`${dir}/b.json`, JSON.stringify(build));
        const out = await new Deno.Command("python3", {
          args: [job, "--config", `${dir}/b.json`],
          stdout: "piped",
          stderr: "piped",
        }).output();
        assert.equal(out.code, 2);
        const stderr = new TextDecoder().decode(out.stderr);
        assert.ok(
          sparkErrorLine(stderr).startsWith(message),
          `${sparkErrorLine(stderr)} (want ${message})`,
        );
      }
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
