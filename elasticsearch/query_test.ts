import assert from "node:assert/strict";
import { RequestError } from "../errors/mod.ts";
import {
  buildBackfillQuery,
  buildRecommendQuery,
  filterQuery,
} from "./query.ts";
import {
  addItemIndicators,
  type ItemIndicators,
  normalizeRequest,
  resolveServing,
  type ServingOptions,
} from "../serving/request.ts";
import { manifestFor } from "../model/manifest.ts";

// a model with purchases (primary), views and carts, and typed metadata
const MANIFEST = manifestFor(
  [{ id: "x", indicators: [], indicators_view: [], indicators_addtocart: [] }],
  {
    primaryEvent: "transaction",
    metadata: { available: "boolean", category: "keyword", updated: "date" },
  },
);

function normalize(request: unknown, options: ServingOptions = {}) {
  return normalizeRequest(request, MANIFEST, resolveServing(MANIFEST, options));
}

// ties go by popularity (items without one last), then id
const POPULARITY = {
  popularity: { order: "desc", missing: "_last", unmapped_type: "double" },
};
const SORT = [{ _score: { order: "desc" } }, POPULARITY, {
  id: { order: "asc" },
}];

Deno.test("query: one should-term per distinct history item, exact JSON", () => {
  assert.deepEqual(
    buildRecommendQuery(
      normalize({ history: ["b", "a", "b"], num: 3 }),
    ),
    {
      size: 3,
      query: {
        bool: {
          must: [{
            bool: {
              should: [
                { term: { indicators: { value: "b", boost: 1 } } },
                { term: { indicators: { value: "a", boost: 1 } } },
              ],
              minimum_should_match: 1,
            },
          }],
          must_not: [{ terms: { id: ["b", "a"] } }],
        },
      },
      sort: SORT,
      track_scores: true,
      track_total_hits: false,
      _source: false,
    },
  );
});

Deno.test("query: event types, field boosts, rules, paging and explain", () => {
  const request = normalize({
    history: { transaction: ["p1"], view: ["v1", "v2"], addtocart: ["c1"] },
    fieldBoosts: { indicators_view: 0.5 },
    filters: [
      { field: "available", value: true },
      { field: "category", values: ["tents", "stoves"] },
    ],
    dateRange: { after: "2015-06-01" },
    boosts: [{ field: "category", values: ["tents"], boost: 2 }],
    exclude: ["x"],
    excludeSeen: false,
    from: 10,
    num: 5,
    explain: true,
  });
  assert.deepEqual(buildRecommendQuery(request), {
    size: 15,
    query: {
      bool: {
        must: [{
          bool: {
            should: [
              {
                term: {
                  indicators: { value: "p1", boost: 1, _name: "indicators:p1" },
                },
              },
              {
                term: {
                  indicators_view: {
                    value: "v1",
                    boost: 0.5,
                    _name: "indicators_view:v1",
                  },
                },
              },
              {
                term: {
                  indicators_view: {
                    value: "v2",
                    boost: 0.5,
                    _name: "indicators_view:v2",
                  },
                },
              },
              {
                term: {
                  indicators_addtocart: {
                    value: "c1",
                    boost: 1,
                    _name: "indicators_addtocart:c1",
                  },
                },
              },
            ],
            minimum_should_match: 1,
          },
        }],
        should: [{ terms: { category: ["tents"], boost: 2 } }],
        filter: [
          { term: { available: true } },
          { terms: { category: ["tents", "stoves"] } },
          // dateRange.after is exclusive, as the Universal Recommender's
          { range: { updated: { gt: Date.UTC(2015, 5, 1) } } },
        ],
        must_not: [{ terms: { id: ["x"] } }],
      },
    },
    sort: SORT,
    track_scores: true,
    track_total_hits: false,
    _source: false,
  });
  assert.deepEqual(buildBackfillQuery(request, ["r1", "r2"], 4), {
    size: 4,
    query: {
      bool: {
        filter: [
          { term: { available: true } },
          { terms: { category: ["tents", "stoves"] } },
          { range: { updated: { gt: Date.UTC(2015, 5, 1) } } },
        ],
        must_not: [{ terms: { id: ["x", "r1", "r2"] } }],
      },
    },
    sort: [POPULARITY, { id: { order: "asc" } }],
    track_total_hits: false,
    _source: false,
  });
});

Deno.test("query: item-based requests query the purchase field", () => {
  const r = normalize({ item: "a", items: ["b", "a"] });
  assert.deepEqual(r.clauses, [
    { field: "indicators", item: "a", boost: 1 },
    { field: "indicators", item: "b", boost: 1 },
  ]);
  assert.deepEqual(r.exclude, ["a", "b"]);
});

