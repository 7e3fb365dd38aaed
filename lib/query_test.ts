import assert from "node:assert/strict";
import { buildRecommendQuery } from "./query.ts";

Deno.test("query: one should-term per distinct history item, exact JSON", () => {
  assert.deepEqual(buildRecommendQuery({ history: ["b", "a", "b"], num: 3 }), {
    size: 3,
    query: {
      bool: {
        should: [
          { term: { indicators: "b" } },
          { term: { indicators: "a" } },
        ],
        minimum_should_match: 1,
        must_not: [{ terms: { id: ["b", "a"] } }],
      },
    },
    sort: [{ _score: { order: "desc" } }, { id: { order: "asc" } }],
    track_scores: true,
    track_total_hits: false,
    _source: false,
  });
});

Deno.test("query: never a constant-score terms query for ranking", () => {
  const body = buildRecommendQuery({ history: ["a", "b", "c"] });
  assert.equal(body.size, 10);
  const json = JSON.stringify(body.query.bool.should);
  assert.ok(!json.includes('"terms"'));
});

Deno.test("query: invalid requests are rejected", () => {
  assert.throws(() => buildRecommendQuery({ history: [""] }), TypeError);
  assert.throws(
    () => buildRecommendQuery({ history: ["a"], num: 1.5 }),
    TypeError,
  );
});
