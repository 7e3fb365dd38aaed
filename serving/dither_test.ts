import assert from "node:assert/strict";
import { applyDither, ditherOrder } from "./dither.ts";

const perm = (a: Int32Array) => [...a].sort((x, y) => x - y);

Deno.test("dithering is a seeded, period-stable permutation", () => {
  const a = ditherOrder(30, { seed: "u1", now: 1000 });
  assert.deepEqual(perm(a), Array.from({ length: 30 }, (_, i) => i));
  // same seed and period bucket: same order
  assert.deepEqual(a, ditherOrder(30, { seed: "u1", now: 500_000 }));
  // another user, or the next period: another order
  assert.notDeepEqual(a, ditherOrder(30, { seed: "u2", now: 1000 }));
  assert.notDeepEqual(a, ditherOrder(30, { seed: "u1", now: 600_001 }));
});

Deno.test("epsilon sets how far items move", () => {
  // mean absolute displacement over many seeds grows with epsilon
  const displacement = (epsilon: number) => {
    let total = 0;
    for (let s = 0; s < 200; s++) {
      const order = ditherOrder(20, { seed: `s${s}`, epsilon, now: 0 });
      order.forEach((from, to) => total += Math.abs(from - to));
    }
    return total / (200 * 20);
  };
  const small = displacement(1.05),
    mid = displacement(2),
    big = displacement(4);
  assert.ok(small < 0.5, `epsilon 1.05 moved items ${small} places on average`);
  assert.ok(small < mid && mid < big, `${small} < ${mid} < ${big}`);
  // the top stays mostly on top: item 0 is in the first 3 in most draws
  let top = 0;
  for (let s = 0; s < 200; s++) {
    if (
      [...ditherOrder(20, { seed: `t${s}`, epsilon: 2, now: 0 })].indexOf(0) < 3
    ) top++;
  }
  assert.ok(top > 150, `item 0 stayed in the top 3 in ${top}/200 draws`);
  assert.throws(() => ditherOrder(3, { seed: "x", epsilon: 1 }), RangeError);
  assert.deepEqual(applyDither(["a", "b"], {}), ["a", "b"]);
});