Deno.test("query: never a constant-score terms query for ranking", () => {
  const body = buildRecommendQuery(
    normalize({ history: ["a", "b", "c"] }),
  );
  assert.equal(body.size, 10);
  assert.ok(!JSON.stringify(body.query.bool.must).includes('"terms"'));
});

Deno.test("date filters reach Elasticsearch as instants", () => {
  // Elasticsearch would round a `gt`/`lte` bound missing its time up to the
  // day's last millisecond, and the embedded backend would not: both get
  // unix ms, of text read as UTC unless it names an offset
  const r = normalize({
    history: ["a"],
    filters: [
      { field: "updated", gt: "2015-06-01", lte: "2015-06-02T00:00:00" },
      { field: "updated", value: "2015-06-01T02:00:00+02:00" },
      { field: "updated", values: ["2015-06-01 00:00", 1433116800000] },
      { field: "category", gt: "2015-06-01" }, // a keyword: text stays text
    ],
  });
  assert.deepEqual(r.filters, [
    { field: "updated", gt: Date.UTC(2015, 5, 1), lte: Date.UTC(2015, 5, 2) },
    { field: "updated", value: Date.UTC(2015, 5, 1) },
    { field: "updated", values: [Date.UTC(2015, 5, 1), Date.UTC(2015, 5, 1)] },
    { field: "category", gt: "2015-06-01" },
  ]);
  assert.deepEqual(buildRecommendQuery(r).query.bool.filter, [
    { range: { updated: { gt: 1433116800000, lte: 1433203200000 } } },
    { term: { updated: 1433116800000 } },
    { terms: { updated: [1433116800000, 1433116800000] } },
    { range: { category: { gt: "2015-06-01" } } },
  ]);
});

Deno.test("filters map to term, terms and range", () => {
  assert.deepEqual(filterQuery({ field: "a", value: 1 }), { term: { a: 1 } });
  assert.deepEqual(filterQuery({ field: "a", values: ["x"] }), {
    terms: { a: ["x"] },
  });
  assert.deepEqual(filterQuery({ field: "p", gt: 1, lte: 5 }), {
    range: { p: { gt: 1, lte: 5 } },
  });
});

