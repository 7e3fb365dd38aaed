import assert from "node:assert/strict";
import { bootstrapInterval, meanMetrics, userMetrics } from "./metrics.ts";

const near = (a: number, b: number) =>
  assert.ok(Math.abs(a - b) < 1e-12, `${a} vs ${b}`);

Deno.test("metrics equal hand-computed values", () => {
  // hits at ranks 1 and 3 of 3; relevant {a, b, c}
  const m = userMetrics(["a", "x", "b"], new Set(["a", "b", "c"]), 3);
  near(m.precision, 2 / 3);
  near(m.recall, 2 / 3);
  near(m.map, (1 / 1 + 2 / 3) / 3); // precision at each hit / |relevant|
  near(
    m.ndcg,
    (1 + 1 / Math.log2(4)) / (1 + 1 / Math.log2(3) + 1 / Math.log2(4)),
  );
  assert.equal(m.hit, 1);
  // the same list cut at k = 2: one hit
  const m2 = userMetrics(["a", "x", "b"], new Set(["a", "b", "c"]), 2);
  near(m2.precision, 1 / 2);
  near(m2.recall, 1 / 3);
  near(m2.map, 1 / 3);
  near(m2.ndcg, 1 / (1 + 1 / Math.log2(3)));
  // a short list: precision still divides by k
  const short = userMetrics(["b"], new Set(["b"]), 10);
  assert.deepEqual(short, {
    precision: 0.1,
    recall: 1,
    map: 1,
    ndcg: 1,
    hit: 1,
  });
  // no hit
  assert.deepEqual(userMetrics(["x", "y"], new Set(["a"]), 2), {
    precision: 0,
    recall: 0,
    map: 0,
    ndcg: 0,
    hit: 0,
  });
  // a duplicate never counts twice
  near(userMetrics(["a", "a"], new Set(["a", "b"]), 2).recall, 1 / 2);
  assert.throws(() => userMetrics(["a"], new Set(), 1), RangeError);
  assert.throws(() => userMetrics(["a"], new Set(["a"]), 0), RangeError);
});

Deno.test("means and bootstrap intervals", () => {
  const all = [
    userMetrics(["a"], new Set(["a"]), 1),
    userMetrics(["x"], new Set(["a"]), 1),
  ];
  assert.deepEqual(meanMetrics(all), {
    precision: 0.5,
    recall: 0.5,
    map: 0.5,
    ndcg: 0.5,
    hit: 0.5,
  });
  assert.deepEqual(meanMetrics([]), {
    precision: 0,
    recall: 0,
    map: 0,
    ndcg: 0,
    hit: 0,
  });
  const values = Array.from({ length: 400 }, (_, i) => (i % 4 === 0 ? 1 : 0));
  const [low, high] = bootstrapInterval(values);
  assert.ok(low < 0.25 && 0.25 < high, `${low} .. ${high}`);
  assert.ok(high - low < 0.12);
  assert.deepEqual(bootstrapInterval(values), [low, high]); // deterministic
  assert.deepEqual(bootstrapInterval([]), [0, 0]);
});
