import assert from "node:assert/strict";
import { keywordTermScore } from "./bm25.ts";
import { EmbeddedRecommender, matchesFilter } from "./recommender.ts";
import type {
  IndexableDocument,
  IndicatorDocument,
} from "../model/document.ts";
import {
  manifestFor,
  type MetadataType,
  type Model,
} from "../model/manifest.ts";
import { mergeItems, parseItems } from "../model/items.ts";
import { buildIndicators } from "../indicators/build.ts";
import { ConfigError, DeadlineError, RequestError } from "../errors/mod.ts";

const f = Math.fround;

/** A model of hand-made documents (primary event `transaction`). */
function model<D extends IndexableDocument>(
  documents: D[],
  metadata?: Record<string, MetadataType>,
): Model<D> {
  return {
    manifest: manifestFor(documents, { primaryEvent: "transaction", metadata }),
    documents,
  };
}

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
  const r = new EmbeddedRecommender(model(docs));
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
  const r = new EmbeddedRecommender(model(docs));
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
  const r = new EmbeddedRecommender(model(docs));
  await assert.rejects(
    () => r.recommend({ history: "a" as unknown as string[] }),
    {
      name: "RequestError",
      path: "request.history",
      message: 'request.history must be an array, or an object, got "a"',
    },
  );
  await assert.rejects(
    () =>
      r.recommend({ backfill: false, history: ["a", 3 as unknown as string] }),
    {
      name: "RequestError",
      path: "request.history[1]",
      message: "request.history[1] must be a string, got 3",
    },
  );
  await assert.rejects(
    () => r.recommend({ backfill: false, history: ["a"], num: 0 }),
    {
      name: "RequestError",
      path: "request.num",
      message: "request.num must be >= 1, got 0",
    },
  );
  // before issue 11: TypeError "(request.filters ?? []).map is not a function"
  await assert.rejects(
    () => r.recommend({ filters: "x" as never }),
    (e) => {
      assert.ok(e instanceof RequestError);
      assert.equal(e.path, "request.filters");
      assert.equal(e.message, 'request.filters must be an array, got "x"');
      return true;
    },
  );
});

Deno.test("a later document with the same id replaces the earlier", async () => {
  const r = new EmbeddedRecommender(model([
    { id: "x", indicators: ["a"] },
    { id: "x", indicators: ["b"] },
  ]));
  assert.equal(r.size, 1);
  assert.deepEqual(await r.recommend({ backfill: false, history: ["a"] }), []);
  assert.equal(
    (await r.recommend({ backfill: false, history: ["b"] }))[0].id,
    "x",
  );
});

