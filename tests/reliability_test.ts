/**
 * Issue 14: each defect found by probing as a hostile client and a careless
 * operator, reproduced as it was reported, and what happens now. The
 * chaos suite (`chaos_*_test.ts`) then runs the same kinds of faults at
 * volume.
 */
import assert from "node:assert/strict";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import {
  listIndices,
  type LockHolder,
  publishIndex,
} from "../elasticsearch/lifecycle.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEvents } from "../events/read.ts";
import { createHandler } from "../http/handler.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, readItems } from "../model/items.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { manifestFor, type Model } from "../model/manifest.ts";
import { writeModel } from "../model/ndjson.ts";
import { MemoryEventStore, withUserHistory } from "../serving/event_store.ts";
import type { Recommender } from "../serving/request.ts";
import { esTest } from "./_es.ts";
import { startFaultProxy } from "./_fault_proxy.ts";
import { startServe } from "./_serve.ts";
import { runTask } from "./_cli.ts";

const root = new URL("..", import.meta.url).pathname;
const fixture = `${root}fixtures/demo_events.csv`;
const itemsFile = `${root}fixtures/demo_items.csv`;

/** The demo model with its item metadata (category, available, updated, popularity). */
async function demoModel(): Promise<Model<IndicatorDocument>> {
  const model = await buildIndicators(readEvents(fixture), {
    primaryEvent: "transaction",
  });
  mergeItems(model, await readItems(itemsFile, {}), {});
  return model;
}

/** A small catalogue of `size` items, version `v`. */
function catalogue(v: number, size = 300): Model<IndicatorDocument> {
  const docs: IndicatorDocument[] = [];
  for (let i = 0; i < size; i++) {
    docs.push({
      id: `i${i}`,
      indicators: [`i${(i + v) % size}`, `i${(i + 2 * v + 1) % size}`],
      indicators_view: [`i${(i * 7 + v) % size}`],
      scores: {},
      metadata: { popularity: i % 17, category: `c${i % 5}` },
    });
  }
  return {
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  };
}

let tick = Date.UTC(2026, 1, 1);
const clock = () => new Date(tick += 1000);

/** POSTs JSON through a handler. */
async function post(
  handler: (r: Request) => Promise<Response>,
  path: string,
  body: unknown,
  contentType = "application/json",
) {
  const res = await handler(
    new Request(`http://x${path}`, {
      method: "POST",
      headers: { "content-type": contentType },
      body: typeof body === "string" ? body : JSON.stringify(body),
    }),
  );
  return { status: res.status, body: await res.json() };
}

function userHandler(recommender: Recommender, store = new MemoryEventStore()) {
  return createHandler({
    recommender: withUserHistory(recommender, store),
    events: store,
    backend: "test",
    log: () => {},
  });
}

