/**
 * `cco build-index --engine spark`: the same model as `--engine deno` (the
 * export, its manifest but for `created` and `tool.engine`), published
 * through the usual lifecycle into an index equal to the Deno-built one's;
 * a Spark run that fails exits 1 with one line and leaves the alias where
 * it was; options the Spark job does not implement are refused before
 * anything runs, among them the Deno build's default weighting (learned):
 * both engines are given `--weights llr-idf`.
 *
 * The tests that run Spark need Elasticsearch too (`ES_URL`) and run under
 * `CI=true` or `CCO_SPARK_TESTS=1`; each successful run is one
 * `spark-submit` (the failing one stops before Spark starts its session).
 *
 * @module
 */

import assert from "node:assert/strict";
import {
  DEFAULT_MAX_INDICATORS_PER_ITEM,
  DEFAULT_MIN_ROOT_LLR,
  DEFAULT_SIGNIFICANCE,
} from "../indicators/build.ts";
import type { ModelManifest } from "../model/manifest.ts";
import { readModel } from "../model/ndjson.ts";
import { type EsContext, esTest } from "./_es.ts";
import { SMALL_INPUT_CONF, sparkEnabled } from "./_spark.ts";
import { root, runTask } from "./_cli.ts";

const enabled = sparkEnabled;
const fixture = `${root}fixtures/demo_events.csv`;

// the tests' Spark settings, but one: given by flag
const { "spark.ui.enabled": _, ...FAST } = SMALL_INPUT_CONF;

/** A manifest without what differs between two builds of the same model. */
function sameModel(manifest: ModelManifest): unknown {
  const { created: _, tool, ...rest } = manifest;
  return { ...rest, tool: { ...tool, engine: "" } };
}

/** Every document of the index an alias points to, its mapping and manifest. */
async function indexContents(client: EsContext["client"], alias: string) {
  const [index] = Object.keys(await client.indices.getAlias({ name: alias }));
  const mapping = (await client.indices.getMapping({ index }))[index].mappings;
  const { hits } = await client.search<Record<string, unknown>>({
    index,
    size: 10_000,
    query: { match_all: {} },
  });
  const sources = hits.hits.map((h) => h._source!)
    .sort((a, b) => (a.id as string) < (b.id as string) ? -1 : 1);
  const meta = mapping._meta as {
    cco: { state: string; manifest: ModelManifest };
  };
  const { _meta: _, ...rest } = mapping;
  return { index, mapping: rest, meta, sources };
}

function sparkEsTest(name: string, fn: (ctx: EsContext) => Promise<void>) {
  if (!enabled) {
    Deno.test({
      name: `${name} [needs Spark: CI=true or CCO_SPARK_TESTS=1]`,
      ignore: true,
      fn: () => {},
    });
    return;
  }
  esTest(`${name} [spark]`, fn);
}