Deno.test("BM25 statistics are per field: other indicator fields do not change scores", async () => {
  const withOthers = new EmbeddedRecommender(model([
    { id: "p", indicators: ["a"], indicators_view: ["a", "b", "c"] },
    { id: "q", indicators: ["b"], similar_view: ["a"] },
    { id: "r", indicators: [], indicators_view: ["a"] },
  ]));
  const plain = new EmbeddedRecommender(model([
    { id: "p", indicators: ["a"] },
    { id: "q", indicators: ["b"] },
    { id: "r", indicators: [] },
  ]));
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
  const r = new EmbeddedRecommender(model([
    { id: "p", indicators: ["a"], metadata: { category: "x", popularity: 1 } },
    {
      id: "q",
      indicators: ["a", "b"],
      metadata: { category: "y", popularity: 5 },
    },
    { id: "r", indicators: ["b"], metadata: { category: "x", popularity: 9 } },
    { id: "s", indicators: [], metadata: { category: "x", popularity: 7 } },
    { id: "t", indicators: [], metadata: { category: "y" } },
  ]));
  const a = keywordTermScore({ docFreq: 2, docCount: 3, sumDocFreq: 4 });
  const b = a; // b is also in 2 of the 3 documents with indicators
  // q matches both history items; p and r tie: the more popular r first
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
      { id: "r", score: b, because: [{ field: "indicators", item: "b" }] },
      { id: "p", score: a, because: [{ field: "indicators", item: "a" }] },
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
  // paging over the ranking (q, more popular, then p) then the backfill;
  // exclusions apply to both
  assert.deepEqual(
    (await r.recommend({ history: ["a"], exclude: ["s"], from: 1, num: 3 }))
      .map((x) => [x.id, x.backfill ?? false]),
    [["p", false], ["r", true], ["t", true]],
  );
  // item-based: items that share the item's indicator (equal scores: the
  // more popular q first)
  assert.deepEqual(
    (await r.recommend({ item: "a", backfill: false })).map((x) => x.id),
    ["q", "p"],
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
  assert.ok(matchesFilter(meta, { field: "n", gt: 4, lte: 5 }, "number"));
  assert.ok(!matchesFilter(meta, { field: "n", lt: 5 }, "number"));
  assert.ok(matchesFilter(meta, { field: "d", gte: "2015-06-01" }, "date"));
  assert.ok(!matchesFilter(meta, { field: "d", lt: "2015-06-10" }, "date"));
  assert.ok(matchesFilter(meta, { field: "k", gte: "a", lt: "c" }, "keyword"));
  assert.ok(matchesFilter(meta, { field: "tags", value: "y" }, "keyword"));
  assert.ok(matchesFilter(meta, { field: "on", value: true }, "boolean"));
  assert.ok(
    !matchesFilter(meta, { field: "missing", values: ["x"] }, undefined),
  );
  assert.ok(!matchesFilter(undefined, { field: "n", gte: 0 }, "number"));
  // a date is an instant: an offset bound that sorts before the stored
  // text as a string is after it in time, and equal instants are equal
  const bound = "2015-06-10T01:00:00+02:00"; // 2015-06-09T23:00:00Z
  assert.ok(matchesFilter(meta, { field: "d", gt: bound }, "date"));
  assert.ok(!matchesFilter(meta, { field: "d", gt: bound }, "keyword"));
  assert.ok(
    matchesFilter(
      meta,
      { field: "d", value: "2015-06-10T02:00:00+02:00" },
      "date",
    ),
  );
  assert.ok(
    !matchesFilter(
      meta,
      { field: "d", value: "2015-06-10T02:00:00+02:00" },
      "keyword",
    ),
  );
  assert.ok(matchesFilter(meta, { field: "d", lte: 1433894400000 }, "date"));
});

Deno.test("weighted fields score boost × stored weight (9-bit), summed like Lucene", async () => {
  const weighted = [
    { id: "p", indicators: ["a", "b"], weights: { indicators: [0.3, 2.5] } },
    { id: "q", indicators: ["a"], weights: { indicators: [4] } },
    { id: "r", indicators: ["b", "c"], weights: { indicators: [1.1, 0.3] } },
  ];
  const r = new EmbeddedRecommender(model(weighted));
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
      new EmbeddedRecommender(model([
        ...weighted,
        { id: "s", indicators: ["a"] },
      ])),
    {
      name: "ModelError",
      message: 'document "s": field "indicators" has 1 ids but 0 weights',
    },
  );
  // an empty field, weighted or not, does not decide the field's type
  const mixed = new EmbeddedRecommender(model([
    { id: "t", indicators: [] },
    ...weighted,
    { id: "u", indicators: [] },
  ]));
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
      new EmbeddedRecommender(model([
        { id: "s", indicators: ["a"], weights: { indicators: [1, 2] } },
      ])),
    { message: 'document "s": field "indicators" has 1 ids but 2 weights' },
  );
  assert.throws(
    () =>
      new EmbeddedRecommender(model([
        { id: "s", indicators: ["a"], weights: { indicators: [0] } },
      ])),
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
    (await new EmbeddedRecommender(model(capped), { maxQueryEvents }).recommend(
      {
        history,
        backfill: false,
      },
    )).map((r) => r.id);
  assert.deepEqual(await ids(2), ["y"]);
  assert.deepEqual(await ids(3), ["x", "y"]);
  assert.deepEqual(await ids(), ["x", "y"]); // default 100
});

