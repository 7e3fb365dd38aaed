/**
 * The indicators computed on Apache Spark: `cco_job.py` (PySpark,
 * DataFrame/SQL only) computes exactly the documents of `buildIndicators`
 * (same binarization, history cap, N, signed root LLR, thresholds, top-k and
 * ties, weights, fields and popularity) for logs too large for one process,
 * and {@linkcode runSparkBuild} runs it with `spark-submit`, installing
 * PySpark into a virtual environment on first use.
 *
 * The job also runs on its own, on any cluster:
 * `spark-submit --master yarn spark/cco_job.py --events hdfs:///events/ --out hdfs:///model/`
 * (see `--help`). Its output directory holds `part-NNNNN.ndjson` (one
 * document per item, the NDJSON export's lines) and `manifest.json`.
 *
 * Not exported from the package's main entry point: the embedded and
 * Elasticsearch paths never load it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_SPARK_MASTER, PYSPARK_VERSION } from "./mod.ts";
 *
 * assert.equal(PYSPARK_VERSION, "4.3.0");
 * assert.equal(DEFAULT_SPARK_MASTER, "local[2]");
 * ```
 *
 * @module
 */

export * from "./runner.ts";
// the library types the runner's options and results are made of
export type { EventFormat, TimestampUnit } from "../events/format.ts";
export type { OnError } from "../events/read.ts";
export type { IndicatorOptions } from "../indicators/build.ts";
export type {
  FieldManifest,
  MetadataType,
  ModelManifest,
  RankingManifest,
  ServingDefaults,
  Weighting,
} from "../model/manifest.ts";
export { MANIFEST_FORMAT } from "../model/manifest.ts";
