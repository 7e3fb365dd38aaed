/** The HTTP service: routes, every error path, auth, limits, ES down. */
import assert from "node:assert/strict";
import { createClient } from "../elasticsearch/client.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { ElasticsearchEventStore } from "../elasticsearch/event_store.ts";
import { readEvents } from "../events/read.ts";
import { createHandler } from "../http/handler.ts";
import { buildIndicators } from "../indicators/build.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import type { Event } from "../events/format.ts";
import { type EventStore, withUserHistory } from "../serving/event_store.ts";
import type { Recommender } from "../serving/request.ts";
import {
  DeadlineError,
  ModelError,
  RequestError,
  UnavailableError,
} from "../errors/mod.ts";
import { esTest } from "./_es.ts";
import { startFaultProxy } from "./_fault_proxy.ts";

const fixture =
  new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
const model = await buildIndicators(readEvents(fixture), {
  primaryEvent: "transaction",
});
const embedded = new EmbeddedRecommender(model);

function serve(options: Partial<Parameters<typeof createHandler>[0]> = {}) {
  const lines: string[] = [];
  const recorded: Event[] = [];
  const events: EventStore = {
    recordEvent: (e) => {
      recorded.push(e);
      return Promise.resolve();
    },
  };
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createHandler({
      recommender: embedded,
      backend: "embedded",
      index: "demo",
      events,
      log: (line) => lines.push(line),
      ...options,
    }),
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { url, lines, recorded, close: () => server.shutdown() };
}

async function call(
  url: string,
  path: string,
  init: { method?: string; body?: string; headers?: Record<string, string> } =
    {},
) {
  const res = await fetch(url + path, {
    method: init.method ?? "POST",
    body: init.body,
    headers: { "content-type": "application/json", ...init.headers },
  });
  return { status: res.status, body: await res.json() };
}

Deno.test("HTTP: recommendations and similar items equal the library's", async () => {
  const s = serve();
  try {
    const request = {
      history: { transaction: ["1205"], view: ["1201"] },
      num: 4,
    };
    const got = await call(s.url, "/recommendations", {
      body: JSON.stringify(request),
    });
    assert.equal(got.status, 200);
    assert.deepEqual(got.body, {
      recommendations: await embedded.recommend(request),
    });
    const similar = await call(s.url, "/similar-items", {
      body: JSON.stringify({ item: "1500", num: 3 }),
    });
    assert.equal(similar.status, 200);
    assert.deepEqual(
      similar.body.recommendations,
      await embedded.recommend({ item: "1500", num: 3 }),
    );
    const health = await call(s.url, "/health", { method: "GET" });
    assert.deepEqual(health, {
      status: 200,
      body: { status: "ok", backend: "embedded", index: "demo" },
    });
    const event = await call(s.url, "/events", {
      body: JSON.stringify({
        user: "u1",
        item: "1205",
        event: "view",
        timestamp: 5,
      }),
    });
    assert.equal(event.status, 202);
    assert.deepEqual(s.recorded, [{
      user: "u1",
      item: "1205",
      event: "view",
      timestamp: 5,
    }]);
    // one JSON access-log line per request, with its request id
    assert.equal(s.lines.length, 4);
    const line = JSON.parse(s.lines[0]);
    assert.deepEqual(Object.keys(line), [
      "time",
      "level",
      "msg",
      "requestId",
      "method",
      "path",
      "route",
      "status",
      "ms",
    ]);
    assert.equal(line.level, "info");
    assert.equal(line.status, 200);
    assert.equal(line.route, "/recommendations");
    assert.match(line.requestId, /^[0-9a-f-]{36}$/);
  } finally {
    await s.close();
  }
});

