import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { readBatch, recommendBatch } from "./batch.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { manifestFor } from "../model/manifest.ts";
import { UnavailableError } from "../errors/mod.ts";
import type {
  Recommendation,
  Recommender,
  RecommendRequest,
} from "./request.ts";

const documents = [
  { id: "a", indicators: ["b", "c"], weights: { indicators: [2, 1] } },
  { id: "b", indicators: ["a"], weights: { indicators: [3] } },
  { id: "c", indicators: ["a", "b"], weights: { indicators: [1, 0.5] } },
  { id: "d", indicators: [], metadata: { popularity: 9 } },
];
const model = {
  manifest: manifestFor(documents, { primaryEvent: "buy" }),
  documents,
};

Deno.test("a batch answers each request exactly as recommend() does, in order", async () => {
  const recommender = new EmbeddedRecommender(model);
  const requests = [
    { user: "u1", history: ["a"] },
    { user: "u2", history: ["b"], num: 1 },
    { user: "u3", history: { buy: ["c", "a"] }, exclude: ["d"] },
    { user: "u4", items: ["a"], backfill: false },
  ];
  for (const concurrency of [1, 3]) {
    const out = await Array.fromAsync(
      recommendBatch(recommender, requests, { concurrency }),
    );
    assert.deepEqual(out.map((r) => r.user), ["u1", "u2", "u3", "u4"]);
    for (const [i, { user: _, ...request }] of requests.entries()) {
      const one = await recommender.recommend(request);
      assert.deepEqual(out[i], {
        user: requests[i].user,
        items: one.map((r) => r.id),
        scores: one.map((r) => r.score),
      });
    }
  }
});

Deno.test("a refused request gives an error line and the batch goes on; other failures end it", async () => {
  const recommender = new EmbeddedRecommender(model);
  const out = await Array.fromAsync(recommendBatch(recommender, [
    { user: "bad", history: { view: ["a"] } },
    { user: "good", history: ["a"], num: 1 },
  ]));
  assert.deepEqual(out[0], {
    user: "bad",
    error: "request.history.view is not an event type of this model (buy)",
  });
  assert.deepEqual(out[1].items, ["b"]);
  const down: Recommender = {
    recommend: (_r: RecommendRequest): Promise<Recommendation[]> =>
      Promise.reject(new UnavailableError("cluster down")),
    manifest: () => Promise.resolve(model.manifest),
  };
  await assert.rejects(
    () => Array.fromAsync(recommendBatch(down, [{ user: "x" }])),
    UnavailableError,
  );
  await assert.rejects(
    () =>
      Array.fromAsync(
        recommendBatch(recommender, [], { concurrency: 0 }),
      ),
    /concurrency must be a positive integer, got 0/,
  );
});

Deno.test("readBatch streams plain and gzip NDJSON and names the line at fault", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const lines = Array.from(
      { length: 3000 },
      (_, i) => JSON.stringify({ user: `u${i}`, history: [`i${i}`] }),
    ).join("\r\n") + "\n";
    await Deno.writeTextFile(`${dir}/b.ndjson`, lines);
    await Deno.writeFile(
      `${dir}/b.ndjson.gz`,
      gzipSync(new TextEncoder().encode(lines)),
    );
    for (const name of ["b.ndjson", "b.ndjson.gz"]) {
      const read = await Array.fromAsync(readBatch(`${dir}/${name}`));
      assert.equal(read.length, 3000);
      assert.deepEqual(read[2999], { user: "u2999", history: ["i2999"] });
    }
    await Deno.writeTextFile(
      `${dir}/bad.ndjson`,
      '{"user":"u","history":["a"]}\n\n{"history":["b"]}\n',
    );
    await assert.rejects(
      () => Array.fromAsync(readBatch(`${dir}/bad.ndjson`)),
      {
        message:
          `${dir}/bad.ndjson:3: user must be a non-empty string, got undefined`,
      },
    );
    await assert.rejects(
      () => Array.fromAsync(readBatch(`${dir}/none.ndjson`)),
      /none.ndjson: cannot be read/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
