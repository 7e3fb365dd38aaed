import assert from "node:assert/strict";
import { keywordTermScore } from "./bm25.ts";
import { EmbeddedRecommender, matchesFilter } from "./recommender.ts";

const f = Math.fround;

// Four documents, 6 indicator values in all: docCount 4, sumDocFreq 6.
const docs = [
  { id: "p", indicators: ["a", "b"] },
  { id: "q", indicators: ["a"] },
  { id: "r", indicators: ["b", "c"] },
  { id: "s", indicators: ["z"] },
  { id: "t", indicators: [] }, // no field: not counted in docCount
];

/** BM25 for a keyword term, straight from the formula in doubles. */
function bm25(df: number, docCount: number, sumDocFreq: number) {
  const idf = Math.log(1 + (docCount - df + 0.5) / (df + 0.5));
  const avgdl = sumDocFreq / docCount;
  const tfNorm = (1 * (1.2 + 1)) / (1 + 1.2 * (1 - 0.75 + 0.75 * 1 / avgdl));
  return idf * tfNorm; // Elasticsearch keeps Lucene's legacy (k1 + 1) factor
}

Deno.test("keyword BM25 equals the textbook formula within float precision", () => {
  for (const [df, n, sum] of [[1, 4, 6], [2, 4, 6], [1, 1, 1], [7, 100, 930]]) {
    const got = keywordTermScore({ docFreq: df, docCount: n, sumDocFreq: sum });
    const want = bm25(df, n, sum);
    assert.ok(Math.abs(got - want) / want < 1e-6, `${got} vs ${want}`);
    assert.equal(got, f(got), "score is a 32-bit float");
  }
  assert.equal(
    keywordTermScore({ docFreq: 1, docCount: 4, sumDocFreq: 6, boost: 2 }),
    f(2 * keywordTermScore({ docFreq: 1, docCount: 4, sumDocFreq: 6 })),
  );
});

Deno.test("embedded recommender sums BM25 over matched history items", async () => {
  const r = new EmbeddedRecommender(docs);
  const a = keywordTermScore({ docFreq: 2, docCount: 4, sumDocFreq: 6 });
  const b = keywordTermScore({ docFreq: 2, docCount: 4, sumDocFreq: 6 });
  const c = keywordTermScore({ docFreq: 1, docCount: 4, sumDocFreq: 6 });
  assert.deepEqual(
    await r.recommend({ backfill: false, history: ["a", "b", "c"] }),
    [
      { id: "r", score: f(b + c) },
      { id: "p", score: f(a + b) },
      { id: "q", score: a },
    ],
  );
  // rarer indicator (c: in 1 doc) outweighs a common one (a: in 2)
  assert.ok(c > a);
});

Deno.test("embedded recommender excludes history, dedupes, ties by id, honours num", async () => {
  const r = new EmbeddedRecommender(docs);
  // "p" is in the history: excluded even though it matches "a".
  const got = await r.recommend({ backfill: false, history: ["a", "a", "p"] });
  assert.deepEqual(got.map((x) => x.id), ["q"]);
  // p and q tie on "a": ordered by id
  assert.deepEqual(
    (await r.recommend({ backfill: false, history: ["a"] })).map((x) => x.id),
    ["p", "q"],
  );
  assert.deepEqual(
    (await r.recommend({ backfill: false, history: ["a"], num: 1 })).map((x) =>
      x.id
    ),
    ["p"],
  );
  assert.deepEqual(
    await r.recommend({ backfill: false, history: ["unknown"] }),
    [],
  );
  assert.deepEqual(await r.recommend({ backfill: false, history: [] }), []);
});

