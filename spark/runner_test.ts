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
  DEFAULT_SIGNIFICANCE,
} from "../indicators/build.ts";
import { DEFAULT_MAX_HISTORY_PER_USER } from "../indicators/interactions.ts";
import { rootLlrThreshold } from "../indicators/significance.ts";
import {
  COUNTED_WEIGHTINGS,
  DEFAULT_WEIGHTING,
  MIN_WEIGHTED_ROOT_LLR,
} from "../indicators/weights.ts";
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
import { mulberry32 } from "../random/mod.ts";

const inCi = Deno.env.get("CI") === "true";

Deno.test("runner: invalid options fail before Spark starts", async () => {
  const never = { sparkSubmit: "/nonexistent/spark-submit" };
  // a valid build but for what each case changes
  const base = {
    events: "e.csv",
    out: "o",
    primaryEvent: "transaction",
    weights: "llr-idf",
  };
  const cases: [Record<string, unknown>, string][] = [
    [{ ...base, events: undefined }, "events is required"],
    [
      { ...base, primaryEvent: undefined },
      "primaryEvent must be an event type name (letters, digits, _ or -), got undefined",
    ],
    [
      { ...base, primaryEvent: "a b" },
      'primaryEvent must be an event type name (letters, digits, _ or -), got "a b"',
    ],
    // options of the Deno build the job does not implement are refused
    [
      { ...base, minEventsPerUser: 2 },
      "minEventsPerUser is not implemented by the Spark build",
    ],
    [
      { ...base, rankings: [{ name: "hot", type: "hot" }] },
      "rankings is not implemented by the Spark build",
    ],
    [{ ...base, ridge: 1 }, "ridge is not implemented by the Spark build"],
    [
      { ...base, fields: { indicators: { ridge: 1 } } },
      "fields.indicators.ridge is not implemented by the Spark build",
    ],
    // the library's default weighting is not implemented: no default here
    [
      { ...base, weights: undefined },
      "weights is required: buildIndicators' default, learned, is not implemented by the Spark build; give llr-idf, llr or none",
    ],
    [
      { ...base, weights: "learned" },
      'weights "learned" is not implemented by the Spark build: give llr-idf, llr or none, or build with buildIndicators',
    ],
    [
      { ...base, weights: "bm25" },
      'weights must be llr-idf, llr or none, got "bm25"',
    ],
    [
      { ...base, onError: "ignore" },
      'onError must be "fail" or "skip", got "ignore"',
    ],
    [
      { ...base, maxHistoryPerUser: 0 },
      "maxHistoryPerUser must be an integer >= 1, got 0",
    ],
    [
      { ...base, maxIndicatorsPerItem: 2.5 },
      "maxIndicatorsPerItem must be an integer >= 0, got 2.5",
    ],
    [{ ...base, minRootLlr: NaN }, "minRootLlr must be a number, got NaN"],
    // thresholds are checked as buildIndicators checks them
    [
      { ...base, minRootLlr: 3, significance: 0.01 },
      "significance and minRootLlr are exclusive (one threshold)",
    ],
    [
      { ...base, significance: 0 },
      "significance must be a number in (0, 1], got 0",
    ],
    [
      { ...base, fields: { indicators_view: { significance: 1.5 } } },
      "fields.indicators_view.significance must be a number in (0, 1], got 1.5",
    ],
    [
      {
        ...base,
        fields: { indicators_view: { significance: 0.05, minRootLlr: 2 } },
      },
      "fields.indicators_view.significance and minRootLlr are exclusive (one threshold)",
    ],
    [
      { ...base, format: "parquet" },
      'format unknown format "parquet"; presets: retailrocket, taobao, tianchi, movielens',
    ],
    [
      { ...base, fields: { indicators: { maxIndicatorsPerItem: -1 } } },
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
      runSparkBuild({
        events: "e.csv",
        out: "o",
        primaryEvent: "buy",
        weights: "llr",
      }, {
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
      runSparkBuild({
        events: "e.csv",
        out: "o",
        primaryEvent: "buy",
        weights: "llr",
      }, {
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
        runSparkBuild({
          events: "e.csv",
          out: "o",
          primaryEvent: "buy",
          weights: "llr",
        }, {
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
      // the very double (deepEqual compares numbers with Object.is)
      minRootLlr: DEFAULT_MIN_ROOT_LLR,
      significance: DEFAULT_SIGNIFICANCE,
      maxHistoryPerUser: DEFAULT_MAX_HISTORY_PER_USER,
      minWeightedRootLlr: MIN_WEIGHTED_ROOT_LLR,
      weightings: COUNTED_WEIGHTINGS,
    });
    assert.equal(d.defaults.minRootLlr, 2.575829288381044);
    // the job has no default weighting: the library's is not one it has
    // (were it implemented, the job should default to it)
    assert.ok(!d.defaults.weightings.includes(DEFAULT_WEIGHTING));
  },
});

Deno.test({
  name: "runner: the job's thresholds of significance levels are the library's",
  // needs python3 (not Spark): the job's copy of rootLlrThreshold, used
  // when it runs on its own (cco build-index passes the library's value)
  ignore: !inCi && !await hasPython(),
  fn: async () => {
    const { job } = await sparkJobFiles();
    const levels = [
      0.01,
      0.05,
      0.001,
      0.1,
      0.2,
      0.5,
      1,
      1e-4,
      1e-6,
      5.7e-7,
      0.025,
      0.005,
    ];
    const random = mulberry32(5);
    for (let i = 0; i < 500; i++) levels.push(random() ** 4 * 0.999 + 1e-9);
    const dir = job.slice(0, job.lastIndexOf("/"));
    const out = await new Deno.Command("python3", {
      args: [
        "-c",
        `import json, sys; sys.path.insert(0, ${JSON.stringify(dir)}); ` +
        "import cco_job; print(json.dumps([cco_job.root_llr_threshold(a) " +
        "for a in json.loads(sys.stdin.read())]))",
      ],
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const writer = out.stdin.getWriter();
    await writer.write(new TextEncoder().encode(JSON.stringify(levels)));
    await writer.close();
    const done = await out.output();
    assert.ok(done.success, new TextDecoder().decode(done.stderr));
    const got: number[] = JSON.parse(new TextDecoder().decode(done.stdout));
    levels.forEach((a, i) =>
      assert.equal(got[i], rootLlrThreshold(a), `significance ${a}`)
    );
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
        // what the Deno build has and the job does not: never ignored
        [
          { events: "e.csv", out: "o", weights: "llr", ridge: 1 },
          "ridge is not an option of the Spark build",
        ],
        [
          { events: "e.csv", out: "o", primaryEvent: "buy" },
          "weights is required: the Deno build's default, learned, is not implemented by the Spark build; give llr-idf, llr or none",
        ],
        [
          {
            events: "e.csv",
            out: "o",
            primaryEvent: "buy",
            weights: "learned",
          },
          'weights "learned" is not implemented by the Spark build',
        ],
        [
          {
            events: "e.csv",
            out: "o",
            weights: "llr",
            fields: { indicators: { ridge: 1 } },
          },
          "fields.indicators.ridge is not an option of the Spark build",
        ],
        // a cutoff beside its level must be that level's
        [
          {
            events: "e.csv",
            out: "o",
            weights: "llr",
            fields: { indicators: { significance: 0.05, minRootLlr: 2 } },
          },
          "fields.indicators.minRootLlr 2 is not the threshold of fields.indicators.significance 0.05 (1.959963",
        ],
        [
          { events: "e.csv", out: "o", weights: "llr", significance: 0 },
          "significance must be a number in (0, 1], got 0",
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
