/**
 * The embedded ranking (typed-array sums and a bounded heap) against a
 * plain oracle: every document's weights summed over the history in
 * clause order, all of them sorted by score then id.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "./recommender.ts";
import { manifestFor } from "../model/manifest.ts";
import { featureValue } from "../indicators/weights.ts";
import { compareIds } from "../model/document.ts";
import { mulberry32 } from "../random/mod.ts";
import { setKernelLimit } from "./_kernel.ts";

Deno.test("top-k by heap equals a full sort of every match, ties by id, with paging and exclusions", async () => {
  await compareWithOracle(7, 1);
});

// an index too large for WebAssembly memory keeps the JavaScript loops
Deno.test("the JavaScript postings loops rank the same as the WebAssembly loop", async () => {
  const previous = setKernelLimit(0);
  try {
    for (const [seed, boost] of [[7, 1], [11, 0.7], [12, 3]]) {
      await compareWithOracle(seed, boost);
    }
  } finally {
    setKernelLimit(previous);
  }
});

// the postings loops take four postings a step: a field boost other than
// 1, runs of every length mod 4 and a heap filled at every point of the
// scan
Deno.test("field boosts other than 1 score fround(boost × weight), summed in clause order", async () => {
  for (const [seed, boost] of [[11, 0.7], [12, 3], [13, 1e-3]]) {
    await compareWithOracle(seed, boost);
  }
});

async function compareWithOracle(seed: number, boost: number): Promise<void> {
  const random = mulberry32(seed);
  const ids = Array.from({ length: 60 }, (_, i) => `i${i}`);
  // few distinct weights, so that many scores tie
  const documents = ids.map((id) => {
    const indicators = ids.filter((x) => x !== id && random() < 0.3);
    return {
      id,
      indicators,
      weights: {
        indicators: indicators.map(() =>
          [0.5, 1, 1.5][Math.floor(random() * 3)]
        ),
      },
    };
  });
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  for (let q = 0; q < 200; q++) {
    const history = ids.filter(() => random() < 0.1);
    const exclude = ids.filter(() => random() < 0.1);
    const num = 1 + Math.floor(random() * 15);
    const from = Math.floor(random() * 5);
    const got = await recommender.recommend({
      history,
      exclude,
      num,
      from,
      backfill: false,
      ...(boost === 1 ? {} : { fieldBoosts: { indicators: boost } }),
    });
    const banned = new Set([...history, ...exclude]);
    const expected = documents
      .map((d) => {
        let sum = 0, hit = false;
        for (const h of history) {
          const at = d.indicators.indexOf(h);
          if (at >= 0) {
            sum += Math.fround(
              boost * Math.fround(featureValue(d.weights.indicators[at])),
            );
            hit = true;
          }
        }
        return { id: d.id, score: Math.fround(sum), hit };
      })
      .filter((x) => x.hit && !banned.has(x.id))
      .sort((a, b) => b.score - a.score || compareIds(a.id, b.id))
      .slice(from, from + num)
      .map(({ id, score }) => ({ id, score }));
    assert.deepEqual(got, expected, `query ${q}`);
  }
}