Deno.test("invalid requests: one-line causes", () => {
  const cases: [unknown, string][] = [
    [
      { history: [""] },
      "request.history[0] must not be empty",
    ],
    [
      { history: ["a"], num: 1.5 },
      "request.num must be an integer, got 1.5",
    ],
    [
      { history: ["a"], bogus: 1 },
      'request has an unknown key "bogus" (known: history, user, item, items, itemQuery, fieldBoosts, num, from, filters, fields, boosts, exclude, excludeSeen, dateRange, currentDate, rankBy, backfill, explain, dither)',
    ],
    [{ history: ["a"], num: 1001 }, "request.num must be <= 1000, got 1001"],
    [
      { history: ["a"], num: 10, from: 9991 },
      "request.from must be an integer >= 0 with from + num <= 10000, got 9991",
    ],
    [
      { history: { "page view": ["a"] } },
      "request.history.page view is not an event type of this model (transaction, view, addtocart)",
    ],
    [
      { history: { view: "a" } },
      'request.history.view must be an array, got "a"',
    ],
    [
      { history: "a" },
      'request.history must be an array, or an object, got "a"',
    ],
    [
      { filters: [{ field: "a" }] },
      "request.filters[0] needs exactly one of value, values, or range bounds",
    ],
    [
      { filters: [{ field: "a", value: 1, gte: 2 }] },
      "request.filters[0] needs exactly one of value, values, or range bounds",
    ],
    [
      { filters: [{ field: "a", values: [] }] },
      "request.filters[0].values must not be empty",
    ],
    [
      { boosts: [{ field: "a", values: ["x"], boost: 0 }] },
      "request.boosts[0].boost must be > 0, got 0",
    ],
    [
      { fieldBoosts: { indicators: -1 } },
      "request.fieldBoosts.indicators must be > 0, got -1",
    ],
    [
      { from: -1 },
      "request.from must be >= 0, got -1",
    ],
    [{ dateRange: {} }, "request.dateRange needs after or before"],
    [
      { dateRange: { after: "soon" } },
      "request.dateRange.after must be an ISO date or unix ms",
    ],
    [
      { excludeSeen: "yes" },
      'request.excludeSeen must be a boolean, got "yes"',
    ],
    [{ explain: 1 }, "request.explain must be a boolean, got 1"],
    [[], "request must be an object, got []"],
    // before issue 11 these were TypeErrors of the validation code itself
    [{ filters: "x" }, 'request.filters must be an array, got "x"'],
    [{ boosts: 3 }, "request.boosts must be an array, got 3"],
    // new keys (issue 16)
    [
      { itemQuery: "similar" },
      'request.itemQuery must be one of "cooccurrence", "indicators", got "similar"',
    ],
    [
      { fields: [{ name: "category", values: ["x"] }] },
      "request.fields[0].bias is required",
    ],
    [
      { filters: [{ field: "category", value: "x", not: "yes" }] },
      'request.filters[0].not must be a boolean, got "yes"',
    ],
    [
      { currentDate: "tomorrow" },
      "request.currentDate must be an ISO date or unix ms",
    ],
    [
      { rankBy: ["category"] },
      'request.rankBy[0] "category" is not a number field of this model (number fields: none)',
    ],
    [
      { fields: [{ name: "available", values: ["yes"], bias: -1 }] },
      'request.fields[0].values[0] must be a boolean ("available" is a boolean field), got "yes"',
    ],
    [
      { dither: { epsilon: 2 } },
      "request.dither.seed is required",
    ],
    // filters are checked against the model's metadata types
    [
      { filters: [{ field: "available", value: "yes" }] },
      'request.filters[0].value must be a boolean ("available" is a boolean field), got "yes"',
    ],
    [
      { filters: [{ field: "category", values: ["a", 3] }] },
      'request.filters[0].values[1] must be a keyword ("category" is a keyword field), got 3',
    ],
    [
      { filters: [{ field: "updated", gte: "soon" }] },
      'request.filters[0].gte must be an ISO date or unix ms ("updated" is a date field), got "soon"',
    ],
    [
      { filters: [{ field: "available", gte: 1 }] },
      'request.filters[0] cannot be a range: "available" is a boolean field',
    ],
    // a type the model lacks names the ones it has
    [
      { history: { like: ["a"] } },
      "request.history.like is not an event type of this model (transaction, view, addtocart)",
    ],
    [
      { history: { constructor: ["a"] } },
      "request.history.constructor is not an event type of this model (transaction, view, addtocart)",
    ],
  ];
  for (const [request, message] of cases) {
    assert.throws(
      () => normalize(request),
      (e) => {
        assert.ok(e instanceof RequestError, String(e));
        assert.equal(e.name, "RequestError");
        assert.equal(e.message, message);
        assert.equal(e.status, 400);
        assert.ok(message.startsWith(e.path), `${e.path} / ${message}`);
        return true;
      },
      JSON.stringify(request),
    );
  }
});

Deno.test("a request error carries the JSON path of the part at fault", () => {
  assert.throws(() => normalize({ filters: "x" }), (e) => {
    assert.ok(e instanceof RequestError);
    assert.equal(e.path, "request.filters");
    assert.equal(e.message, 'request.filters must be an array, got "x"');
    return true;
  });
  assert.throws(
    () => normalize({ filters: [{ field: "available", value: "yes" }] }),
    (e) => e instanceof RequestError && e.path === "request.filters[0].value",
  );
  assert.throws(
    () => normalize({ history: { like: ["a"] } }),
    (e) => e instanceof RequestError && e.path === "request.history.like",
  );
});

Deno.test("history is capped to the most recent maxQueryEvents per type", () => {
  const many = Array.from({ length: 150 }, (_, i) => `i${i}`);
  // the default takes the whole history a request may carry
  const all = normalize({ history: { transaction: many, view: many } });
  assert.equal(all.clauses.length, 300);
  const r = normalize({ history: { transaction: many, view: many } }, {
    maxQueryEvents: 100,
  });
  assert.equal(r.clauses.length, 200);
  assert.deepEqual(r.clauses.slice(0, 2).map((c) => c.item), ["i0", "i1"]);
  assert.equal(r.clauses[99].item, "i99");
  const small = normalize({ history: many }, { maxQueryEvents: 3 });
  assert.deepEqual(small.clauses.map((c) => c.item), ["i0", "i1", "i2"]);
  // items beyond the cap still count as seen: never recommended back
  assert.equal(small.exclude.length, 150);
  assert.throws(
    () => normalize({ history: ["a"] }, { maxQueryEvents: 0 }),
    {
      name: "ConfigError",
      message: "maxQueryEvents must be an integer from 1 to 1024, got 0",
    },
  );
});

