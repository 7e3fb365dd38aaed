/**
 * Batches scored in worker threads give the same results, the same bytes
 * and the same errors as in this thread; a failing worker is an error,
 * never a hang.
 */
import assert from "node:assert/strict";
import { recommendBatch, recommendBatchFile } from "./batch.ts";
import type {
  BatchOptions,
  BatchRequest,
  ForkableRecommender,
} from "./batch.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { manifestFor } from "../model/manifest.ts";
import type { IndexableDocument } from "../model/document.ts";
import { buildIndicators } from "../indicators/build.ts";
import type { Event } from "../events/format.ts";
import { mulberry32 } from "../random/mod.ts";
import type { ServingOptions } from "./request.ts";

function randomModel(random: () => number, size: number) {
  const ids = Array.from({ length: size }, (_, i) => `i${i}`);
  const pick = () => ids[Math.floor(random() * ids.length)];
  const documents: IndexableDocument[] = ids.map((id) => {
    const buy = Array.from({ length: Math.floor(random() * 8) }, pick);
    const view = Array.from({ length: Math.floor(random() * 6) }, pick);
    return {
      id,
      indicators: buy,
      indicators_view: view,
      weights: {
        indicators: buy.map(() =>
          [0.5, 1, 1.37, 3e-5][Math.floor(random() * 4)]
        ),
      },
      metadata: {
        popularity: Math.floor(random() * 4),
        category: ["a", "b", "c"][Math.floor(random() * 3)],
      },
    };
  });
  const manifest = manifestFor(documents, { primaryEvent: "buy" });
  manifest.fields = manifest.fields.map((field) =>
    field.name === "indicators"
      ? { ...field, weights: "given" }
      : { ...field, weights: "none" }
  );
  return { ids, model: { manifest, documents } };
}

// every kind of request: fast-path histories, business rules (the general
// path), item lookups, and malformed ones (error results)
function randomRequest(random: () => number, ids: string[], u: number) {
  const pick = () =>
    random() < 0.1 ? `unknown${Math.floor(random() * 3)}` : ids[
      Math.floor(random() * ids.length)
    ];
  const list = () => Array.from({ length: Math.floor(random() * 12) }, pick);
  const r: Record<string, unknown> = { user: `u${u}` };
  const form = random();
  if (form < 0.4) r.history = list();
  else if (form < 0.7) r.history = { view: list(), buy: list() };
  else if (form < 0.8) r.items = [pick()];
  if (random() < 0.2) r.filters = [{ field: "category", values: ["a", "b"] }];
  if (random() < 0.2) {
    r.boosts = [{ field: "category", values: ["c"], boost: 0.75 }];
  }
  if (random() < 0.4) r.num = 1 + Math.floor(random() * 8);
  if (random() < 0.2) r.exclude = list();
  if (random() < 0.2) r.backfill = random() < 0.5;
  if (random() < 0.05) r.num = 0;
  if (random() < 0.03) r.history = { nope: ["x"] };
  return r as unknown as BatchRequest;
}

const SERVINGS: ServingOptions[] = [
  {},
  { maxQueryEvents: 3, rankBy: ["popularity"] },
  { filters: [{ field: "category", values: ["a", "c"] }], num: 4 },
];