Deno.test("keyword BM25 is float32 in every step, as Lucene computes it", () => {
  // Elasticsearch 8.19's scores (hit._score) for a `term` query on a
  // keyword field; the double-then-round formula of cco-es 0.1 gave
  // 2.7125613689422607 for the first (tests/es_parity_test.ts checks every
  // statistic of a 40-field index against the live cluster)
  const cases: [number, number, number, number, number][] = [
    [1, 8, 47, 1, 2.7125611305236816],
    [2, 2, 2, 1, 0.18232156336307526],
  ];
  for (const [docFreq, docCount, sumDocFreq, boost, want] of cases) {
    assert.equal(
      keywordTermScore({ docFreq, docCount, sumDocFreq, boost }),
      want,
      `df ${docFreq}, docCount ${docCount}, sumDocFreq ${sumDocFreq}`,
    );
  }
});

Deno.test("a model's own primary event queries `indicators`: a `like` model answers `like` histories", async () => {
  // the defect: a model built with primary `like` (the MovieLens preset)
  // read {history: {like: [...]}} as the secondary field indicators_like,
  // which does not exist, and answered with popularity backfill only,
  // the history items included
  const events = [
    ["u1", "50"],
    ["u1", "7"],
    ["u2", "50"],
    ["u2", "7"],
    ["u3", "181"],
    ["u3", "9"],
    ["u4", "181"],
    ["u4", "9"],
    ["u5", "3"],
    ["u6", "3"],
    ["u6", "50"],
  ].map(([user, item], i) => ({ user, item, event: "like", timestamp: i }));
  const built = await buildIndicators(events, {
    primaryEvent: "like",
    minRootLlr: 0,
  });
  assert.equal(built.manifest.primaryEvent, "like");
  const r = new EmbeddedRecommender(built);
  for (const history of [{ like: ["50", "181"] }, ["50", "181"]]) {
    const got = await r.recommend({ history, num: 3 });
    assert.ok(got.length > 0);
    assert.ok(
      got.slice(0, 2).every((x) => !x.backfill && x.score > 0),
      JSON.stringify(got),
    );
    assert.deepEqual(got.slice(0, 2).map((x) => x.id).sort(), ["7", "9"]);
    assert.ok(!got.some((x) => x.id === "50" || x.id === "181"));
  }
  // the same items through the same field either way
  assert.deepEqual(
    await r.recommend({ history: { like: ["50", "181"] } }),
    await r.recommend({ history: ["50", "181"] }),
  );
  // a type the model lacks is the caller's error, naming the known ones
  await assert.rejects(
    () => r.recommend({ history: { transaction: ["50"] } }),
    (e) => {
      assert.ok(e instanceof RequestError);
      assert.equal(e.path, "request.history.transaction");
      assert.equal(
        e.message,
        "request.history.transaction is not an event type of this model (like)",
      );
      return true;
    },
  );
});

Deno.test("an event type the model lacks is a RequestError listing the known types", async () => {
  const r = new EmbeddedRecommender(model([
    { id: "p", indicators: ["a"], indicators_view: ["b"], similar_view: [] },
  ]));
  await assert.rejects(
    () => r.recommend({ history: { transaction: ["a"], cart: ["b"] } }),
    {
      name: "RequestError",
      path: "request.history.cart",
      message:
        "request.history.cart is not an event type of this model (transaction, view)",
    },
  );
  // similar_view is queried by item requests' fields only, not a history type
  await assert.rejects(
    () => r.recommend({ history: { similar_view: ["b"] } }),
    { name: "RequestError", path: "request.history.similar_view" },
  );
});

