// deno-lint-ignore-file no-import-prefix
/**
 * What someone running the service needs: Prometheus metrics, the OpenAPI
 * document (valid OpenAPI 3.1, every route in it, its request schema the
 * one that validates requests), request ids and JSON access logs, CORS.
 */
import assert from "node:assert/strict";
import { Validator } from "npm:@seriousme/openapi-schema-validator@2.11.0";
import { Ajv2020 } from "npm:ajv@8.20.0/dist/2020.js";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { createHandler, type HandlerOptions } from "../http/handler.ts";
import { openApiDocument, ROUTES } from "../http/openapi.ts";
import { normalizeRequest } from "../serving/request.ts";
import { RequestError } from "../errors/mod.ts";

const fixture =
  new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
const model = await buildIndicators(readEvents(fixture), {
  primaryEvent: "transaction",
});
const embedded = new EmbeddedRecommender(model);

function serve(options: Partial<HandlerOptions> = {}) {
  const lines: string[] = [];
  const server = Deno.serve(
    { hostname: "127.0.0.1", port: 0, onListen: () => {} },
    createHandler({
      recommender: embedded,
      backend: "embedded",
      log: (line) => lines.push(line),
      ...options,
    }),
  );
  const url = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}`;
  return { url, lines, close: () => server.shutdown() };
}

const post = (
  url: string,
  body: unknown,
  headers: Record<string, string> = {},
) =>
  fetch(url, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { "content-type": "application/json", ...headers },
  });

Deno.test("metrics: requests by route and status, latency histograms, backend outcomes", async () => {
  const s = serve();
  try {
    for (
      const body of [{ history: ["1205"] }, { history: ["1201"], num: 3 }, {
        num: 0,
      }]
    ) {
      await (await post(`${s.url}/recommendations`, body)).body?.cancel();
    }
    await (await post(`${s.url}/similar-items`, { item: "1500" })).body
      ?.cancel();
    await (await fetch(`${s.url}/nowhere/${Math.random()}`)).body?.cancel();
    await (await fetch(`${s.url}/health`)).body?.cancel();
    const res = await fetch(`${s.url}/metrics`);
    assert.equal(res.status, 200);
    assert.equal(res.headers.get("content-type"), "text/plain; version=0.0.4");
    const text = await res.text();
    // the exposition format: comments, or `name{labels} value`
    for (const line of text.trimEnd().split("\n")) {
      assert.match(
        line,
        /^(# (HELP|TYPE) \w+ .+|[a-z_]+(\{([a-z_]+="[^"]*",?)+\})? -?[\d.e+]+|[a-z_]+ \d+)$/,
        line,
      );
    }
    const value = (series: string) => {
      const line = text.split("\n").find((l) => l.startsWith(`${series} `));
      return line === undefined ? undefined : Number(line.split(" ")[1]);
    };
    const requests = (route: string, method: string, status: number) =>
      value(
        `cco_http_requests_total{route="${route}",method="${method}",status="${status}"}`,
      );
    assert.equal(requests("/recommendations", "POST", 200), 2);
    assert.equal(requests("/recommendations", "POST", 400), 1);
    assert.equal(requests("/similar-items", "POST", 200), 1);
    assert.equal(requests("/health", "GET", 200), 1);
    // an unknown path is "other": a scan cannot grow the label set
    assert.equal(requests("other", "GET", 404), 1);
    // the request being answered is the one in flight
    assert.equal(value("cco_http_requests_in_flight"), 1);
    // histogram: cumulative buckets, +Inf = count
    const buckets = text.split("\n").filter((l) =>
      l.startsWith(
        'cco_http_request_duration_seconds_bucket{route="/recommendations"',
      )
    ).map((l) => Number(l.split(" ")[1]));
    assert.equal(buckets.length, 14);
    for (let i = 1; i < buckets.length; i++) {
      assert.ok(buckets[i] >= buckets[i - 1]);
    }
    assert.equal(buckets.at(-1), 3);
    assert.equal(
      value(
        'cco_http_request_duration_seconds_count{route="/recommendations"}',
      ),
      3,
    );
    assert.ok(
      value(
        'cco_http_request_duration_seconds_sum{route="/recommendations"}',
      )! > 0,
    );
    // the backend: 3 answers, 1 refusal of an invalid request
    assert.equal(
      value('cco_backend_requests_total{backend="embedded",outcome="ok"}'),
      3,
    );
    assert.equal(
      value(
        'cco_backend_requests_total{backend="embedded",outcome="RequestError"}',
      ),
      1,
    );
    assert.equal(
      value('cco_backend_duration_seconds_count{backend="embedded"}'),
      4,
    );
  } finally {
    await s.close();
  }
  // backend failures by class
  const failing = serve({
    recommender: {
      manifest: () => embedded.manifest(),
      recommend: () => Promise.reject(new TypeError("boom")),
    },
    backend: 'elasticsearch http://127.0.0.1:9/ alias "x"',
  });
  try {
    await (await post(`${failing.url}/recommendations`, { history: ["a"] }))
      .body?.cancel();
    const text = await (await fetch(`${failing.url}/metrics`)).text();
    assert.match(
      text,
      /^cco_backend_requests_total\{backend="elasticsearch",outcome="TypeError"\} 1$/m,
    );
    assert.match(
      text,
      /^cco_http_requests_total\{route="\/recommendations",method="POST",status="500"\} 1$/m,
    );
  } finally {
    await failing.close();
  }
});

Deno.test("the OpenAPI document is valid OpenAPI 3.1 and has every route", async () => {
  const s = serve();
  try {
    const res = await fetch(`${s.url}/openapi.json`);
    assert.equal(res.status, 200);
    const doc = await res.json();
    assert.deepEqual(doc, JSON.parse(JSON.stringify(openApiDocument())));
    const validator = new Validator();
    const result = await validator.validate(doc);
    assert.deepEqual(result, { valid: true });
    assert.equal(validator.version, "3.1");
    // every route the handler answers, with its method
    assert.deepEqual(Object.keys(doc.paths).sort(), Object.keys(ROUTES).sort());
    for (const [path, route] of Object.entries(ROUTES)) {
      assert.deepEqual(Object.keys(doc.paths[path]), [
        route.method.toLowerCase(),
      ], path);
      // and the handler has it: not a 404 (nor a 405 for its method)
      const answer = await fetch(`${s.url}${path}`, {
        method: route.method,
        ...(route.method === "POST" ? { body: "{}" } : {}),
      });
      await answer.body?.cancel();
      assert.ok(
        ![404, 405].includes(answer.status),
        `${path}: ${answer.status}`,
      );
    }
    // a path the document lacks is not served
    assert.equal((await fetch(`${s.url}/docs`)).status, 404);
  } finally {
    await s.close();
  }
});

Deno.test("the document's request schema is the one that validates requests", async () => {
  // an independent JSON Schema 2020-12 validator (Ajv) over the published
  // document must accept and refuse the same request shapes as the service
  const doc = JSON.parse(JSON.stringify(openApiDocument()));
  const ajv = new Ajv2020({ strict: false, allErrors: true });
  const validate = ajv.compile({
    $ref: "#/components/schemas/RecommendRequest",
    components: doc.components,
  });
  const manifest = await embedded.manifest();
  const cases: unknown[] = [
    {},
    { history: ["1205"] },
    { history: { transaction: ["1205"], view: ["1201"] }, num: 5, from: 2 },
    { item: "1500", itemQuery: "indicators" },
    {
      items: ["1500", "1205"],
      fields: [{ name: "category", values: ["x"], bias: 0 }],
    },
    { filters: [{ field: "category", values: ["a", "b"], not: true }] },
    {
      boosts: [{ field: "category", values: ["a"], boost: 2 }],
      rankBy: ["popularity"],
    },
    {
      dateRange: { after: "2015-06-01", field: "updated" },
      currentDate: 1433116800000,
    },
    {
      dither: { seed: "u", epsilon: 1.5, periodMs: 1000, window: 2 },
      explain: true,
    },
    // refused for their shape
    { num: 0 },
    { num: 1001 },
    { num: 2.5 },
    { from: -1 },
    { history: "1205" },
    { history: [""] },
    { history: { view: [3] } },
    { colour: "red" },
    { itemQuery: "similar" },
    { filters: [{ value: 1 }] },
    { filters: [{ field: "9bad", value: 1 }] },
    { filters: [{ field: "a", values: [] }] },
    { boosts: [{ field: "a", values: ["x"], boost: 0 }] },
    { fields: [{ name: "a", values: ["x"] }] },
    { fieldBoosts: { indicators: -1 } },
    { dateRange: { since: "2015" } },
    { dither: { epsilon: 2 } },
    { dither: { seed: "u", window: 11 } },
    { rankBy: [] },
    { excludeSeen: "yes" },
    [],
    "request",
  ];
  let refused = 0;
  for (const request of cases) {
    const schemaSays = validate(request) as boolean;
    let serviceSays = true;
    try {
      normalizeRequest(request, manifest);
    } catch (error) {
      assert.ok(error instanceof RequestError, String(error));
      serviceSays = false;
    }
    assert.equal(serviceSays, schemaSays, JSON.stringify(request));
    if (!schemaSays) refused++;
  }
  assert.equal(refused, 22);
});

Deno.test("request ids: the caller's is kept, else a new one; CORS for allowed origins", async () => {
  const s = serve({ cors: ["https://shop.example"] });
  try {
    const given = await post(
      `${s.url}/recommendations`,
      { history: ["1205"] },
      {
        "x-request-id": "checkout-42",
      },
    );
    await given.body?.cancel();
    assert.equal(given.headers.get("x-request-id"), "checkout-42");
    const fresh = await post(`${s.url}/recommendations`, { num: 0 });
    await fresh.body?.cancel();
    assert.match(fresh.headers.get("x-request-id")!, /^[0-9a-f-]{36}$/);
    const logged = s.lines.map((l) => JSON.parse(l));
    assert.deepEqual(logged.map((l) => l.requestId), [
      "checkout-42",
      fresh.headers.get("x-request-id"),
    ]);
    assert.equal(logged[1].level, "warn");
    assert.equal(logged[1].error, "request.num must be >= 1, got 0");
    // CORS: a preflight, then the answer, for an allowed origin only
    const pre = await fetch(`${s.url}/recommendations`, {
      method: "OPTIONS",
      headers: {
        origin: "https://shop.example",
        "access-control-request-method": "POST",
      },
    });
    assert.equal(pre.status, 204);
    assert.equal(
      pre.headers.get("access-control-allow-origin"),
      "https://shop.example",
    );
    assert.equal(
      pre.headers.get("access-control-allow-methods"),
      "GET, POST, OPTIONS",
    );
    const allowed = await post(`${s.url}/recommendations`, {
      history: ["1205"],
    }, {
      origin: "https://shop.example",
    });
    await allowed.body?.cancel();
    assert.equal(
      allowed.headers.get("access-control-allow-origin"),
      "https://shop.example",
    );
    assert.equal(
      allowed.headers.get("access-control-expose-headers"),
      "x-request-id",
    );
    const other = await post(
      `${s.url}/recommendations`,
      { history: ["1205"] },
      {
        origin: "https://evil.example",
      },
    );
    await other.body?.cancel();
    assert.equal(other.headers.get("access-control-allow-origin"), null);
    const refused = await fetch(`${s.url}/recommendations`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example" },
    });
    await refused.body?.cancel();
    assert.equal(refused.status, 403);
  } finally {
    await s.close();
  }
  // without the setting, no CORS at all
  const plain = serve();
  try {
    const pre = await fetch(`${plain.url}/recommendations`, {
      method: "OPTIONS",
      headers: { origin: "https://shop.example" },
    });
    await pre.body?.cancel();
    assert.equal(pre.status, 405);
    assert.equal(pre.headers.get("access-control-allow-origin"), null);
  } finally {
    await plain.close();
  }
});