// 1. Two builds on one alias
esTest(
  "1. a second build waits for the first: neither deletes the other's index, the alias ends on a complete, strictly mapped index",
  async ({ client, index }) => {
    const alias = index("race");
    await publishIndex(client, alias, catalogue(0), { now: clock });
    // build A pauses halfway; meanwhile build B runs. Before the fix B's
    // clean-up deleted A's index (marked building), the next bulk request
    // re-created it with dynamic mappings, and A swapped the alias onto it
    let resumeA!: () => void;
    const paused = new Promise<void>((r) => resumeA = r);
    let halfway!: () => void;
    const reached = new Promise<void>((r) => halfway = r);
    const a = catalogue(1, 2000);
    async function* slow() {
      for (const [i, doc] of a.documents.entries()) {
        if (i === 1000) {
          halfway();
          await paused;
        }
        yield doc;
      }
    }
    const waited: LockHolder[] = [];
    const buildA = publishIndex(
      client,
      alias,
      { manifest: a.manifest, documents: slow() },
      { now: clock, flushBytes: 20_000, concurrency: 1 },
    );
    await reached;
    const buildB = publishIndex(client, alias, catalogue(2, 2000), {
      now: clock,
      onLockWait: (holder) => {
        waited.push(holder);
        resumeA(); // A goes on only once B is known to wait
      },
    });
    const [ra, rb] = await Promise.all([buildA, buildB]);
    assert.equal(waited.length, 1);
    assert.match(waited[0].purpose, new RegExp(`^building "${ra.index}"$`));
    assert.equal(rb.previous, ra.index);
    const indices = await listIndices(client, alias);
    assert.deepEqual(
      indices.map((i) => [i.index, i.documents, i.live, i.state]),
      [[ra.index, 2000, false, "complete"], [rb.index, 2000, true, "complete"]],
    );
    const mapping = await client.indices.getMapping({ index: rb.index });
    assert.equal(String(mapping[rb.index].mappings.dynamic), "strict");
    const recs = await new ElasticsearchRecommender(client, alias).recommend({
      history: ["i5"],
      num: 3,
    });
    assert.equal(recs.length, 3);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

// 2. Idle connections: see chaos_flood_test.ts (a real serve under ulimit -n 256)

// 2. (and the brief) a server left running when its launcher died
Deno.test("2. serve stops when its launcher (deno task, npx) is killed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
    });
    await writeModel(`${dir}/model.ndjson`, model);
    const launcher = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        `${root}tests/_launcher.ts`,
        "--indicators",
        `${dir}/model.ndjson`,
      ],
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const reader = launcher.stdout.pipeThrough(new TextDecoderStream())
      .getReader();
    let out = "";
    while (!out.includes("\n")) {
      const { value, done } = await reader.read();
      if (done) break;
      out += value;
    }
    reader.releaseLock();
    const { base } = JSON.parse(out);
    assert.equal(
      await fetch(`${base}/health`).then(async (
        r,
      ) => (await r.body?.cancel(), r.status)),
      200,
    );
    launcher.kill("SIGKILL"); // as when npx or deno task is killed
    await launcher.status;
    // before: the server went on running with no one to stop it
    let gone = false;
    for (let i = 0; i < 50 && !gone; i++) {
      await new Promise((r) => setTimeout(r, 100));
      gone = await fetch(`${base}/health`).then(
        async (r) => (await r.body?.cancel(), false),
        () => true,
      );
    }
    assert.ok(gone, "serve still answers after its launcher was killed");
    const err = await new Response(launcher.stderr).text();
    assert.match(
      err,
      /stopping \(the task runner \(pid \d+\) exited\): answering the requests in progress/,
    );
    await launcher.stdout.cancel().catch(() => {});
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// 3. One hostile event broke a user for good
Deno.test("3. hostile events are refused and cannot break a user", async () => {
  const embedded = new EmbeddedRecommender(await demoModel());
  const store = new MemoryEventStore();
  const handler = userHandler(embedded, store);
  const good = { user: "u1", item: "1205", event: "transaction", timestamp: 1 };
  assert.equal((await post(handler, "/events", good)).status, 202);
  const before = await post(handler, "/recommendations", { user: "u1" });
  assert.equal(before.status, 200);
  for (
    const [event, message] of [
      [
        { ...good, event: "constructor" },
        "event.event is not an event type of this model (transaction, addtocart, view)",
      ],
      [
        { ...good, event: "toString" },
        "event.event is not an event type of this model (transaction, addtocart, view)",
      ],
      [
        { ...good, event: "__proto__" },
        "event.event is not an event type of this model (transaction, addtocart, view)",
      ],
      [
        { ...good, item: "x".repeat(40_000) },
        "event.item must have at most 1024 characters, got 40000",
      ],
      [
        { ...good, user: "u".repeat(2000) },
        "event.user must have at most 1024 characters, got 2000",
      ],
      [
        { ...good, timestamp: 1e300 },
        "event.timestamp must be unix milliseconds",
      ],
      [
        { ...good, timestamp: 1.5 },
        "event.timestamp must be unix milliseconds",
      ],
    ] as const
  ) {
    const got = await post(handler, "/events", event);
    assert.deepEqual(got, {
      status: 400,
      body: { error: { status: 400, message } },
    });
  }
  // and the user still gets the same answer
  assert.deepEqual(
    await post(handler, "/recommendations", { user: "u1" }),
    before,
  );
  // events recorded before the checks (or by another version) cannot break
  // the user either: unknown types and over-long ids are left out
  for (const event of ["constructor", "toString", "hasOwnProperty"]) {
    await store.recordEvent({ ...good, event, timestamp: 2 });
  }
  await store.recordEvent({ ...good, item: "x".repeat(40_000), timestamp: 3 });
  assert.deepEqual(
    await post(handler, "/recommendations", { user: "u1" }),
    before,
  );
  const long = await post(handler, "/recommendations", {
    user: "u".repeat(2000),
  });
  assert.equal(long.status, 400);
  assert.equal(
    long.body.error.message,
    "request.user must have at most 1024 characters, got 2000",
  );
});