Deno.test("date metadata: declared dates compare as instants, undeclared date-like text as keywords", async () => {
  const documents: IndicatorDocument[] = [
    { id: "p", indicators: ["a"], scores: { indicators: [1] } },
    { id: "q", indicators: ["a"], scores: { indicators: [1] } },
  ];
  const items = await parseItems(
    [
      '{"id":"p","expires":"2015-06-01T00:00:00Z","label":"2015-06-01T00:00:00.000Z"}',
      '{"id":"q","expires":"2015-05-31T23:30:00-02:00","label":"2015-05-31T23:30:00-02:00"}',
      "",
    ].join("\n"),
    "items.ndjson",
    { expires: "date" },
  );
  const m = {
    manifest: manifestFor(documents, { primaryEvent: "transaction" }),
    documents,
  };
  mergeItems(m, items, { expires: "date" });
  assert.equal(m.manifest.metadata.expires, "date");
  assert.equal(m.manifest.metadata.label, "keyword");
  // dates are stored as ISO 8601 UTC text
  assert.equal(documents[1].metadata?.expires, "2015-06-01T01:30:00.000Z");
  const r = new EmbeddedRecommender(m);
  const ids = async (filter: Record<string, unknown>) =>
    (await r.recommend({
      history: ["a"],
      backfill: false,
      filters: [filter as never],
    })).map((x) => x.id);
  // the bound is 2015-06-01T01:00:00Z: as text it sorts before both values
  const bound = "2015-05-31T23:00:00-02:00";
  assert.deepEqual(await ids({ field: "expires", gt: bound }), ["q"]);
  assert.deepEqual(await ids({ field: "expires", lte: bound }), ["p"]);
  assert.deepEqual(await ids({ field: "label", gt: bound }), ["p", "q"]);
  assert.deepEqual(await ids({ field: "label", lte: bound }), []);
  assert.deepEqual(
    await ids({ field: "expires", value: "2015-06-01T03:30:00+02:00" }),
    ["q"],
  );
  await assert.rejects(() => ids({ field: "expires", gt: "soon" }), {
    name: "RequestError",
    path: "request.filters[0].gt",
  });
});

Deno.test("serving settings are checked when the recommender is made", () => {
  const m = model(docs);
  for (const maxQueryEvents of [0, 1.5, 1025]) {
    assert.throws(
      () => new EmbeddedRecommender(m, { maxQueryEvents }),
      (e) => {
        assert.ok(e instanceof ConfigError);
        assert.equal(e.path, "maxQueryEvents");
        assert.equal(
          e.message,
          `maxQueryEvents must be an integer from 1 to 1024, got ${maxQueryEvents}`,
        );
        return true;
      },
    );
  }
  // a manifest's recorded default is checked too
  const bad = model(docs);
  bad.manifest.serving = { maxQueryEvents: 0 };
  assert.throws(() => new EmbeddedRecommender(bad), ConfigError);
  assert.throws(
    () => new EmbeddedRecommender(m, { fieldBoosts: { indicators: -1 } }),
    { name: "ConfigError", path: "fieldBoosts.indicators" },
  );
});

Deno.test("a document field the manifest does not list is a ModelError", () => {
  const documents = [{ id: "p", indicators: ["a"] }];
  const manifest = manifestFor(documents, { primaryEvent: "transaction" });
  assert.throws(
    () =>
      new EmbeddedRecommender({
        manifest,
        documents: [...documents, {
          id: "q",
          indicators: [],
          indicators_view: ["a"],
        }],
      }),
    {
      name: "ModelError",
      message:
        'document "q": field "indicators_view" is not in the manifest (indicators)',
    },
  );
});

Deno.test("an aborted signal rejects with DeadlineError", async () => {
  const r = new EmbeddedRecommender(model(docs));
  const controller = new AbortController();
  controller.abort();
  await assert.rejects(
    () => r.recommend({ history: ["a"] }, { signal: controller.signal }),
    DeadlineError,
  );
  assert.equal((await r.manifest()).primaryEvent, "transaction");
});

// a shop in the Universal Recommender's hand-made test's shape: phones and
// tablets, with availability dates and a trending figure
const shop = () =>
  model(
    [
      {
        id: "iphone",
        indicators: ["ipad"],
        indicators_view: ["phones"],
        metadata: { category: "phones", popularity: 2, trending: 1 },
      },
      {
        id: "ipad",
        indicators: ["iphone"],
        indicators_view: ["tablets"],
        metadata: {
          category: "tablets",
          popularity: 1,
          trending: 5,
          expires: "2015-09-01T00:00:00Z",
        },
      },
      {
        id: "nexus",
        indicators: ["galaxy"],
        indicators_view: ["phones", "tablets"],
        metadata: {
          category: "tablets",
          popularity: 1,
          trending: 0,
          available: "2015-08-01T00:00:00Z",
        },
      },
      {
        id: "galaxy",
        indicators: ["nexus"],
        indicators_view: ["phones", "tablets"],
        metadata: { category: "phones", popularity: 2, trending: 2 },
      },
      {
        id: "surface",
        indicators: [],
        indicators_view: [],
        metadata: {
          category: "tablets",
          popularity: 1,
          available: "2015-10-01T00:00:00Z",
        },
      },
    ],
    { available: "date", expires: "date", trending: "number" },
  );