Deno.test("embedded recommender rejects malformed requests", async () => {
  const r = new EmbeddedRecommender(docs);
  await assert.rejects(
    () => r.recommend({ history: "a" as unknown as string[] }),
    {
      name: "TypeError",
      message:
        "request.history must be an array or an object of arrays by event type",
    },
  );
  await assert.rejects(
    () =>
      r.recommend({ backfill: false, history: ["a", 3 as unknown as string] }),
    { message: "request.history[1] must be a non-empty string, got 3" },
  );
  await assert.rejects(
    () => r.recommend({ backfill: false, history: ["a"], num: 0 }),
    { message: "request.num must be an integer from 1 to 1000, got 0" },
  );
});

Deno.test("a later document with the same id replaces the earlier", async () => {
  const r = new EmbeddedRecommender([
    { id: "x", indicators: ["a"] },
    { id: "x", indicators: ["b"] },
  ]);
  assert.equal(r.size, 1);
  assert.deepEqual(await r.recommend({ backfill: false, history: ["a"] }), []);
  assert.equal(
    (await r.recommend({ backfill: false, history: ["b"] }))[0].id,
    "x",
  );
});

Deno.test("BM25 statistics are per field: other indicator fields do not change scores", async () => {
  const withOthers = new EmbeddedRecommender([
    { id: "p", indicators: ["a"], indicators_view: ["a", "b", "c"] },
    { id: "q", indicators: ["b"], similar_view: ["a"] },
    { id: "r", indicators: [], indicators_view: ["a"] },
  ]);
  const plain = new EmbeddedRecommender([
    { id: "p", indicators: ["a"] },
    { id: "q", indicators: ["b"] },
    { id: "r", indicators: [] },
  ]);
  const want = keywordTermScore({ docFreq: 1, docCount: 2, sumDocFreq: 2 });
  assert.deepEqual(
    await withOthers.recommend({ backfill: false, history: ["a"] }),
    [
      { id: "p", score: want },
    ],
  );
  assert.deepEqual(
    await withOthers.recommend({ backfill: false, history: ["a"] }),
    await plain.recommend({ backfill: false, history: ["a"] }),
  );
});

Deno.test("rules: filters, boosts, exclusions, paging, backfill, explain", async () => {
  const r = new EmbeddedRecommender([
    { id: "p", indicators: ["a"], metadata: { category: "x", popularity: 1 } },
    {
      id: "q",
      indicators: ["a", "b"],
      metadata: { category: "y", popularity: 5 },
    },
    { id: "r", indicators: ["b"], metadata: { category: "x", popularity: 9 } },
    { id: "s", indicators: [], metadata: { category: "x", popularity: 7 } },
    { id: "t", indicators: [], metadata: { category: "y" } },
  ]);
  const a = keywordTermScore({ docFreq: 2, docCount: 3, sumDocFreq: 4 });
  const b = a; // b is also in 2 of the 3 documents with indicators
  // q matches both history items
  assert.deepEqual(
    await r.recommend({ history: ["a", "b"], explain: true, num: 3 }),
    [
      {
        id: "q",
        score: f(a + b),
        because: [{ field: "indicators", item: "a" }, {
          field: "indicators",
          item: "b",
        }],
      },
      { id: "p", score: a, because: [{ field: "indicators", item: "a" }] },
      { id: "r", score: b, because: [{ field: "indicators", item: "b" }] },
    ],
  );
  // a boost adds a constant; a filter removes; backfill follows by popularity
  assert.deepEqual(
    await r.recommend({
      history: ["a", "b"],
      boosts: [{ field: "category", values: ["x"], boost: 2 }],
      filters: [{ field: "popularity", gte: 2 }],
    }),
    [
      { id: "r", score: f(b + 2) },
      { id: "q", score: f(a + b) },
      { id: "s", score: 0, backfill: true },
    ],
  );
  // paging over the ranking then the backfill; exclusions apply to both
  assert.deepEqual(
    (await r.recommend({ history: ["a"], exclude: ["s"], from: 1, num: 3 }))
      .map((x) => [x.id, x.backfill ?? false]),
    [["q", false], ["r", true], ["t", true]],
  );
  // item-based: items that share the item's indicator
  assert.deepEqual(
    (await r.recommend({ item: "a", backfill: false })).map((x) => x.id),
    ["p", "q"],
  );
});