// the results with 1 worker and with 2 (small chunks: many messages),
// objects and file bytes
async function sameEitherWay(
  recommender: ForkableRecommender,
  requests: BatchRequest[],
): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    const one = await Array.fromAsync(
      recommendBatch(recommender, requests, { workers: 1 }),
    );
    const two = await Array.fromAsync(
      recommendBatch(recommender, requests, { workers: 2, chunk: 7 }),
    );
    assert.equal(one.length, requests.length);
    assert.deepEqual(two, one);
    const path = `${dir}/b.ndjson`;
    await Deno.writeTextFile(
      path,
      requests.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const bytes = async (options: BatchOptions) => {
      const decoder = new TextDecoder();
      let text = "";
      let results = 0, failed = 0;
      for await (const out of recommendBatchFile(recommender, path, options)) {
        text += decoder.decode(out.bytes, { stream: true });
        results += out.results;
        failed += out.failed;
      }
      return { text, results, failed };
    };
    const inThread = await bytes({ workers: 1 });
    const inWorkers = await bytes({ workers: 2, chunkBytes: 300 });
    assert.equal(inWorkers.text, inThread.text);
    assert.deepEqual(
      [inWorkers.results, inWorkers.failed],
      [inThread.results, inThread.failed],
    );
    assert.equal(
      inThread.text,
      one.map((r) => JSON.stringify(r) + "\n").join(""),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

Deno.test("random models with business rules: the same results and bytes with 1 and 2 workers", async () => {
  const random = mulberry32(11);
  for (let m = 0; m < 3; m++) {
    const { ids, model } = randomModel(random, 30 + 40 * m);
    for (const options of SERVINGS) {
      const recommender = new EmbeddedRecommender(model, options);
      const requests = Array.from(
        { length: 120 },
        (_, u) => randomRequest(random, ids, u),
      );
      await sameEitherWay(recommender, requests);
    }
  }
});

Deno.test("a MovieLens-shaped batch: the same bytes with 1 and 2 workers", async () => {
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
  const byUser = new Map<string, string[]>();
  for (const e of events) {
    byUser.set(e.user, [...byUser.get(e.user) ?? [], e.item]);
  }
  const requests = [...byUser].map(([user, history], i) => ({
    user,
    history,
    ...(i % 3 === 0 ? { num: 25 } : {}),
  }));
  await sameEitherWay(new EmbeddedRecommender(model), requests);
});

Deno.test("a malformed line ends the batch at the same line, after the same output, with workers", async () => {
  const documents = [{ id: "a", indicators: ["b"] }, {
    id: "b",
    indicators: ["a"],
  }];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  const dir = await Deno.makeTempDir();
  try {
    const path = `${dir}/b.ndjson`;
    const lines = Array.from(
      { length: 400 },
      (_, i) => JSON.stringify({ user: `u${i}`, history: [i % 2 ? "a" : "b"] }),
    );
    // a BOM starts the file (dropped); line 301 is not JSON
    lines[0] = "\uFEFF" + lines[0];
    lines[300] = "{oops";
    await Deno.writeTextFile(path, lines.join("\r\n"));
    for (const options of [{ workers: 1 }, { workers: 2, chunkBytes: 200 }]) {
      let text = "";
      await assert.rejects(
        async () => {
          for await (
            const out of recommendBatchFile(recommender, path, options)
          ) {
            text += new TextDecoder().decode(out.bytes);
          }
        },
        {
          name: "ConfigError",
          message: new RegExp(`^${path}:301: is not JSON`),
        },
      );
      const answered = text.trim().split("\n").map((l) => JSON.parse(l));
      assert.equal(answered.length, 300, JSON.stringify(options));
      assert.equal(answered[299].user, "u299");
      assert.deepEqual(answered[0], {
        user: "u0",
        items: ["a"],
        scores: [answered[0].scores[0]],
      });
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// a recommender whose workers run `code` (JavaScript: no type check at
// each start)
let modules = 0;
function forkable(code: string, dir: string): ForkableRecommender {
  const module = `${dir}/worker${modules++}.js`;
  Deno.writeTextFileSync(module, code);
  return {
    recommend: () => Promise.resolve([{ id: "x", score: 1 }]),
    manifest: () => Promise.reject(new Error("unused")),
    batchWorker: () => ({ module: new URL(`file://${module}`).href, state: 1 }),
  };
}

Deno.test("a failing worker ends the batch with an error naming it, never a hang", async () => {
  const dir = await Deno.makeTempDir();
  const serve = new URL("./batch_worker.ts", import.meta.url).href;
  const requests = Array.from({ length: 50 }, (_, i) => ({ user: `u${i}` }));
  try {
    const cases: [string, RegExp][] = [
      // throws while answering
      [
        `import { serveBatchWorker } from "${serve}";
serveBatchWorker(() => ({
  recommend: () => { throw new Error("boom"); },
  manifest: () => Promise.reject(new Error("unused")),
}));`,
        /^batch worker \d of 2 failed: boom$/,
      ],
      // cannot make its recommender
      [
        `import { serveBatchWorker } from "${serve}";
serveBatchWorker(() => { throw new Error("no model"); });`,
        /^batch worker \d of 2 failed: no model$/,
      ],
      // throws as it loads
      [
        `throw new Error("broken module");`,
        /batch worker \d of 2 failed: .*broken module/,
      ],
      // never answers: an uncaught error later, outside any handler
      [
        `self.onmessage = () => setTimeout(() => { throw new Error("late"); }, 1);`,
        /batch worker \d of 2 failed: .*late/,
      ],
    ];
    for (const [code, message] of cases) {
      const recommender = forkable(code, dir);
      await assert.rejects(
        () =>
          Array.fromAsync(
            recommendBatch(recommender, requests, { workers: 2, chunk: 5 }),
          ),
        { name: "CcoError", message },
      );
    }
    // one chunk only: answered here, no worker started
    const small = await Array.fromAsync(
      recommendBatch(
        forkable(`throw new Error("unused")`, dir),
        requests.slice(0, 5),
        {
          workers: 2,
          chunk: 5,
        },
      ),
    );
    assert.deepEqual(small[4], { user: "u4", items: ["x"], scores: [1] });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("workers need a backend that can fork, and a positive count", async () => {
  const plain = {
    recommend: () => Promise.resolve([]),
    manifest: () => Promise.reject(new Error("unused")),
  };
  await assert.rejects(
    () =>
      Array.fromAsync(recommendBatch(plain, [{ user: "u" }], { workers: 2 })),
    /workers needs a backend that answers in worker threads/,
  );
  assert.deepEqual(
    await Array.fromAsync(
      recommendBatch(plain, [{ user: "u" }], { workers: 1 }),
    ),
    [{ user: "u", items: [], scores: [] }],
  );
  await assert.rejects(
    () => Array.fromAsync(recommendBatch(plain, [], { workers: 0 })),
    /workers must be a positive integer, got 0/,
  );
});

Deno.test("an aborted signal ends a batch in workers with DeadlineError", async () => {
  const documents = [{ id: "a", indicators: ["b"] }, {
    id: "b",
    indicators: ["a"],
  }];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  const controller = new AbortController();
  const requests = Array.from(
    { length: 40 },
    (_, i) => ({ user: `u${i}`, history: ["a"] }),
  );
  let seen = 0;
  await assert.rejects(async () => {
    for await (
      const _ of recommendBatch(recommender, requests, {
        workers: 2,
        chunk: 4,
        signal: controller.signal,
      })
    ) {
      if (++seen === 5) controller.abort();
    }
  }, { name: "DeadlineError" });
  assert.ok(seen < 40, `${seen} answered`);
});

Deno.test("without permission to load the worker module, the default answers in this thread", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const here = (path: string) => new URL(path, import.meta.url).href;
    const script = `${dir}/batch.ts`;
    await Deno.writeTextFile(
      script,
      `import { EmbeddedRecommender } from "${
        here("../embedded/recommender.ts")
      }";
import { recommendBatch } from "${here("./batch.ts")}";
import { manifestFor } from "${here("../model/manifest.ts")}";
const documents = [{ id: "a", indicators: ["b"] }, { id: "b", indicators: ["a"] }];
const r = new EmbeddedRecommender({ manifest: manifestFor(documents, { primaryEvent: "buy" }), documents });
const requests = Array.from({ length: 3000 }, (_, i) => ({ user: "u" + i, history: ["a"] }));
const out = await Array.fromAsync(recommendBatch(r, requests, { chunk: 100 }));
console.log(out.length, JSON.stringify(out[2999]));
`,
    );
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "--no-prompt", "--no-check", script],
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    assert.equal(run.code, 0, stderr);
    assert.match(
      new TextDecoder().decode(run.stdout),
      /^3000 \{"user":"u2999","items":\["b"\],"scores":\[[0-9.e-]+\]\}\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// how many workers a default batch starts: one per core for a file, one
// less for requests in memory (this thread copies each to a worker); seen
// through a worker module that fails as it loads, so that a batch that
// started any worker fails
Deno.test("default workers: the cores for a file, one less for requests in memory", async () => {
  const dir = await Deno.makeTempDir();
  const cores = (n: number) =>
    Object.defineProperty(navigator, "hardwareConcurrency", {
      value: n,
      configurable: true,
    });
  try {
    const broken = forkable(`throw new Error("broken module");`, dir);
    const requests = Array.from({ length: 20 }, (_, i) => ({ user: `u${i}` }));
    // more than one read of the file: more than one chunk
    const file = `${dir}/users.ndjson`;
    const lines = Array.from({ length: 10000 }, (_, i) => `{"user":"u${i}"}\n`);
    await Deno.writeTextFile(file, lines.join(""));
    const inMemory = () =>
      Array.fromAsync(recommendBatch(broken, requests, { chunk: 5 }));
    const fromFile = () =>
      Array.fromAsync(recommendBatchFile(broken, file, { chunkBytes: 4096 }));
    cores(2);
    assert.equal((await inMemory()).length, 20);
    await assert.rejects(fromFile, /batch worker \d of 2 failed/);
    cores(3);
    await assert.rejects(inMemory, /batch worker \d of 2 failed/);
    await assert.rejects(fromFile, /batch worker \d of 3 failed/);
    cores(1);
    assert.equal((await inMemory()).length, 20);
    const outputs = await fromFile();
    assert.equal(outputs.reduce((n, out) => n + out.results, 0), 10000);
  } finally {
    delete (navigator as { hardwareConcurrency?: number }).hardwareConcurrency;
    await Deno.remove(dir, { recursive: true });
  }
});