Deno.test("UR rules: bias 0 excludes, < 0 keeps only, > 0 boosts", async () => {
  const r = new EmbeddedRecommender(shop());
  const ids = async (request: object) =>
    (await r.recommend({ num: 5, ...request })).map((x) => x.id);
  // no history, no rules: popularity (iphone and galaxy 2, then by id)
  assert.deepEqual(await ids({}), [
    "galaxy",
    "iphone",
    "ipad",
    "nexus",
    "surface",
  ]);
  // "no tablets"
  assert.deepEqual(
    await ids({ fields: [{ name: "category", values: ["tablets"], bias: 0 }] }),
    ["galaxy", "iphone"],
  );
  // tablets only
  assert.deepEqual(
    await ids({
      fields: [{ name: "category", values: ["tablets"], bias: -1 }],
    }),
    ["ipad", "nexus", "surface"],
  );
  // the same exclusion as a negated filter
  assert.deepEqual(
    await ids({
      filters: [{ field: "category", value: "tablets", not: true }],
    }),
    ["galaxy", "iphone"],
  );
});

Deno.test("boosts without history rank the items they match, before popularity", async () => {
  const r = new EmbeddedRecommender(shop());
  assert.deepEqual(
    await r.recommend({
      num: 5,
      fields: [{ name: "category", values: ["tablets"], bias: 1.005 }],
    }),
    [
      // the boosted tablets, equal scores by popularity then id
      { id: "ipad", score: f(1.005) },
      { id: "nexus", score: f(1.005) },
      { id: "surface", score: f(1.005) },
      // then the rest by popularity
      { id: "galaxy", score: 0, backfill: true },
      { id: "iphone", score: 0, backfill: true },
    ],
  );
  // two boosts add up, as float sums
  assert.deepEqual(
    await r.recommend({
      num: 2,
      backfill: false,
      boosts: [
        { field: "category", values: ["tablets"], boost: 1 },
        { field: "trending", values: [5], boost: 0.5 },
      ],
    }),
    [{ id: "ipad", score: 1.5 }, { id: "nexus", score: 1 }],
  );
});

Deno.test("ties go by the ranking fields, then id", async () => {
  const r = new EmbeddedRecommender(shop());
  // iphone's and galaxy's view indicators both hold "phones": equal scores
  const tie = (rankBy?: string[]) =>
    r.recommend({
      history: { view: ["phones"] },
      backfill: false,
      ...(rankBy ? { rankBy } : {}),
    });
  const phones = await tie();
  assert.equal(phones[0].score, phones[1].score);
  // popularity: iphone 2, galaxy 2, nexus 1: the two 2s by id
  assert.deepEqual(phones.map((x) => x.id), ["galaxy", "iphone", "nexus"]);
  // trending: ipad 5, galaxy 2, iphone 1, nexus 0
  assert.deepEqual(
    (await tie(["trending"])).map((x) => x.id),
    ["galaxy", "iphone", "nexus"],
  );
  const engine = new EmbeddedRecommender(shop(), { rankBy: ["trending"] });
  assert.deepEqual(
    (await engine.recommend({ num: 5 })).map((x) => x.id),
    // surface has no trending figure: last
    ["ipad", "galaxy", "iphone", "nexus", "surface"],
  );
});