esTest(
  "3. (Elasticsearch) a user with hostile stored events still gets answers",
  async ({ client, index }) => {
    const model = await demoModel();
    const alias = index("hostile");
    await publishIndex(client, alias, model, { now: clock });
    const store = new MemoryEventStore();
    const es = new ElasticsearchRecommender(client, alias);
    const handler = userHandler(es, store);
    const good = {
      user: "u1",
      item: "1205",
      event: "transaction",
      timestamp: 1,
    };
    await store.recordEvent(good);
    const before = await post(handler, "/recommendations", { user: "u1" });
    assert.equal(before.status, 200);
    await store.recordEvent({ ...good, event: "constructor", timestamp: 2 });
    await store.recordEvent({
      ...good,
      item: "x".repeat(40_000),
      timestamp: 3,
    });
    // before: 400 (a 40 KB term) or 500 on every request of this user
    assert.deepEqual(
      await post(handler, "/recommendations", { user: "u1" }),
      before,
    );
    await client.indices.delete({ index: `${alias}_*` });
  },
);

// 4. Elasticsearch 4xx caused by the request became 500
esTest(
  "4. requests at fault: the same 400, with the cause, on both backends",
  async ({ client, index }) => {
    const model = await demoModel();
    const alias = index("fault400");
    await publishIndex(client, alias, model, { now: clock });
    const backends = {
      embedded: createHandler({
        recommender: new EmbeddedRecommender(model),
        backend: "embedded",
        log: () => {},
      }),
      elasticsearch: createHandler({
        recommender: new ElasticsearchRecommender(client, alias),
        backend: "elasticsearch",
        log: () => {},
      }),
    };
    const history = ["1205"];
    const cases: [unknown, number, string | undefined][] = [
      [
        { history, filters: [{ field: "popularity", value: "abc" }] },
        400,
        'request.filters[0].value must be a number ("popularity" is a number field), got "abc"',
      ],
      [
        { history: ["x".repeat(33_000)] },
        400,
        "request.history[0] must have at most 1024 characters, got 33000",
      ],
      [
        { history, exclude: ["x".repeat(33_000)] },
        400,
        "request.exclude[0] must have at most 1024 characters, got 33000",
      ],
      [
        {
          history,
          filters: [{ field: "category", value: "c".repeat(33_000) }],
        },
        400,
        "request.filters[0].value must have at most 1024 characters, got 33000",
      ],
      [
        { history, filters: [{ field: "available", gte: true }] },
        400,
        "request.filters[0].gte must be a number or a string, got true",
      ],
      // a range on a keyword field: text order, the same on both
      [
        { history, filters: [{ field: "category", gte: "b", lt: "d" }] },
        200,
        undefined,
      ],
    ];
    for (const [request, status, message] of cases) {
      const answers = await Promise.all(
        Object.values(backends).map((h) =>
          post(h, "/recommendations", request)
        ),
      );
      for (const got of answers) {
        assert.equal(
          got.status,
          status,
          `${JSON.stringify(request).slice(0, 120)}: ${
            JSON.stringify(got.body)
          }`,
        );
        if (message) assert.equal(got.body.error.message, message);
      }
      assert.deepEqual(answers[0], answers[1]);
    }
    // the body limit makes the 64 KB case a 413 on both, before any backend
    await client.indices.delete({ index: `${alias}_*` });
  },
);

