/**
 * A Mahout similarity field merged into a built model serves: the manifest
 * lists it (unweighted), so the embedded backend accepts its documents and
 * the history of that field's event type queries it.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeMahoutField, parseMahoutSimilarity } from "../model/mahout.ts";

const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
  .pathname;

Deno.test("mahout: a built model with a Mahout field serves it", async () => {
  const model = await buildIndicators(readEventBatches(fixture), {
    primaryEvent: "transaction",
    minRootLlr: 0,
    weights: "llr-idf",
  });
  const weighted = model.manifest.fields.map((f) => f.weights);
  assert.ok(weighted.every((w) => w === "llr-idf"));
  // spark-itemsimilarity's cross-indicators of purchases by "fav" events:
  // the demo log has none, so the field is Mahout's alone
  const rows = parseMahoutSimilarity(
    "2000\t1701:30.0 1205:12.0\n1701\t2000:30.0\nX1\t2000:9.0\n",
    "cross-similarity-matrix/part-00000",
  );
  const { matched, added } = mergeMahoutField(model, "indicators_fav", rows);
  assert.deepEqual([matched, added], [2, 1]);
  const field = model.manifest.fields.at(-1)!;
  assert.deepEqual(field, {
    name: "indicators_fav",
    rows: "transaction",
    columns: "fav",
    weights: "none",
    indicators: 4,
  });
  // before the manifest held the field, this threw "field ... is not in
  // the manifest"
  const recommender = new EmbeddedRecommender(model);
  const recs = await recommender.recommend({
    history: { fav: ["2000"] },
    num: 3,
    backfill: false,
  });
  // the items whose Mahout row lists 2000, and only those
  assert.deepEqual(recs.map((r) => r.id).sort(), ["1701", "X1"]);
  assert.equal((await recommender.manifest()).fields.length, 5);
});
