import assert from "node:assert/strict";
import { TopK } from "./_top_k.ts";

Deno.test("TopK equals sorting everything and slicing, on random input (drain and drainInto)", () => {
  let seed = 1;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (let trial = 0; trial < 200; trial++) {
    const k = Math.floor(rnd() * 6);
    const n = Math.floor(rnd() * 40);
    const entries = Array.from({ length: n }, (_, key) => ({
      score: Math.floor(rnd() * 5), // many ties
      key,
      tie: Math.floor(rnd() * 1000),
    }));
    const top = new TopK(k);
    for (const e of entries) top.offer(e.score, e.key, e.tie);
    const want = [...entries]
      .sort((a, b) => b.score - a.score || a.tie - b.tie || a.key - b.key)
      .slice(0, k);
    // drain, or drainInto at an offset of arrays with room to spare
    let got: { keys: Int32Array; scores: Float64Array };
    if (trial % 2) got = top.drain();
    else {
      const at = trial % 5;
      const keys = new Int32Array(at + k + 2).fill(-1);
      const scores = new Float64Array(at + k + 2).fill(-1);
      const n = top.drainInto(keys, scores, at);
      assert.equal(n, Math.min(k, entries.length));
      for (const a of [keys, scores]) {
        assert.deepEqual(
          [...a.subarray(0, at), ...a.subarray(at + n)],
          new Array(at + k + 2 - n).fill(-1),
        );
      }
      got = {
        keys: keys.subarray(at, at + n),
        scores: scores.subarray(at, at + n),
      };
    }
    assert.deepEqual(Array.from(got.scores), want.map((e) => e.score));
    // equal (score, tie) pairs may keep either key; compare tie ranks too
    assert.deepEqual(
      Array.from(got.keys).map((key) => entries[key].tie),
      want.map((e) => e.tie),
    );
    assert.equal(top.size, 0);
  }
  assert.throws(() => new TopK(-1), RangeError);
});