sparkEsTest(
  "build-index --engine spark: the Deno build's model, exported to a directory and published to an equal index",
  async ({ client, url, index }) => {
    const dir = await Deno.makeTempDir({ prefix: "cco-spark-cli-" });
    const sparkAlias = index("spark-cli");
    const denoAlias = index("deno-cli");
    try {
      // the same build flags to both engines: a weighting Spark has, the
      // other options their defaults
      const flags = ["--weights", "llr-idf"];
      const deno = await runTask("build-index", [
        "--engine",
        "deno",
        "--events",
        fixture,
        ...flags,
        "--out",
        `${dir}/deno.ndjson`,
      ]);
      assert.equal(deno.code, 0, deno.stderr);
      // the Spark settings from the settings file, one more by flag
      await Deno.writeTextFile(
        `${dir}/cco.json`,
        JSON.stringify({
          spark: { master: "local[2]", conf: FAST },
          elasticsearch: { alias: sparkAlias },
        }),
      );
      const spark = await runTask("build-index", [
        "--config",
        `${dir}/cco.json`,
        "--engine",
        "spark",
        "--spark-conf",
        "spark.ui.enabled=false",
        "--events",
        fixture,
        ...flags,
        "--out",
        `${dir}/spark`,
        "--json",
      ], { ES_URL: url });
      assert.equal(spark.code, 0, spark.stderr);
      const summary = JSON.parse(spark.stdout);
      assert.equal(summary.out, `${dir}/spark`);
      assert.equal(summary.documents, 120);
      assert.equal(summary.published.alias, sparkAlias);
      assert.equal(summary.published.documents, 120);
      assert.equal(summary.published.previous, null);

      // the export: a model directory holding the Deno build's model
      const fromDeno = await readModel(`${dir}/deno.ndjson`);
      const fromSpark = await readModel(`${dir}/spark`);
      // the manifest, the parts (as many as Spark's partitions: two with
      // the tests' settings) and _SUCCESS; no checksum files
      const names = (await Array.fromAsync(Deno.readDir(`${dir}/spark`)))
        .map((e) => e.name).sort();
      const parts = names.filter((n) => n.startsWith("part-"));
      assert.ok(parts.length >= 1);
      assert.deepEqual(names, [
        "_SUCCESS",
        "manifest.json",
        ...parts.map((_, i) => `part-${String(i).padStart(5, "0")}.ndjson`),
      ]);
      assert.equal(fromSpark.manifest.tool.engine, "spark");
      assert.equal(fromDeno.manifest.tool.engine, "deno");
      assert.deepEqual(
        sameModel(fromSpark.manifest),
        sameModel(fromDeno.manifest),
      );
      // the default threshold: a significance level, recorded
      assert.deepEqual(
        fromSpark.manifest.fields.map((f) => [
          f.weights,
          f.significance,
          f.minRootLlr,
          f.maxIndicatorsPerItem,
        ]),
        fromSpark.manifest.fields.map(() => [
          "llr-idf",
          DEFAULT_SIGNIFICANCE,
          DEFAULT_MIN_ROOT_LLR,
          DEFAULT_MAX_INDICATORS_PER_ITEM,
        ]),
      );
      assert.deepEqual(fromSpark.manifest.source, {
        events: fixture,
        format: "retailrocket",
      });
      // the same documents, to the bit (Spark writes them in id order)
      const byId = [...fromDeno.documents].sort((a, b) => a.id < b.id ? -1 : 1);
      assert.equal(fromSpark.documents.length, 120);
      assert.deepEqual(fromSpark.documents, byId);
      assert.deepEqual(
        fromSpark.documents.map((d) => JSON.stringify(d)),
        byId.map((d) => JSON.stringify(d)),
      );

      // the index: the Deno export published the usual way
      const published = await runTask("build-index", [
        "--indicators",
        `${dir}/deno.ndjson`,
        "--alias",
        denoAlias,
      ], { ES_URL: url });
      assert.equal(published.code, 0, published.stderr);
      const a = await indexContents(client, sparkAlias);
      const b = await indexContents(client, denoAlias);
      assert.equal(a.sources.length, 120);
      assert.deepEqual(a.sources, b.sources);
      assert.deepEqual(a.mapping, b.mapping);
      assert.equal(a.meta.cco.state, "complete");
      assert.equal(a.meta.cco.manifest.tool.engine, "spark");
      assert.deepEqual(
        sameModel(a.meta.cco.manifest),
        sameModel(b.meta.cco.manifest),
      );
    } finally {
      await client.indices.delete({
        index: `${sparkAlias}_*,${denoAlias}_*`,
        ignore_unavailable: true,
      }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

sparkEsTest(
  "build-index --engine spark: a failing Spark run exits 1 with one line and leaves the alias untouched",
  async ({ client, url, index }) => {
    const dir = await Deno.makeTempDir({ prefix: "cco-spark-cli-" });
    const alias = index("spark-fail");
    try {
      const first = await runTask("build-index", [
        "--events",
        fixture,
        "--alias",
        alias,
      ], { ES_URL: url });
      assert.equal(first.code, 0, first.stderr);
      const before = await client.indices.getAlias({ name: alias });
      const indices = async () =>
        Object.keys(await client.indices.get({ index: `${alias}_*` })).sort();
      const existing = await indices();
      const failed = await runTask("build-index", [
        "--engine",
        "spark",
        "--events",
        fixture,
        "--weights",
        "llr-idf",
        "--alias",
        alias,
        "--spark-conf",
        "spark.driver.memory=lots",
        "--out",
        `${dir}/model`,
      ], { ES_URL: url });
      assert.equal(failed.code, 1, failed.stderr);
      const lines = failed.stderr.trimEnd().split("\n");
      assert.equal(
        lines.at(-1),
        "error: spark-submit failed (exit 1): Invalid maximum heap size: -Xmxlots (the JVM could not start)",
      );
      assert.equal(lines.filter((l) => l.startsWith("error:")).length, 1);
      assert.deepEqual(await client.indices.getAlias({ name: alias }), before);
      assert.deepEqual(await indices(), existing);
    } finally {
      await client.indices.delete({
        index: `${alias}_*`,
        ignore_unavailable: true,
      }).catch(() => {});
      await Deno.remove(dir, { recursive: true });
    }
  },
);

Deno.test("build-index --engine spark refuses what the Spark build does not implement, before anything runs", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(
      `${dir}/rankings.json`,
      JSON.stringify({
        rankings: [{ name: "hot", type: "hot", duration: "7 days" }],
      }),
    );
    await Deno.mkdir(`${dir}/other`);
    await Deno.writeTextFile(`${dir}/other/keep.txt`, "x");
    await Deno.writeTextFile(
      `${dir}/learned.json`,
      JSON.stringify({ weights: "learned" }),
    );
    // --engine spark with all it needs: each case adds what is refused
    const base = [
      "--engine",
      "spark",
      "--events",
      fixture,
      "--weights",
      "llr-idf",
    ];
    const noWeights = ["--engine", "spark", "--events", fixture];
    const cases: [string[], string][] = [
      // the Deno build's default weighting, learned, is not on Spark: no
      // other model than --engine deno's with the same flags
      [
        [...noWeights, "--out", `${dir}/m`],
        "error: --weights is required with --engine spark: the default, learned, is not implemented by the Spark build; pass --weights llr-idf (or llr, none), and the same to --engine deno for the same model",
      ],
      [
        [...noWeights, "--weights", "learned", "--out", `${dir}/m`],
        "error: --weights learned is not implemented by the Spark build (--engine spark): use llr-idf, llr or none, or build with --engine deno",
      ],
      [
        [...noWeights, "--out", `${dir}/m`, "--config", `${dir}/learned.json`],
        "error: weights learned is not implemented by the Spark build (--engine spark): use llr-idf, llr or none, or build with --engine deno",
      ],
      [
        [...base, "--out", `${dir}/m`, "--ridge", "2"],
        "error: --ridge is not implemented by the Spark build (--engine spark): leave it out, or build with --engine deno",
      ],
      [
        [...base, "--out", `${dir}/m`, "--min-events-per-user", "2"],
        "error: --min-events-per-user is not implemented by the Spark build (--engine spark): leave it out, or build with --engine deno",
      ],
      [
        [...base, "--out", `${dir}/m`, "--config", `${dir}/rankings.json`],
        "error: rankings is not implemented by the Spark build (--engine spark): leave it out, or build with --engine deno",
      ],
      [
        ["--engine", "flink", "--events", fixture, "--out", `${dir}/m`],
        'error: --engine must be deno or spark, got "flink"',
      ],
      [
        [
          "--events",
          fixture,
          "--out",
          `${dir}/m.ndjson`,
          "--spark-conf",
          "a=b",
        ],
        "error: --spark-conf needs --engine spark",
      ],
      [
        [...base, "--out", `${dir}/m`, "--spark-conf", "spark.driver.memory"],
        'error: --spark-conf must look like key=value, got "spark.driver.memory"',
      ],
      [
        [...base, "--spark-master", "yarn", "--out", `${dir}/m.ndjson`],
        "error: --out DIR is needed with --spark-master yarn: a directory the cluster writes and this machine reads (a local temporary one is not)",
      ],
      [
        [...base, "--out", `${dir}/other`],
        `error: --out ${dir}/other is not empty and not a model directory (has keep.txt); choose another --out`,
      ],
      [
        [
          ...base,
          "--out",
          `${dir}/m`,
          "--items",
          `${root}fixtures/demo_items.csv`,
        ],
        `error: --items with --engine spark and --out DIR: the directory holds the model as Spark computed it; merge the items when publishing it (build-index --indicators ${dir}/m --items FILE), or give --out FILE.ndjson`,
      ],
      [
        ["--engine", "spark", "--indicators", `${dir}/m`, "--out", `${dir}/x`],
        "error: --engine spark builds from --events; --indicators publishes a model as it is",
      ],
    ];
    for (const [args, message] of cases) {
      const result = await runTask("build-index", args);
      assert.equal(result.code, 1, result.stderr);
      // the one line, and nothing else: Spark never started
      assert.equal(result.stderr, `${message}\n`);
    }
    assert.equal(
      await Deno.stat(`${dir}/m`).then(() => true, () => false),
      false,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
