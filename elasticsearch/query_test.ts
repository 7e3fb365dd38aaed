import assert from "node:assert/strict";
import { RequestError } from "../errors/mod.ts";
import {
  buildBackfillQuery,
  buildRecommendQuery,
  filterQuery,
} from "./query.ts";
import {
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

const SORT = [{ _score: { order: "desc" } }, { id: { order: "asc" } }];

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
          { range: { updated: { gte: Date.UTC(2015, 5, 1) } } },
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
          { range: { updated: { gte: Date.UTC(2015, 5, 1) } } },
        ],
        must_not: [{ terms: { id: ["x", "r1", "r2"] } }],
      },
    },
    sort: [
      { popularity: { order: "desc", missing: "_last" } },
      { id: { order: "asc" } },
    ],
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
      'request.history[0] must be a non-empty string, got ""',
    ],
    [
      { history: ["a"], num: 1.5 },
      "request.num must be an integer from 1 to 1000, got 1.5",
    ],
    [{ history: ["a"], bogus: 1 }, "request has unknown keys: bogus"],
    [
      { history: { "page view": ["a"] } },
      "request.history.page view is not an event type of this model (transaction, view, addtocart)",
    ],
    [
      { history: { view: "a" } },
      "request.history.view must be an array of item ids",
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
      "request.filters[0].values must be a non-empty array of strings, numbers or booleans",
    ],
    [
      { boosts: [{ field: "a", values: ["x"], boost: 0 }] },
      "request.boosts[0].boost must be a positive number",
    ],
    [
      { fieldBoosts: { indicators: -1 } },
      "request.fieldBoosts.indicators must be a positive number",
    ],
    [
      { from: -1 },
      "request.from must be an integer >= 0 with from + num <= 10000, got -1",
    ],
    [{ dateRange: {} }, "request.dateRange needs after or before"],
    [
      { dateRange: { after: "soon" } },
      "request.dateRange.after must be an ISO date",
    ],
    [{ excludeSeen: "yes" }, "request.excludeSeen must be a boolean"],
    [{ explain: 1 }, "request.explain must be a boolean"],
    [[], "request must be an object"],
    // before issue 11 these were TypeErrors of the validation code itself
    [{ filters: "x" }, "request.filters must be an array"],
    [{ boosts: 3 }, "request.boosts must be an array"],
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
    assert.equal(e.message, "request.filters must be an array");
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
  const r = normalize({ history: { transaction: many, view: many } });
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