Deno.test("query: UR rules, exclusion by metadata, boosts without history, ranking fields", () => {
  const types = manifestFor([{ id: "x", indicators: [] }], {
    primaryEvent: "transaction",
    metadata: {
      category: "keyword",
      available: "date",
      expires: "date",
      trending: "number",
      popularity: "number",
    },
  });
  const r = normalizeRequest(
    {
      fields: [
        { name: "category", values: ["tablets"], bias: 0 }, // exclude
        { name: "category", values: ["phones", "tablets"], bias: -1 }, // only
        { name: "category", values: ["phones"], bias: 1.5 }, // boost
      ],
      currentDate: "2015-09-02T12:24:41-07:00",
      rankBy: ["trending", "popularity"],
      num: 4,
    },
    types,
    resolveServing(types, {
      availableDateName: "available",
      expireDateName: "expires",
      filters: [{ field: "category", value: "soap", not: true }],
    }),
  );
  const now = Date.parse("2015-09-02T12:24:41-07:00");
  assert.deepEqual(r.filters, [
    { field: "category", values: ["tablets"], not: true },
    { field: "category", values: ["phones", "tablets"] },
    { field: "available", gt: now, not: true },
    { field: "expires", lte: now, not: true },
    { field: "category", value: "soap", not: true },
  ]);
  assert.deepEqual(r.boosts, [
    { field: "category", values: ["phones"], boost: 1.5 },
  ]);
  // no history: the boosts rank, the negated filters go to must_not
  assert.deepEqual(buildRecommendQuery(r), {
    size: 4,
    query: {
      bool: {
        must: [{
          bool: {
            should: [{ terms: { category: ["phones"], boost: 1.5 } }],
            minimum_should_match: 1,
          },
        }],
        filter: [{ terms: { category: ["phones", "tablets"] } }],
        must_not: [
          { terms: { category: ["tablets"] } },
          { range: { available: { gt: now } } },
          { range: { expires: { lte: now } } },
          { term: { category: "soap" } },
        ],
      },
    },
    sort: [
      { _score: { order: "desc" } },
      {
        trending: { order: "desc", missing: "_last", unmapped_type: "double" },
      },
      POPULARITY,
      { id: { order: "asc" } },
    ],
    track_scores: true,
    track_total_hits: false,
    _source: false,
  });
  // a ranking field must be a number field of the model
  assert.throws(
    () => resolveServing(types, { rankBy: ["category"] }),
    {
      name: "ConfigError",
      message:
        'rankBy[0] "category" is not a number field of this model (number fields: trending, popularity)',
    },
  );
  assert.throws(
    () => resolveServing(types, { availableDateName: "category" }),
    {
      name: "ConfigError",
      message:
        'availableDateName names "category", a keyword field of this model; it must be a date field (declare it in items.fields)',
    },
  );
  assert.throws(
    () =>
      resolveServing(types, {
        fields: [{ name: "expires", values: ["soon"], bias: 0 }],
      }),
    {
      name: "ConfigError",
      message:
        'fields[0].values[0] must be an ISO date or unix ms ("expires" is a date field), got "soon"',
    },
  );
});

Deno.test("query: itemQuery indicators reads the items' own lists, every field", () => {
  const r = normalize({
    history: { view: ["v1"] },
    item: "a",
    items: ["b"],
    itemQuery: "indicators",
    fieldBoosts: { indicators_view: 2 },
  }, { maxQueryEvents: 2 });
  // the items are looked up, not queried as purchases; they are excluded
  assert.deepEqual(r.clauses, [
    { field: "indicators_view", item: "v1", boost: 2 },
  ]);
  assert.deepEqual(r.lookup, {
    items: ["a", "b"],
    cap: 2,
    fieldBoosts: { indicators_view: 2 },
  });
  assert.deepEqual(r.exclude, ["a", "b"]);
  const full = addItemIndicators(
    r,
    MANIFEST,
    new Map<string, ItemIndicators>([
      // weighted lists go by weight, then id; keyword lists as stored
      ["a", {
        indicators: { ids: ["p", "q", "r"], weights: [1, 3, 3] },
        indicators_view: { ids: ["v1", "v2"] },
      }],
      ["b", {
        indicators: { ids: ["s"], weights: [9] },
        indicators_addtocart: { ids: ["c"] },
      }],
    ]),
  );
  assert.equal(full.lookup, undefined);
  assert.deepEqual(full.clauses, [
    { field: "indicators_view", item: "v1", boost: 2 },
    // a's q and r (weight 3) before p; b's s after a's: 2 per field
    { field: "indicators", item: "q", boost: 1 },
    { field: "indicators", item: "r", boost: 1 },
    // v1 is already a history clause
    { field: "indicators_view", item: "v2", boost: 2 },
    { field: "indicators_addtocart", item: "c", boost: 1 },
  ]);
  // the engine can make it the default
  assert.equal(
    normalize({ item: "a" }, { itemQuery: "indicators" }).clauses.length,
    0,
  );
});