// found by the fuzzer: range semantics that differed between the backends
esTest(
  "4. (fuzzer) one bound per side, keyword ranges in code point order, metadata fields only: the same on both backends",
  async ({ client, index }) => {
    const docs: IndicatorDocument[] = ["a\uE000", "a\u{1F600}", "a\uFFFF", "b"]
      .map((category, i) => ({
        id: `d${i}`,
        indicators: ["h"],
        scores: {},
        metadata: { category, popularity: 10 + 5 * i },
      }));
    const model = {
      manifest: manifestFor(docs, { primaryEvent: "buy" }),
      documents: docs,
    };
    const alias = index("ranges");
    await publishIndex(client, alias, model, { now: clock });
    const backends = [
      new EmbeddedRecommender(model),
      new ElasticsearchRecommender(client, alias),
    ];
    const ids = async (r: Recommender, filters: unknown[]) =>
      (await r.recommend({ history: ["h"], filters, backfill: false } as never))
        .map((x) => x.id).sort();
    // UTF-16 order put U+1F600 before U+F000; Lucene orders code points
    for (const r of backends) {
      assert.deepEqual(await ids(r, [{ field: "category", gte: "a\uF000" }]), [
        "d1",
        "d2",
        "d3",
      ]);
    }
    // Elasticsearch kept only the last of lte and lt: refused on both
    for (const r of backends) {
      await assert.rejects(
        () => ids(r, [{ field: "popularity", lte: 17, lt: 28 }]),
        {
          name: "RequestError",
          message:
            "request.filters[0] has both lt and lte: give one bound per side",
        },
      );
      // a term on an indicator field or on the id matched on Elasticsearch only
      await assert.rejects(
        () => ids(r, [{ field: "indicators", value: "h" }]),
        {
          name: "RequestError",
          message:
            'request.filters[0].field "indicators" is not a metadata field (rules apply to item metadata: category, popularity)',
        },
      );
      await assert.rejects(
        () =>
          r.recommend({
            history: ["h"],
            boosts: [{ field: "popularity", values: ["x"], boost: 1 }],
          }),
        {
          name: "RequestError",
          message:
            'request.boosts[0].values[0] must be a number ("popularity" is a number field), got "x"',
        },
      );
    }
    await client.indices.delete({ index: `${alias}_*` });
  },
);

