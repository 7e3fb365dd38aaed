import assert from "node:assert/strict";
import { buildIndicators } from "./build.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { readEvents } from "../events/read.ts";
import { featureValue, indicatorWeights, reweightModel } from "./weights.ts";

Deno.test("featureValue keeps 9 significant bits, as Lucene's FeatureField", () => {
  // 0.3 = 1.0011001100110011...b × 2^-2: 8 fraction bits kept, 1.00110011b
  assert.equal(featureValue(0.3), (1 + 51 / 256) / 4); // 0.2998046875
  // 1.1 = 1.000110011...b: 1.00011001b
  assert.equal(featureValue(1.1), 1 + 25 / 256); // 1.09765625
  // exactly representable in 9 bits: unchanged
  for (const w of [1, 2.5, 4, 511, 0.125, 2 ** -126]) {
    assert.equal(featureValue(w), w);
  }
  // 513 = 1000000001b needs 10 bits: truncated, never rounded up
  assert.equal(featureValue(513), 512);
  assert.equal(featureValue(1023), 1022);
  for (const bad of [0, -1, 1e-40, NaN, Infinity, 1e39]) {
    assert.throws(() => featureValue(bad), RangeError, String(bad));
  }
});

Deno.test("indicatorWeights: llr copies scores, llr-idf multiplies by BM25's idf", () => {
  const make = (): IndicatorDocument[] => [
    { id: "a", indicators: ["c"], scores: { indicators: [2] } },
    { id: "b", indicators: ["c", "d"], scores: { indicators: [3, 1] } },
    { id: "c", indicators: [], scores: { indicators: [] } },
  ];
  const none = make();
  assert.deepEqual(indicatorWeights(none, "none"), make());
  assert.deepEqual(
    indicatorWeights(make(), "llr").map((d) => d.weights),
    [{ indicators: [2] }, { indicators: [3, 1] }, { indicators: [] }],
  );
  // N = 2 documents have the field; "c" is in both, "d" in one
  const idfC = Math.log(1 + (2 - 2 + 0.5) / (2 + 0.5)); // ln 1.2
  const idfD = Math.log(1 + (2 - 1 + 0.5) / (1 + 0.5)); // ln 2
  assert.deepEqual(
    indicatorWeights(make(), "llr-idf").map((d) => d.weights),
    [
      { indicators: [2 * idfC] },
      { indicators: [3 * idfC, 1 * idfD] },
      { indicators: [] },
    ],
  );
});

Deno.test("indicatorWeights drops indicators without positive LLR and checks alignment", () => {
  const docs: IndicatorDocument[] = [
    {
      id: "a",
      indicators: ["x", "y", "z"],
      scores: { indicators: [2, 0, -1] },
    },
  ];
  const shared = docs[0].scores;
  const [a] = indicatorWeights(docs.map((d) => ({ ...d })), "llr");
  assert.deepEqual(a.indicators, ["x"]);
  assert.deepEqual(a.scores, { indicators: [2] });
  assert.deepEqual(a.weights, { indicators: [2] });
  // the caller's documents (shallow-copied here) keep their scores
  assert.deepEqual(shared, { indicators: [2, 0, -1] });
  assert.deepEqual(docs[0].indicators, ["x", "y", "z"]);
  assert.throws(
    () =>
      indicatorWeights([
        { id: "b", indicators: ["x"], scores: { indicators: [1, 2] } },
      ], "llr"),
    { name: "TypeError", message: /field "indicators" has 1 ids but 2 scores/ },
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => indicatorWeights([], "bm25" as any),
    { message: 'weighting must be one of llr-idf, llr, none, got "bm25"' },
  );
});

Deno.test("buildIndicators weights every field by root LLR × idf with llr-idf (the similar-items field by default)", async () => {
  const path = new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
  const { documents, fields } = await buildIndicators(readEvents(path), {
    primaryEvent: "transaction",
    minRootLlr: 2,
    weights: "llr-idf",
  });
  // the default: learned history fields, llr-idf similar items
  const defaults = await buildIndicators(readEvents(path), {
    primaryEvent: "transaction",
    minRootLlr: 2,
  });
  assert.deepEqual(
    defaults.manifest.fields.map((f) => [f.name, f.weights]),
    [
      ["indicators", "learned"],
      ["indicators_addtocart", "learned"],
      ["indicators_view", "learned"],
      ["similar_view", "llr-idf"],
    ],
  );
  const similar = (docs: typeof documents) =>
    docs.map((d) => [d.similar_view, d.weights!.similar_view]);
  assert.deepEqual(similar(defaults.documents), similar(documents));
  let checked = 0;
  for (const field of fields) {
    // idf recomputed from the documents: N with the field, df per indicator
    const withField = documents.filter((d) =>
      (d as unknown as Record<string, string[]>)[field].length > 0
    );
    const df = new Map<string, number>();
    for (const d of withField) {
      for (const id of (d as unknown as Record<string, string[]>)[field]) {
        df.set(id, (df.get(id) ?? 0) + 1);
      }
    }
    for (const d of withField) {
      const ids = (d as unknown as Record<string, string[]>)[field];
      ids.forEach((id, i) => {
        const n = withField.length, f = df.get(id)!;
        const want = d.scores[field][i] *
          Math.log(1 + (n - f + 0.5) / (f + 0.5));
        assert.ok(Math.abs(d.weights![field][i] - want) < 1e-12);
        checked++;
      });
    }
  }
  assert.ok(checked > 100, `only ${checked} weights checked`);
  const plain = await buildIndicators(readEvents(path), {
    primaryEvent: "transaction",
    minRootLlr: 2,
    weights: "none",
  });
  assert.equal(plain.documents.some((d) => d.weights), false);
  await assert.rejects(
    () =>
      buildIndicators(readEvents(path), {
        primaryEvent: "transaction",
        weights: "bm25" as never,
      }),
    {
      name: "ConfigError",
      path: "weights",
      message: 'weights must be one of llr-idf, llr, none, learned, got "bm25"',
    },
  );
});

Deno.test("buildIndicators' weights equal indicatorWeights on an unweighted build", async () => {
  const path = new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
  for (const weights of ["llr", "llr-idf"] as const) {
    for (const minRootLlr of [-Infinity, 0, 3]) {
      const built = await buildIndicators(readEvents(path), {
        primaryEvent: "transaction",
        minRootLlr,
        weights,
      });
      const plain = await buildIndicators(readEvents(path), {
        primaryEvent: "transaction",
        minRootLlr,
        weights: "none",
      });
      // reweighting a model gives the weighted build's model, manifest
      // fields included, and leaves the input alone
      const before = structuredClone(plain.documents);
      const reweighted = reweightModel(plain, weights);
      assert.deepEqual(plain.documents, before);
      assert.deepEqual(reweighted.documents, built.documents);
      assert.deepEqual(
        { ...reweighted.manifest, created: "" },
        { ...built.manifest, created: "" },
      );
      const derived = indicatorWeights(plain.documents, weights);
      assert.deepEqual(built.documents, derived, `${weights} ${minRootLlr}`);
      const kept = built.documents.reduce(
        (n, d) => n + d.indicators.length,
        0,
      );
      assert.equal(built.stats.fields.indicators.indicatorsKept, kept);
    }
  }
});