Deno.test("HTTP: every error path is JSON with the right status", async () => {
  const s = serve({ maxBodyBytes: 2000 });
  try {
    const cases: [
      string,
      { method?: string; body?: string },
      number,
      string | RegExp,
    ][] = [
      ["/nowhere", {}, 404, "no route /nowhere"],
      [
        "/recommendations",
        { method: "GET" },
        405,
        "/recommendations takes POST",
      ],
      ["/recommendations", { body: "{not json" }, 400, /^body is not JSON: /],
      ["/recommendations", { body: "[1]" }, 400, "body must be a JSON object"],
      [
        "/recommendations",
        { body: '{"history":["a"],"colour":"red"}' },
        400,
        /^request has an unknown key "colour" \(known: history, user, /,
      ],
      [
        "/recommendations",
        { body: '{"history":"a"}' },
        400,
        'request.history must be an array, or an object, got "a"',
      ],
      [
        "/recommendations",
        { body: '{"history":["a"],"num":"5"}' },
        400,
        'request.num must be an integer, got "5"',
      ],
      [
        "/recommendations",
        {
          body: JSON.stringify({
            history: Array.from({ length: 1100 }, (_, i) => `${i}`),
          }),
        },
        413,
        "body over 2000 bytes",
      ],
      [
        "/similar-items",
        { body: '{"history":["a"]}' },
        400,
        "/similar-items takes item or items, not history",
      ],
      [
        "/similar-items",
        { body: "{}" },
        400,
        "/similar-items needs item or items",
      ],
      [
        "/events",
        { body: '{"user":"u","item":"i"}' },
        400,
        "event.event must be a non-empty string",
      ],
      [
        "/events",
        { body: '{"user":"u","item":"i","event":"view","timestamp":"now"}' },
        400,
        "event.timestamp must be unix milliseconds",
      ],
    ];
    for (const [path, init, status, message] of cases) {
      const got = await call(s.url, path, init);
      assert.equal(got.status, status, `${path} ${init.body}`);
      assert.equal(got.body.error.status, status);
      if (typeof message === "string") {
        assert.equal(got.body.error.message, message);
      } else assert.match(got.body.error.message, message);
    }
  } finally {
    await s.close();
  }
  // too many history items (under the body limit): 400
  const big = serve();
  try {
    const got = await call(big.url, "/recommendations", {
      body: JSON.stringify({
        history: Array.from({ length: 1100 }, (_, i) => `${i}`),
      }),
    });
    assert.deepEqual(got, {
      status: 400,
      body: {
        error: {
          status: 400,
          message:
            "request.history has 1100 distinct items; at most 1024 are accepted",
        },
      },
    });
  } finally {
    await big.close();
  }
});

Deno.test("HTTP: bearer token, no event store, timeout", async () => {
  const s = serve({ token: "s3cret", events: undefined });
  try {
    const body = '{"history":["1205"]}';
    assert.equal((await call(s.url, "/recommendations", { body })).status, 401);
    assert.equal(
      (await call(s.url, "/recommendations", {
        body,
        headers: { authorization: "Bearer nope" },
      })).status,
      401,
    );
    assert.equal(
      (await call(s.url, "/recommendations", {
        body,
        headers: { authorization: "Bearer s3cret" },
      })).status,
      200,
    );
    // health stays open for load balancers
    assert.equal((await call(s.url, "/health", { method: "GET" })).status, 200);
    const noStore = await call(s.url, "/events", {
      body: '{"user":"u","item":"i","event":"view"}',
      headers: { authorization: "Bearer s3cret" },
    });
    assert.deepEqual(noStore.body, {
      error: { status: 501, message: "no event store configured" },
    });
  } finally {
    await s.close();
  }
  let signal: AbortSignal | undefined;
  const slow = serve({
    timeoutMs: 50,
    recommender: {
      manifest: () => embedded.manifest(),
      recommend: (_, options) => {
        signal = options?.signal;
        return new Promise((r) => setTimeout(() => r([]), 300));
      },
    },
  });
  try {
    const got = await call(slow.url, "/recommendations", {
      body: '{"history":["a"]}',
    });
    assert.deepEqual(got, {
      status: 504,
      body: { error: { status: 504, message: "no answer within 50 ms" } },
    });
    // the deadline cancels the backend's work too
    assert.equal(signal?.aborted, true);
    assert.ok(signal?.reason instanceof DeadlineError);
    await new Promise((r) => setTimeout(r, 300)); // let the slow answer finish
  } finally {
    await slow.close();
  }
});

Deno.test("HTTP: errors map by class; a defect is a 500 that tells nothing", async () => {
  const throwing = (error: unknown): Recommender => ({
    manifest: () => embedded.manifest(),
    recommend: () => Promise.reject(error),
  });
  const cases: [unknown, number, string][] = [
    // before issue 11 any TypeError was the caller's fault (400) and its
    // message went out to the caller
    [new TypeError("x is not a function"), 500, "internal error"],
    [new Error("secret internals"), 500, "internal error"],
    [new ModelError("index has no manifest"), 500, "internal error"],
    [
      new RequestError("request.num", "must be an integer, got 0"),
      400,
      "request.num must be an integer, got 0",
    ],
    [
      new UnavailableError("Elasticsearch is unreachable"),
      503,
      "backend unavailable: Elasticsearch is unreachable",
    ],
    [
      new DeadlineError("the request was aborted"),
      504,
      "the request was aborted",
    ],
  ];
  for (const [error, status, message] of cases) {
    const s = serve({ recommender: throwing(error) });
    try {
      const got = await call(s.url, "/recommendations", {
        body: '{"history":["a"]}',
      });
      assert.deepEqual(got, { status, body: { error: { status, message } } });
      // the log keeps the cause of a defect for the operator
      if (status === 500) {
        const line = JSON.parse(s.lines[0]);
        assert.equal(line.level, "error");
        assert.equal(line.error, (error as Error).message);
      }
    } finally {
      await s.close();
    }
  }
  // the validation errors of a real recommender are the caller's: 400
  const s = serve();
  try {
    for (
      const [body, message] of [
        [
          { filters: "x" },
          'request.filters must be an array, got "x"',
        ],
        [
          { history: { like: ["1205"] } },
          "request.history.like is not an event type of this model (transaction, addtocart, view)",
        ],
        [
          {
            history: ["1205"],
            filters: [{ field: "popularity", value: "high" }],
          },
          'request.filters[0].value must be a number ("popularity" is a number field), got "high"',
        ],
      ] as const
    ) {
      assert.deepEqual(
        await call(s.url, "/recommendations", { body: JSON.stringify(body) }),
        { status: 400, body: { error: { status: 400, message } } },
      );
    }
  } finally {
    await s.close();
  }
});

esTest(
  "HTTP over Elasticsearch: 503 and unhealthy when the cluster is down",
  async ({ client, url, index }) => {
    const alias = index("http");
    await publishIndex(client, alias, model);
    const proxy = startFaultProxy(url);
    const viaProxy = createClient({
      node: proxy.url,
      maxRetries: 0,
      requestTimeout: 2000,
    });
    const s = serve({
      recommender: new ElasticsearchRecommender(viaProxy, alias),
      backend: "elasticsearch",
      index: alias,
      healthCheck: () => viaProxy.count({ index: alias }),
    });
    try {
      const body = JSON.stringify({ history: ["1205"], num: 3 });
      const ok = await call(s.url, "/recommendations", { body });
      assert.equal(ok.status, 200);
      // the same JSON as the embedded backend's, scores included
      assert.deepEqual(ok.body, {
        recommendations: await embedded.recommend({
          history: ["1205"],
          num: 3,
        }),
      });
      assert.equal(
        (await call(s.url, "/health", { method: "GET" })).body.index,
        alias,
      );
      proxy.faults.downAfterBulk = 0; // the next _bulk takes the cluster down
      await viaProxy.bulk({ operations: [{ index: { _index: "x" } }, {}] })
        .catch(() => {});
      const down = await call(s.url, "/recommendations", { body });
      assert.equal(down.status, 503);
      assert.match(down.body.error.message, /^backend unavailable: /);
      const health = await call(s.url, "/health", { method: "GET" });
      assert.equal(health.status, 503);
      assert.equal(health.body.status, "unavailable");
    } finally {
      await s.close();
      await viaProxy.close();
      await proxy.close();
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);

esTest(
  "event store in Elasticsearch: record, recent history, user requests, retention",
  async ({ client, index }) => {
    const store = new ElasticsearchEventStore(client, index("events"), {
      refresh: true,
    });
    await store.ensureIndex();
    await store.ensureIndex(); // idempotent
    for (
      const [t, item, event] of [[10, "1205", "transaction"], [
        20,
        "1201",
        "view",
      ], [30, "1205", "view"]] as const
    ) {
      await store.recordEvent({ user: "u9", item, event, timestamp: t });
    }
    assert.deepEqual(await store.recentHistory("u9", 20), {
      view: ["1205", "1201"],
      transaction: ["1205"],
    });
    const s = serve({
      recommender: withUserHistory(embedded, store),
      events: store,
    });
    try {
      const viaUser = await call(s.url, "/recommendations", {
        body: JSON.stringify({ user: "u9", num: 5 }),
      });
      assert.equal(viaUser.status, 200);
      assert.deepEqual(
        viaUser.body.recommendations,
        await embedded.recommend({
          history: { view: ["1205", "1201"], transaction: ["1205"] },
          num: 5,
        }),
      );
      const recorded = await call(s.url, "/events", {
        body: JSON.stringify({
          user: "u9",
          item: "1500",
          event: "transaction",
          timestamp: 40,
        }),
      });
      assert.equal(recorded.status, 202);
      assert.deepEqual((await store.recentHistory("u9", 20)).transaction, [
        "1500",
        "1205",
      ]);
    } finally {
      await s.close();
    }
    assert.equal(await store.prune(new Date(25)), 2);
    assert.deepEqual(await store.recentHistory("u9", 20), {
      transaction: ["1500"],
      view: ["1205"],
    });
  },
);