// 5. A cluster that refuses connections was slow to report
esTest(
  "5. a cluster that refuses connections: 503 at once, /health 503 at once, recovery with the cluster",
  async ({ client, url, index }) => {
    const alias = index("down");
    await publishIndex(client, alias, await demoModel(), { now: clock });
    const proxy = startFaultProxy(url);
    const serve = await startServe(["--alias", alias], {
      env: { ES_URL: proxy.url },
    });
    const body = JSON.stringify({ history: ["1205"], num: 3 });
    const ask = async (path: string) => {
      const t0 = performance.now();
      const res = await fetch(`${serve.base}${path}`, {
        method: path === "/health" ? "GET" : "POST",
        body: path === "/health" ? undefined : body,
      });
      await res.body?.cancel();
      return { status: res.status, millis: performance.now() - t0 };
    };
    try {
      assert.equal((await ask("/recommendations")).status, 200);
      assert.equal((await ask("/health")).status, 200);
      await proxy.refuse();
      // before: 3.5 to 5 s per request (retries with back-off), and /health
      // answered 504 for 30 s before 503
      for (let i = 0; i < 5; i++) {
        const rec = await ask("/recommendations");
        assert.equal(rec.status, 503);
        assert.ok(rec.millis < 1000, `503 after ${rec.millis} ms`);
        const health = await ask("/health");
        assert.equal(health.status, 503);
        assert.ok(
          health.millis < 1000,
          `/health 503 after ${health.millis} ms`,
        );
      }
      proxy.restore();
      const back = await ask("/recommendations");
      assert.equal(back.status, 200);
      assert.equal((await ask("/health")).status, 200);
    } finally {
      await serve.stop();
      await proxy.close();
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);

// 6. An empty token silently turned auth off
Deno.test("6. an empty --token or CCO_SERVE_TOKEN is refused at start", async () => {
  const model = `${root}fixtures/demo_events.csv`;
  for (
    const [args, env, message] of [
      [["--token", ""], {}, "--token is empty"],
      [[], { CCO_SERVE_TOKEN: "" }, "CCO_SERVE_TOKEN is empty"],
      [["--token", "  "], {}, "--token is empty"],
      [
        ["--token", "a b"],
        {},
        "--token must be printable ASCII without spaces",
      ],
    ] as const
  ) {
    const got = await runTask("serve", ["--events", model, ...args], env);
    assert.equal(got.code, 1, got.stderr);
    assert.ok(got.stderr.startsWith(`error: ${message}`), got.stderr);
    assert.equal(got.stderr.trim().split("\n").length, 1);
  }
});

// 7. A tiny or broken log replaced a large live index without a word
esTest(
  "7. a model that would shrink the live index is refused unless --allow-shrink",
  async ({ client, url, index }) => {
    const alias = index("shrink");
    const live = await publishIndex(client, alias, catalogue(1, 3000), {
      now: clock,
    });
    const tiny = catalogue(2, 2);
    await assert.rejects(
      () => publishIndex(client, alias, tiny, { now: clock }),
      {
        name: "IndexingError",
        message:
          `the new model of "${alias}" has 2 documents and the live index "${live.index}" 3000: it would lose 99.9% of them, more than maxShrink 0.5 allows (a broken or partial events file?); pass --allow-shrink (allowShrink) to publish it anyway`,
      },
    );
    // refused before anything was indexed
    assert.deepEqual((await listIndices(client, alias)).map((i) => i.index), [
      live.index,
    ]);
    // a smaller model within the bound, or allowed, is published
    const fewer = await publishIndex(client, alias, catalogue(3, 1600), {
      now: clock,
    });
    assert.equal(fewer.documents, 1600);
    const allowed = await publishIndex(client, alias, tiny, {
      now: clock,
      allowShrink: true,
    });
    assert.equal(allowed.documents, 2);
    // the command line: a 2-event log over the live index
    const dir = await Deno.makeTempDir();
    try {
      await publishIndex(client, alias, catalogue(4, 3000), { now: clock });
      const log = `${dir}/tiny.csv`;
      await Deno.writeTextFile(
        log,
        "timestamp,visitorid,event,itemid,transactionid\n1,u1,transaction,a,\n2,u1,view,b,\n",
      );
      const refused = await runTask("build-index", [
        "--events",
        log,
        "--alias",
        alias,
      ], { ES_URL: url });
      assert.equal(refused.code, 1);
      assert.match(
        refused.stderr,
        /error: the new model of ".*" has 2 documents and the live index ".*" 3000: it would lose 99\.9% of them/,
      );
      const forced = await runTask("build-index", [
        "--events",
        log,
        "--alias",
        alias,
        "--allow-shrink",
      ], { ES_URL: url });
      assert.equal(forced.code, 0, forced.stderr);
    } finally {
      await Deno.remove(dir, { recursive: true });
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);

// 8. Flags that cannot work were found late or never
Deno.test("8. flags and settings that cannot work are refused before any work", async () => {
  const dir = await Deno.makeTempDir();
  try {
    // a log that takes a while to read: the error must come before it is read
    const big = `${dir}/big.csv`;
    const lines = ["timestamp,visitorid,event,itemid,transactionid"];
    for (let i = 0; i < 300_000; i++) {
      lines.push(`${i},u${i % 5000},view,i${i % 3000},`);
    }
    await Deno.writeTextFile(big, lines.join("\n") + "\n");
    const model = `${dir}/model.ndjson`;
    const built = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
    });
    await writeModel(model, built);
    const es = { ES_URL: "http://127.0.0.1:9" }; // never reached
    for (
      const [script, args, env, message] of [
        [
          "build-index",
          ["--events", big, "--alias", "BAD"],
          es,
          'invalid alias "BAD": use lower-case letters, digits, _ and -',
        ],
        [
          "build-index",
          ["--events", big, "--concurrency", "0"],
          es,
          "concurrency must be an integer >= 1, got 0",
        ],
        [
          "build-index",
          ["--events", big, "--keep", "0"],
          es,
          "keep must be an integer >= 1, got 0",
        ],
        [
          "build-index",
          ["--events", big, "--flush-bytes", "0"],
          es,
          "flushBytes must be an integer >= 1, got 0",
        ],
        [
          "serve",
          ["--indicators", model, "--max-query-events", "0"],
          {},
          "--max-query-events must be an integer from 1 to 1024, got 0",
        ],
        [
          "serve",
          ["--indicators", model, "--timeout", "0"],
          {},
          "--timeout must be an integer >= 1, got 0",
        ],
        [
          "serve",
          ["--indicators", model, "--max-body", "0"],
          {},
          "--max-body must be an integer >= 1, got 0",
        ],
        [
          "serve",
          ["--indicators", model, "--port", "70000"],
          {},
          "--port must be an integer from 0 to 65535, got 70000",
        ],
        [
          "serve",
          ["--indicators", model],
          { PORT: "http" },
          'PORT must be an integer, got "http"',
        ],
        [
          "serve",
          ["--indicators", model, "--hostname", ""],
          {},
          "--hostname must not be empty",
        ],
        [
          "serve",
          [
            "--indicators",
            model,
            "--event-store",
            "elasticsearch",
            "--events-index",
            "BAD",
          ],
          {},
          '--events-index must be lower-case letters, digits, _ and -, got "BAD"',
        ],
        [
          "serve",
          ["--indicators", "/nonexistent", "--max-query-events", "0"],
          {},
          "--max-query-events must be an integer from 1 to 1024, got 0",
        ],
      ] as const
    ) {
      console.log("case", script, args.join(" "));
      const got = await runTask(script, [...args], env);
      assert.equal(got.code, 1, `${args.join(" ")}: ${got.stderr}`);
      assert.equal(got.stderr, `error: ${message}\n`, args.join(" "));
      // nothing was read: the reader prints "reading" first
      assert.ok(!got.stderr.includes("reading"), got.stderr);
    }
    // settings that cannot work, from the settings file: before the model is read
    const settings = `${dir}/cco.json`;
    await Deno.writeTextFile(
      settings,
      JSON.stringify({ http: { idleTimeoutMs: 0 } }),
    );
    const idle = await runTask("serve", [
      "--indicators",
      "/nonexistent",
      "--config",
      settings,
    ]);
    assert.equal(
      idle.stderr,
      `error: ${settings}: http.idleTimeoutMs must be >= 1, got 0\n`,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

// 9. The memory event store grew without bound
Deno.test("9. the memory event store stays bounded in users and age", async () => {
  let now = 0;
  const store = new MemoryEventStore({
    maxUsers: 1000,
    maxAgeMs: 60_000,
    now: () => now,
  });
  // before: every distinct user stayed forever (about 56 MB per 100k users)
  for (let u = 0; u < 100_000; u++) {
    now = u; // one event per millisecond
    await store.recordEvent({
      user: `u${u}`,
      item: "i",
      event: "view",
      timestamp: u,
    });
  }
  assert.equal(store.users, 1000);
  // the newest users are the ones kept
  assert.deepEqual(await store.recentHistory("u99999", 5), { view: ["i"] });
  assert.deepEqual(await store.recentHistory("u98999", 5), {});
  // a user active again moves to the back of the queue
  await store.recordEvent({
    user: "u99000",
    item: "j",
    event: "view",
    timestamp: 1,
  });
  await store.recordEvent({
    user: "new",
    item: "k",
    event: "view",
    timestamp: 1,
  });
  assert.deepEqual(await store.recentHistory("u99000", 5), {
    view: ["i", "j"],
  });
  assert.deepEqual(await store.recentHistory("u99001", 5), {}); // the oldest went
  // age: a minute after their last event users are forgotten
  now += 60_001;
  assert.deepEqual(await store.recentHistory("new", 5), {});
  assert.equal(store.users, 0);
  assert.throws(() => new MemoryEventStore({ maxUsers: 0 }), {
    name: "ConfigError",
    message: "maxUsers must be an integer >= 1, got 0",
  });
});

// 10. POST /events accepted text/plain
Deno.test("10. POST /events takes application/json only", async () => {
  const embedded = new EmbeddedRecommender(await demoModel());
  const handler = userHandler(embedded);
  const event = { user: "u", item: "1205", event: "view" };
  for (
    const type of [
      "text/plain",
      "application/x-www-form-urlencoded",
      "multipart/form-data; boundary=x",
      "",
    ]
  ) {
    const got = await post(handler, "/events", event, type);
    assert.deepEqual(got, {
      status: 415,
      body: {
        error: {
          status: 415,
          message: "POST /events takes content-type application/json",
        },
      },
    });
  }
  assert.equal(
    (await post(handler, "/events", event, "application/json; charset=utf-8"))
      .status,
    202,
  );
  assert.equal(
    (await post(handler, "/events", event, "Application/JSON")).status,
    202,
  );
});

// found by the chaos suite: a server whose cached index was deleted by a
// later build's retention answered 500 until its manifest cache expired
esTest(
  "a cached index deleted by retention: the next request reads the alias again",
  async ({ client, index }) => {
    const alias = index("gone");
    await publishIndex(client, alias, catalogue(1), { now: clock });
    const es = new ElasticsearchRecommender(client, alias, {
      manifestTtlMs: 60_000,
    });
    const request = { history: ["i5", "i6"], num: 3 };
    assert.equal((await es.recommend(request)).length, 3);
    // two builds with keep 1: the index the recommender cached is deleted
    await publishIndex(client, alias, catalogue(2), { now: clock, keep: 1 });
    await publishIndex(client, alias, catalogue(3), { now: clock, keep: 1 });
    const fresh = new ElasticsearchRecommender(client, alias);
    assert.deepEqual(
      await es.recommend(request),
      await fresh.recommend(request),
    );
    await client.indices.delete({ index: `${alias}_*` });
  },
);