Deno.test("the availability window: available <= currentDate < expires", async () => {
  const r = new EmbeddedRecommender(shop(), {
    availableDateName: "available",
    expireDateName: "expires",
  });
  const at = async (currentDate: string) =>
    (await r.recommend({ num: 5, currentDate })).map((x) => x.id).sort();
  // ipad expired on 09-01, surface comes on 10-01, nexus came on 08-01
  assert.deepEqual(await at("2015-09-02T12:00:00Z"), [
    "galaxy",
    "iphone",
    "nexus",
  ]);
  assert.deepEqual(await at("2015-07-15T00:00:00Z"), [
    "galaxy",
    "ipad",
    "iphone",
  ]);
  assert.deepEqual(await at("2015-10-01T00:00:00Z"), [
    "galaxy",
    "iphone",
    "nexus",
    "surface",
  ]);
  // the bounds: available is inclusive, expires exclusive
  assert.ok((await at("2015-08-01T00:00:00Z")).includes("nexus"));
  assert.ok(!(await at("2015-09-01T00:00:00Z")).includes("ipad"));
  // a dateRange's ends are both exclusive, as the UR's
  const range = new EmbeddedRecommender(shop());
  assert.deepEqual(
    (await range.recommend({
      num: 5,
      dateRange: {
        field: "available",
        after: "2015-08-01T00:00:00Z",
        before: "2015-10-02T00:00:00Z",
      },
    })).map((x) => x.id),
    ["surface"],
  );
});

Deno.test("itemQuery indicators: the item's own lists, every field, as the query", async () => {
  const r = new EmbeddedRecommender(shop());
  // nexus's lists: indicators [galaxy], indicators_view [phones, tablets].
  // galaxy lists both views too; iphone and ipad one each; galaxy's
  // indicators hold nexus, not galaxy: no document's indicators hold galaxy
  const similar = await r.recommend({
    item: "nexus",
    itemQuery: "indicators",
    backfill: false,
    explain: true,
  });
  const view = (n: number) =>
    keywordTermScore({ docFreq: n, docCount: 4, sumDocFreq: 6 });
  assert.deepEqual(similar, [
    {
      id: "galaxy",
      score: f(view(3) + view(3)),
      because: [
        { field: "indicators_view", item: "phones" },
        { field: "indicators_view", item: "tablets" },
      ],
    },
    // equal scores: iphone more popular than ipad
    {
      id: "iphone",
      score: view(3),
      because: [{ field: "indicators_view", item: "phones" }],
    },
    {
      id: "ipad",
      score: view(3),
      because: [{ field: "indicators_view", item: "tablets" }],
    },
  ]);
  // with a user's history: the item's clauses join it
  const both = await r.recommend({
    history: ["iphone"],
    item: "nexus",
    itemQuery: "indicators",
    backfill: false,
  });
  const primary = keywordTermScore({ docFreq: 1, docCount: 4, sumDocFreq: 4 });
  // ipad: indicators iphone (history) + indicators_view tablets (nexus's)
  assert.deepEqual(both[0], { id: "ipad", score: f(primary + view(3)) });
  assert.ok(!both.some((x) => x.id === "iphone" || x.id === "nexus"));
  // an unknown item queries nothing: backfill only
  assert.deepEqual(
    await r.recommend({ item: "zune", itemQuery: "indicators", num: 1 }),
    [{ id: "galaxy", score: 0, backfill: true }],
  );
});

// a batch's workers are sent copies of the postings (the recommender's own
// are views of its WebAssembly memory): copies made for each batch, never
// kept by the recommender, which would hold a second index for its life
Deno.test("the postings sent to batch workers are not kept after the batch", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const script = `${dir}/retain.ts`;
    await Deno.writeTextFile(
      script,
      `
import { EmbeddedRecommender } from ${
        JSON.stringify(new URL("./recommender.ts", import.meta.url).href)
      };
import { manifestFor } from ${
        JSON.stringify(new URL("../model/manifest.ts", import.meta.url).href)
      };
const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: ["a"] }];
const r = new EmbeddedRecommender({
  manifest: manifestFor(documents, { primaryEvent: "buy" }),
  documents,
});
const postings = () =>
  (r.batchWorker().state as { fields: [string, { docs: Int32Array }][] })
    .fields[0][1].docs;
// each batch its own copy, of the same postings
const kept = (() => {
  const sent = postings(), again = postings();
  console.log(again[0] === sent[0] && again !== sent);
  return new WeakRef(sent.buffer);
})();
await new Promise((resolve) => setTimeout(resolve, 0));
(globalThis as unknown as { gc(): void }).gc();
console.log(kept.deref() === undefined);
`,
    );
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--v8-flags=--expose-gc", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(run.code, 0, new TextDecoder().decode(run.stderr));
    assert.equal(new TextDecoder().decode(run.stdout), "true\ntrue\n");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
