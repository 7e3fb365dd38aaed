import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import { readBatch, recommendBatch, recommendBatchFile } from "./batch.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { manifestFor } from "../model/manifest.ts";
import { UnavailableError } from "../errors/mod.ts";
import { buildIndicators } from "../indicators/build.ts";
import type { Event } from "../events/format.ts";
import { mulberry32 } from "../random/mod.ts";
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

Deno.test("a backend that cannot fork (Elasticsearch) writes the lines before a malformed one too, as the embedded backend does", async () => {
  const embedded = new EmbeddedRecommender(model);
  // recommend() alone: answered by the general path, in this thread
  const plain: Recommender = {
    recommend: (request, options) => embedded.recommend(request, options),
    manifest: () => embedded.manifest(),
  };
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/b.ndjson`;
    await Deno.writeTextFile(
      path,
      '{"user":"u1","history":["a"]}\n{"user":"u2","num":0}\n' +
        '{"user":"u3","history":["b"],"num":1}\n{"history":["c"]}\n' +
        '{"user":"u5","history":["c"]}\n',
    );
    const outputs: string[] = [];
    for (
      const [backend, options] of [
        [embedded, { workers: 1 }],
        [plain, {}],
        [plain, { concurrency: 3 }],
      ] as const
    ) {
      let text = "";
      await assert.rejects(
        async () => {
          for await (const out of recommendBatchFile(backend, path, options)) {
            text += new TextDecoder().decode(out.bytes);
          }
        },
        {
          message: `${path}:4: user must be a non-empty string, got undefined`,
        },
      );
      outputs.push(text);
    }
    assert.deepEqual(
      outputs[0].trim().split("\n").map((l) => JSON.parse(l).user),
      ["u1", "u2", "u3"],
    );
    assert.equal(outputs[1], outputs[0]);
    assert.equal(outputs[2], outputs[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a MovieLens-shaped batch: every user's answer is recommend()'s and the general path's, to the bit", async () => {
  // 943 users, 1682 items, popularity skewed as in MovieLens-100k; the
  // default build (learned weights, top 100 indicators per item)
  const random = mulberry32(100);
  const events: Event[] = [];
  for (let u = 0; u < 943; u++) {
    const n = 5 + Math.floor(60 * random() ** 2);
    for (let k = 0; k < n; k++) {
      const item = Math.floor(1682 * random() ** 2.5);
      events.push({
        user: `u${u}`,
        item: `${item}`,
        event: "like",
        timestamp: k,
      });
    }
  }
  const model = await buildIndicators(events, { primaryEvent: "like" });
  const recommender = new EmbeddedRecommender(model);
  const byUser = new Map<string, string[]>();
  for (const e of events) {
    const h = byUser.get(e.user) ?? [];
    h.push(e.item);
    byUser.set(e.user, h);
  }
  const requests = [...byUser].map(([user, history], i) => ({
    user,
    history,
    ...(i % 3 === 0 ? { num: 25 } : {}),
  }));
  const out = await Array.fromAsync(recommendBatch(recommender, requests));
  assert.equal(out.length, requests.length);
  let scored = 0;
  for (const [i, { user, ...request }] of requests.entries()) {
    const one = await recommender.recommend(request);
    const general = await recommender.recommend({ ...request, explain: true });
    assert.deepEqual(out[i], {
      user,
      items: one.map((r) => r.id),
      scores: one.map((r) => r.score),
    });
    assert.deepEqual(
      general.map((r) => [r.id, r.score]),
      one.map((r) => [r.id, r.score]),
      user,
    );
    scored += one.filter((r) => r.score > 0).length;
  }
  // most answers are matches, not backfill
  assert.ok(scored > requests.length * 8, `${scored} scored`);
});
