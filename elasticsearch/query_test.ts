import assert from "node:assert/strict";
import {
  buildBackfillQuery,
  buildRecommendQuery,
  filterQuery,
} from "./query.ts";
import { normalizeRequest } from "../serving/request.ts";

const SORT = [{ _score: { order: "desc" } }, { id: { order: "asc" } }];

Deno.test("query: one should-term per distinct history item, exact JSON", () => {
  assert.deepEqual(
    buildRecommendQuery(
      normalizeRequest({ history: ["b", "a", "b"], num: 3 }),
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
  const request = normalizeRequest({
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
          { range: { updated: { gte: "2015-06-01" } } },
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
          { range: { updated: { gte: "2015-06-01" } } },
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
  const r = normalizeRequest({ item: "a", items: ["b", "a"] });
  assert.deepEqual(r.clauses, [
    { field: "indicators", item: "a", boost: 1 },
    { field: "indicators", item: "b", boost: 1 },
  ]);
  assert.deepEqual(r.exclude, ["a", "b"]);
});

Deno.test("query: never a constant-score terms query for ranking", () => {
  const body = buildRecommendQuery(
    normalizeRequest({ history: ["a", "b", "c"] }),
  );
  assert.equal(body.size, 10);
  assert.ok(!JSON.stringify(body.query.bool.must).includes('"terms"'));
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
      'request.history: "page view" is not an event type name',
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
  ];
  for (const [request, message] of cases) {
    assert.throws(
      () => normalizeRequest(request as never),
      { name: "TypeError", message },
      JSON.stringify(request),
    );
  }
});

Deno.test("history is capped to the most recent maxQueryEvents per type", () => {
  const many = Array.from({ length: 150 }, (_, i) => `i${i}`);
  const r = normalizeRequest({ history: { transaction: many, view: many } });
  assert.equal(r.clauses.length, 200);
  assert.deepEqual(r.clauses.slice(0, 2).map((c) => c.item), ["i0", "i1"]);
  assert.equal(r.clauses[99].item, "i99");
  const small = normalizeRequest({ history: many }, { maxQueryEvents: 3 });
  assert.deepEqual(small.clauses.map((c) => c.item), ["i0", "i1", "i2"]);
  // items beyond the cap still count as seen: never recommended back
  assert.equal(small.exclude.length, 150);
  assert.throws(
    () => normalizeRequest({ history: ["a"] }, { maxQueryEvents: 0 }),
    {
      message: "maxQueryEvents must be an integer from 1 to 1024, got 0",
    },
  );
});