Deno.test("matchesFilter compares like Elasticsearch", () => {
  const meta = {
    n: 5,
    d: "2015-06-10T00:00:00.000Z",
    k: "b",
    tags: ["x", "y"],
    on: true,
  };
  assert.ok(matchesFilter(meta, { field: "n", gt: 4, lte: 5 }));
  assert.ok(!matchesFilter(meta, { field: "n", lt: 5 }));
  assert.ok(matchesFilter(meta, { field: "d", gte: "2015-06-01" }));
  assert.ok(!matchesFilter(meta, { field: "d", lt: "2015-06-10" }));
  assert.ok(matchesFilter(meta, { field: "k", gte: "a", lt: "c" }));
  assert.ok(matchesFilter(meta, { field: "tags", value: "y" }));
  assert.ok(matchesFilter(meta, { field: "on", value: true }));
  assert.ok(!matchesFilter(meta, { field: "missing", values: ["x"] }));
  assert.ok(!matchesFilter(undefined, { field: "n", gte: 0 }));
});

Deno.test("weighted fields score boost × stored weight (9-bit), summed like Lucene", async () => {
  const weighted = [
    { id: "p", indicators: ["a", "b"], weights: { indicators: [0.3, 2.5] } },
    { id: "q", indicators: ["a"], weights: { indicators: [4] } },
    { id: "r", indicators: ["b", "c"], weights: { indicators: [1.1, 0.3] } },
  ];
  const r = new EmbeddedRecommender(weighted);
  const got = await r.recommend({
    history: ["a", "b", "c"],
    fieldBoosts: { indicators: 2 },
  });
  // 0.3 is stored as 0.2998046875 and 1.1 as 1.09765625
  assert.deepEqual(got, [
    { id: "q", score: 8 },
    { id: "p", score: f(2 * 0.2998046875 + 2 * 2.5) },
    { id: "r", score: f(2 * 1.09765625 + 2 * 0.2998046875) },
  ]);
  assert.throws(
    () =>
      new EmbeddedRecommender([
        ...weighted,
        { id: "s", indicators: ["a"] },
      ]),
    {
      name: "TypeError",
      message:
        'document "s": field "indicators" is weighted in other documents but not in this one',
    },
  );
  // an empty field, weighted or not, does not decide the field's type
  const mixed = new EmbeddedRecommender([
    { id: "t", indicators: [] },
    ...weighted,
    { id: "u", indicators: [] },
  ]);
  assert.deepEqual(
    await mixed.recommend({ history: ["a", "b", "c"], backfill: false }),
    [
      { id: "q", score: 4 },
      { id: "p", score: f(0.2998046875 + 2.5) },
      { id: "r", score: f(1.09765625 + 0.2998046875) },
    ],
  );
  assert.throws(
    () =>
      new EmbeddedRecommender([
        { id: "s", indicators: ["a"], weights: { indicators: [1, 2] } },
      ]),
    { message: 'document "s": field "indicators" has 1 ids but 2 weights' },
  );
  assert.throws(
    () =>
      new EmbeddedRecommender([
        { id: "s", indicators: ["a"], weights: { indicators: [0] } },
      ]),
    RangeError,
  );
});

Deno.test("maxQueryEvents caps the history used per event type", async () => {
  // "x" matches the 3rd history item only: cut off by a cap of 2
  const capped = [{ id: "x", indicators: ["c"] }, {
    id: "y",
    indicators: ["a"],
  }];
  const history = ["a", "b", "c"];
  const ids = async (maxQueryEvents?: number) =>
    (await new EmbeddedRecommender(capped, { maxQueryEvents }).recommend({
      history,
      backfill: false,
    })).map((r) => r.id);
  assert.deepEqual(await ids(2), ["y"]);
  assert.deepEqual(await ids(3), ["x", "y"]);
  assert.deepEqual(await ids(), ["x", "y"]); // default 100
});
