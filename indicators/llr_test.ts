import assert from "node:assert/strict";
import {
  entropy,
  LlrTable,
  logLikelihoodRatio,
  rootLogLikelihoodRatio,
} from "./llr.ts";

function near(actual: number, expected: number, tolerance: number) {
  assert.ok(
    Math.abs(actual - expected) <= tolerance,
    `expected ${expected} ± ${tolerance}, got ${actual}`,
  );
}

// Vectors from Mahout's LogLikelihoodTest (math/src/test/.../stats).
Deno.test("entropy matches Mahout's test vectors", () => {
  near(entropy(1, 1), 1.386294, 0.0001);
  assert.equal(entropy(1), 0);
  assert.throws(() => entropy(-1, -1), RangeError);
});

Deno.test("logLikelihoodRatio matches Mahout's test vectors", () => {
  near(logLikelihoodRatio(1, 0, 0, 1), 2.772589, 0.000001);
  near(logLikelihoodRatio(10, 0, 0, 10), 27.72589, 0.00001);
  near(logLikelihoodRatio(5, 1995, 0, 100000), 39.33052, 0.00001);
  near(logLikelihoodRatio(1000, 1995, 1000, 100000), 4730.737, 0.001);
  near(logLikelihoodRatio(1000, 1000, 1000, 100000), 5734.343, 0.001);
  near(logLikelihoodRatio(1000, 1000, 1000, 99000), 5714.932, 0.001);
});

Deno.test("rootLogLikelihoodRatio matches Mahout's test vectors", () => {
  assert.ok(rootLogLikelihoodRatio(904, 21060, 1144, 283012) > 0);
  assert.ok(rootLogLikelihoodRatio(36, 21928, 60280, 623876) < 0);
  near(rootLogLikelihoodRatio(1, 0, 0, 1), Math.sqrt(2.772589), 0.000001);
  near(rootLogLikelihoodRatio(0, 1, 1, 0), -Math.sqrt(2.772589), 0.000001);
  near(rootLogLikelihoodRatio(10, 0, 0, 10), Math.sqrt(27.72589), 0.00001);
  near(
    rootLogLikelihoodRatio(5, 1995, 0, 100000),
    Math.sqrt(39.33052),
    0.00001,
  );
  near(
    rootLogLikelihoodRatio(0, 100000, 5, 1995),
    -Math.sqrt(39.33052),
    0.00001,
  );
  near(
    rootLogLikelihoodRatio(1000, 1995, 1000, 100000),
    Math.sqrt(4730.737),
    0.001,
  );
  near(
    rootLogLikelihoodRatio(1000, 100000, 1000, 1995),
    -Math.sqrt(4730.737),
    0.001,
  );
  // Round-off: the expected k11 is ~6, the raw LLR a hair below zero.
  near(rootLogLikelihoodRatio(6, 7567, 1924, 2426487), 0, 0.00000001);
});

Deno.test("LLR equals closed forms worked out by hand", () => {
  // [[1,0],[0,1]]: 2 * (2·2ln2 - 2ln2... ) = 4 ln 2
  near(logLikelihoodRatio(1, 0, 0, 1), 4 * Math.LN2, 1e-12);
  // [[10,0],[0,10]]: 40 ln 2
  near(logLikelihoodRatio(10, 0, 0, 10), 40 * Math.LN2, 1e-12);
  // k22 = 0: [[2,1],[1,0]]. row = col = 4ln4 - 3ln3, matrix = 4ln4 - 2ln2,
  // LLR = 2(2(4ln4 - 3ln3) - (4ln4 - 2ln2)) = 20 ln2 - 12 ln3.
  const k22Zero = 20 * Math.LN2 - 12 * Math.log(3);
  near(logLikelihoodRatio(2, 1, 1, 0), k22Zero, 1e-12);
  // 2/3 of A-users have B but every non-A user has B: anti-correlated.
  near(rootLogLikelihoodRatio(2, 1, 1, 0), -Math.sqrt(k22Zero), 1e-12);
  // Independent table [[1,1],[1,1]]: no evidence either way.
  assert.equal(logLikelihoodRatio(1, 1, 1, 1), 0);
  assert.equal(rootLogLikelihoodRatio(1, 1, 1, 1), 0);
  // A table with a whole zero row: entropy of the row split is zero, so
  // LLR = 2(0 + colEntropy - matrixEntropy) = 0.
  assert.equal(logLikelihoodRatio(0, 0, 3, 5), 0);
  // All zero.
  assert.equal(logLikelihoodRatio(0, 0, 0, 0), 0);
});

Deno.test("root LLR is symmetric in the sign of the association", () => {
  for (const [a, b, c, d] of [[3, 2, 1, 40], [7, 1, 4, 100], [1, 5, 5, 30]]) {
    const pos = rootLogLikelihoodRatio(a, b, c, d);
    // swapping the columns of the table flips the association
    const neg = rootLogLikelihoodRatio(b, a, d, c);
    near(pos, -neg, 1e-9);
  }
});

Deno.test("LlrTable gives bit-identical results to rootLogLikelihoodRatio", () => {
  const n = 300;
  const table = new LlrTable(n);
  let seed = 11;
  const rnd = () => (seed = (seed * 48271) % 2147483647) / 2147483647;
  for (let i = 0; i < 20000; i++) {
    const k11 = Math.floor(rnd() * 40);
    const k12 = Math.floor(rnd() * 60);
    const k21 = Math.floor(rnd() * 80);
    const k22 = Math.floor(rnd() * (n - k11 - k12 - k21 + 1));
    assert.equal(
      table.rootLlr(k11, k12, k21, k22),
      rootLogLikelihoodRatio(k11, k12, k21, k22),
      `${[k11, k12, k21, k22]}`,
    );
  }
  assert.throws(() => new LlrTable(-1), RangeError);
});
