/**
 * Chaos: a seeded fuzzer sends a few thousand mutated and random requests
 * to the HTTP service over both backends (the same model, embedded and in
 * Elasticsearch, each behind `http/server.ts`). Every request must get
 * the same status from both, never a 500 (a request can be wrong, the
 * service cannot), and where both answer 200 the same body; the servers
 * must survive a few hundred mutated raw requests too.
 */
import assert from "node:assert/strict";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEvents } from "../events/read.ts";
import { createHandler } from "../http/handler.ts";
import { serve } from "../http/server.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, readItems } from "../model/items.ts";
import { mulberry32 } from "../random/mod.ts";
import { MemoryEventStore, withUserHistory } from "../serving/event_store.ts";
import type { Recommender } from "../serving/request.ts";
import { esTest } from "./_es.ts";
import { report } from "./_chaos_report.ts";

const root = new URL("..", import.meta.url).pathname;
const SEED = Number(Deno.env.get("FUZZ_SEED") ?? 14);
const REQUESTS = 3000;
const RAW = 400;
const TOKEN = "fuzz-t0ken";

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The fuzzer's random source and choices. */
class Dice {
  next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  some<T>(xs: readonly T[], max: number): T[] {
    return Array.from({ length: 1 + this.int(max) }, () => this.pick(xs));
  }
}

const WEIRD_STRINGS = [
  "",
  " ",
  "constructor",
  "__proto__",
  "toString",
  "hasOwnProperty",
  "x".repeat(1024),
  "x".repeat(1025),
  "y".repeat(40_000),
  "\u0000",
  "\uFFFF",
  "\uD800",
  "😀",
  "'\"\\",
  "<script>",
  "%00",
  "1e3",
  "NaN",
  "-0",
  "2015-06-01",
  "2015-06-01T00:00:00Z",
  "not a date",
  "true",
  "null",
  "*",
  "a*",
  "?",
  "\n",
];
const WEIRD_NUMBERS = [
  0,
  -1,
  1,
  1.5,
  -0.5,
  1e21,
  -1e21,
  2 ** 53,
  1e308,
  3,
  10,
  1000,
  1001,
  9999,
  10_001,
  5e-324,
];
const FIELDS = [
  "popularity",
  "name",
  "category",
  "available",
  "updated",
  "indicators",
  "indicators_view",
  "similar_view",
  "id",
  "nope",
  "_id",
  "_source",
  "a.b",
  "Category",
];

/** Random JSON of any shape, depth-limited. */
function anyJson(d: Dice, depth = 0): Json {
  const k = d.int(depth > 2 ? 5 : 7);
  switch (k) {
    case 0:
      return null;
    case 1:
      return d.chance(0.5);
    case 2:
      return d.pick(WEIRD_NUMBERS) * (d.chance(0.2) ? -1 : 1);
    case 3:
      return d.pick(WEIRD_STRINGS);
    case 4:
      return String(d.int(3000));
    case 5:
      return Array.from({ length: d.int(4) }, () => anyJson(d, depth + 1));
    default:
      return Object.fromEntries(
        Array.from(
          { length: d.int(4) },
          () => [
            d.pick([
              ...FIELDS,
              "value",
              "values",
              "gte",
              "lt",
              "seed",
              "boost",
            ]),
            anyJson(d, depth + 1),
          ],
        ),
      );
  }
}

/** A plausible value for a metadata field (often of another type). */
function valueFor(d: Dice, field: string, items: string[]): Json {
  if (d.chance(0.15)) return anyJson(d, 2);
  switch (field) {
    case "popularity":
      return d.chance(0.8) ? d.int(30) : String(d.int(30));
    case "available":
      return d.chance(0.8) ? d.chance(0.5) : d.pick(["true", 1, 0]);
    case "updated":
      return d.pick([
        "2015-06-01",
        "2015-08-23T10:00:00Z",
        1433122154000,
        "2015-13-45",
        "yesterday",
      ]);
    case "category":
      return d.pick(["camping", "kitchen", "books", "garden", "c", ""]);
    case "name":
      return `camping product ${d.int(40)}`;
    default:
      return d.pick(items);
  }
}

function filter(d: Dice, items: string[]): Json {
  const field = d.pick(FIELDS);
  const kind = d.int(4);
  if (kind === 0) return { field, value: valueFor(d, field, items) };
  if (kind === 1) {
    return {
      field,
      values: Array.from({ length: d.int(4) }, () => valueFor(d, field, items)),
    };
  }
  const out: { [k: string]: Json } = { field };
  for (const op of d.some(["gte", "gt", "lte", "lt"], 2)) {
    out[op] = valueFor(d, field, items);
  }
  return out;
}

/** A plausible recommendation request. */
function request(
  d: Dice,
  items: string[],
  users: string[],
): { [k: string]: Json } {
  const r: { [k: string]: Json } = {};
  const types = ["transaction", "addtocart", "view"];
  const shape = d.int(5);
  if (shape === 0) r.history = d.some(items, 6);
  else if (shape === 1) {
    r.history = Object.fromEntries(
      d.some(types, 3).map((t) => [t, d.some(items, 5)]),
    );
  } else if (shape === 2) r.user = d.pick(users);
  else if (shape === 3) r.item = d.pick(items);
  else r.items = d.some(items, 4);
  if (d.chance(0.4)) r.num = d.pick([1, 3, 5, 10, 20, 50]);
  if (d.chance(0.1)) r.from = d.pick([0, 1, 5, 20]);
  if (d.chance(0.35)) {
    r.filters = Array.from({ length: 1 + d.int(2) }, () => filter(d, items));
  }
  if (d.chance(0.2)) {
    r.boosts = [{
      field: d.pick(FIELDS),
      values: [valueFor(d, "category", items)],
      boost: d.pick([0.5, 1, 2]),
    }];
  }
  if (d.chance(0.15)) r.exclude = d.some(items, 3);
  if (d.chance(0.15)) {
    r.fieldBoosts = {
      [d.pick(["indicators", "indicators_view", "similar_view", "nope"])]: d
        .pick([0.5, 2, 0, -1]),
    };
  }
  if (d.chance(0.2)) r.backfill = d.chance(0.5);
  if (d.chance(0.15)) r.excludeSeen = d.chance(0.5);
  if (d.chance(0.15)) r.explain = true;
  if (d.chance(0.1)) {
    r.dateRange = {
      after: d.pick(["2015-06-01", "x"]),
      ...(d.chance(0.5) ? { before: "2015-09-01" } : {}),
    };
  }
  if (d.chance(0.05)) {
    r.dither = { seed: d.pick(users), epsilon: d.pick([1.5, 2, 1]) };
  }
  return r;
}

/** Mutates a JSON object in place: replace, delete, add, retype. */
function mutate(d: Dice, value: Json): Json {
  if (typeof value !== "object" || value === null || d.chance(0.05)) {
    return anyJson(d);
  }
  const keys = Object.keys(value);
  const n = 1 + d.int(3);
  for (let i = 0; i < n; i++) {
    const op = d.int(5);
    if (Array.isArray(value)) {
      if (value.length === 0 || op === 0) value.push(anyJson(d, 2));
      else {value[d.int(value.length)] = d.chance(0.5)
          ? anyJson(d, 2)
          : mutate(d, value[d.int(value.length)]);}
      continue;
    }
    const obj = value as { [k: string]: Json };
    // own keys, "__proto__" included (as JSON.parse makes them)
    const set = (k: string, v: Json) =>
      Object.defineProperty(obj, k, {
        value: v,
        enumerable: true,
        writable: true,
        configurable: true,
      });
    if (op === 0 && keys.length) delete obj[d.pick(keys)];
    else if (op === 1) {
      set(
        d.pick([...FIELDS, "colour", "__proto__", "constructor"]),
        anyJson(d, 1),
      );
    } else if (op === 2 && keys.length) set(d.pick(keys), anyJson(d, 1));
    else if (keys.length) {
      const k = d.pick(keys);
      set(k, mutate(d, obj[k]));
    }
  }
  return value;
}

/** Mutates the bytes of a body: truncation, flips, insertions. */
function mutateText(d: Dice, text: string): string {
  const op = d.int(6);
  if (op === 0) return text.slice(0, d.int(text.length + 1));
  if (op === 1) {
    const chars = [...text];
    for (let i = 0; i < 1 + d.int(3); i++) {
      const at = d.int(chars.length || 1);
      chars[at] = String.fromCharCode(
        (chars[at]?.charCodeAt(0) ?? 32) ^ (1 << d.int(7)),
      );
    }
    return chars.join("");
  }
  if (op === 2) return "[".repeat(20_000) + "]".repeat(20_000);
  if (op === 3) return text.replace(/^\{/, '{"history":["1"],"history":["2"],');
  if (op === 4) return text + d.pick(["", "x", "}", "\u0000", " ".repeat(100)]);
  return d.pick(["", "null", "[]", "1", '"x"', "{}", "{,}", "\uFEFF{}"]);
}

interface Call {
  method: string;
  path: string;
  headers: Record<string, string>;
  body?: string;
}

function call(d: Dice, items: string[], users: string[]): Call {
  const headers: Record<string, string> = {
    "content-type": "application/json",
    authorization: `Bearer ${TOKEN}`,
  };
  const route = d.pick([
    "/recommendations",
    "/recommendations",
    "/recommendations",
    "/similar-items",
    "/events",
    "/events",
    "/health",
  ]);
  let body: Json | undefined;
  if (route === "/events") {
    body = {
      user: d.pick(users),
      item: d.pick(items),
      event: d.pick(["transaction", "view", "addtocart"]),
      timestamp: 1_600_000_000_000 + d.int(1_000_000),
    };
  } else if (route !== "/health") body = request(d, items, users);
  let text = body === undefined ? undefined : JSON.stringify(body);
  const mode = d.int(10);
  if (mode <= 3 && body !== undefined) text = JSON.stringify(mutate(d, body));
  else if (mode === 4 && text !== undefined) text = mutateText(d, text);
  let method = route === "/health" ? "GET" : "POST";
  let path = route;
  if (d.chance(0.04)) {
    method = d.pick(["GET", "PUT", "DELETE", "PATCH", "OPTIONS", "HEAD"]);
  }
  if (d.chance(0.04)) {
    path = d.pick([
      "/",
      "/recommendations/",
      "/RECOMMENDATIONS",
      "//recommendations",
      "/recommendations?x=1",
      "/%2e%2e/recommendations",
      "/events/x",
      "/health?deep=1",
    ]);
  }
  if (d.chance(0.04)) {
    headers["content-type"] = d.pick([
      "text/plain",
      "application/x-www-form-urlencoded",
      "application/json; charset=latin1",
      "",
    ]);
  }
  if (d.chance(0.04)) {
    headers.authorization = d.pick([
      "",
      "Bearer",
      `Bearer ${TOKEN}x`,
      `bearer ${TOKEN}`,
      `Basic ${TOKEN}`,
      `Bearer  ${TOKEN}`,
    ]);
  }
  if (method === "GET" || method === "HEAD") text = undefined;
  return { method, path, headers, body: text };
}

async function send(
  base: string,
  c: Call,
): Promise<{ status: number; body: string }> {
  const res = await fetch(base + c.path, {
    method: c.method,
    headers: c.headers,
    body: c.body,
  });
  return { status: res.status, body: await res.text() };
}

/** Raw request heads and bodies, mutated byte by byte. */
function rawRequest(d: Dice): Uint8Array {
  const body = JSON.stringify({ history: ["1205"], num: 3 });
  let text =
    `POST /recommendations HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer ${TOKEN}\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
  const bytes = new TextEncoder().encode(text);
  const op = d.int(5);
  if (op === 0) { // flip bits anywhere
    for (let i = 0; i < 1 + d.int(4); i++) {
      bytes[d.int(bytes.length)] ^= 1 << d.int(8);
    }
    return bytes;
  }
  if (op === 1) return bytes.subarray(0, d.int(bytes.length)); // truncated
  if (op === 2) { // insert junk
    const at = d.int(bytes.length);
    const junk = new Uint8Array(1 + d.int(40)).map(() => d.int(256));
    const out = new Uint8Array(bytes.length + junk.length);
    out.set(bytes.subarray(0, at));
    out.set(junk, at);
    out.set(bytes.subarray(at), at + junk.length);
    return out;
  }
  if (op === 3) { // a header duplicated or changed
    text = text.replace(
      /Content-Length: \d+/,
      d.pick([
        "Content-Length: 5",
        "Content-Length: 99999999",
        `Content-Length: ${body.length}\r\nContent-Length: 3`,
        `Content-Length: ${body.length}\r\nTransfer-Encoding: chunked`,
        "Transfer-Encoding: chunked",
        "Content-Length: -1",
      ]),
    );
    return new TextEncoder().encode(text);
  }
  return new Uint8Array(d.int(300)).map(() => d.int(256)); // noise
}

async function rawExchange(port: number, bytes: Uint8Array): Promise<string> {
  const conn = await Deno.connect({ hostname: "127.0.0.1", port });
  const timer = setTimeout(() => conn.close(), 1500);
  let out = "";
  try {
    await conn.write(bytes);
    await conn.closeWrite();
    const buf = new Uint8Array(8192);
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) break;
      out += new TextDecoder().decode(buf.subarray(0, n));
    }
  } catch {
    // reset or closed
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return out;
}

esTest(
  `chaos: ${REQUESTS} fuzzed requests (seed ${SEED}) get the same status and body from both backends, never a 500`,
  async ({ client, index }) => {
    const model = await buildIndicators(
      readEvents(`${root}fixtures/demo_events.csv`),
      {
        primaryEvent: "transaction",
      },
    );
    mergeItems(
      model,
      await readItems(`${root}fixtures/demo_items.csv`, {}),
      {},
    );
    const alias = index("fuzz");
    await publishIndex(client, alias, model);
    const items = model.documents.map((doc) => doc.id).concat([
      "nope",
      "x".repeat(2000),
    ]);
    const users = ["u1", "u2", "u3", "constructor", "__proto__", "toString"];
    const errors: string[] = [];
    const backends: [string, Recommender][] = [
      ["embedded", new EmbeddedRecommender(model)],
      ["elasticsearch", new ElasticsearchRecommender(client, alias)],
    ];
    const servers = backends.map(([name, recommender]) => {
      const store = new MemoryEventStore();
      return serve(
        createHandler({
          recommender: withUserHistory(recommender, store),
          events: store,
          backend: name,
          token: TOKEN,
          log: (line) => {
            if (/"status":500\b/.test(line)) errors.push(`${name}: ${line}`);
          },
        }),
        { port: 0, onError: (m) => errors.push(`${name} server: ${m}`) },
      );
    });
    const bases = servers.map((s) => `http://127.0.0.1:${s.addr.port}`);
    const d = new Dice(SEED);
    const statuses = new Map<number, number>();
    const mismatches: string[] = [];
    try {
      for (let i = 0; i < REQUESTS; i++) {
        const c = call(d, items, users);
        const [a, b] = await Promise.all(bases.map((base) => send(base, c)));
        statuses.set(a.status, (statuses.get(a.status) ?? 0) + 1);
        const what = `#${i} ${c.method} ${c.path} ${c.body?.slice(0, 300)}`;
        if (a.status >= 500 && a.status !== 503 && a.status !== 504) {
          mismatches.push(
            `${what}: embedded ${a.status} ${a.body.slice(0, 200)}`,
          );
        }
        if (b.status >= 500 && b.status !== 503 && b.status !== 504) {
          mismatches.push(
            `${what}: elasticsearch ${b.status} ${b.body.slice(0, 200)}`,
          );
        }
        if (a.status !== b.status) {
          mismatches.push(
            `${what}: embedded ${a.status} ${
              a.body.slice(0, 200)
            } / elasticsearch ${b.status} ${b.body.slice(0, 200)}`,
          );
        } else if (
          a.body !== b.body && !c.body?.includes('"dither"') &&
          c.path !== "/health" && !c.path.startsWith("/health")
        ) {
          mismatches.push(
            `${what}: same status ${a.status}, bodies differ: ${
              a.body.slice(0, 200)
            } / ${b.body.slice(0, 200)}`,
          );
        }
      }
      // raw bytes: the servers survive and answer each with 4xx/5xx or close
      const port = servers.map((s) => s.addr.port);
      for (let i = 0; i < RAW; i++) {
        const bytes = rawRequest(d);
        const answers = await Promise.all(
          port.map((p) => rawExchange(p, bytes)),
        );
        for (const text of answers) {
          const m = /^HTTP\/1\.1 (\d{3})/.exec(text);
          if (m && m[1] === "500") {
            mismatches.push(`raw #${i}: 500 ${text.slice(0, 200)}`);
          }
        }
        const codes = answers.map((t) =>
          /^HTTP\/1\.1 (\d{3})/.exec(t)?.[1] ?? "closed"
        );
        if (codes[0] !== codes[1]) {
          mismatches.push(
            `raw #${i}: ${codes.join(" / ")}: ${
              new TextDecoder().decode(bytes).slice(0, 200)
            }`,
          );
        }
      }
      // both still serve
      for (const base of bases) {
        const ok = await send(base, {
          method: "GET",
          path: "/health",
          headers: {},
        });
        assert.equal(ok.status, 200);
      }
    } finally {
      for (const s of servers) await s.shutdown();
      await client.indices.delete({ index: `${alias}_*` });
    }
    report(
      "requests fuzzed",
      REQUESTS + RAW,
      `${REQUESTS} JSON requests to both backends (statuses ${
        JSON.stringify(Object.fromEntries([...statuses].sort()))
      }), ${RAW} raw byte-mutated requests; seed ${SEED}`,
    );
    for (const m of mismatches) console.log(`[mismatch] ${m.slice(0, 800)}`);
    assert.deepEqual(
      mismatches.slice(0, 20),
      [],
      `${mismatches.length} mismatches`,
    );
    assert.deepEqual(
      errors.filter((e) => !/handler failed/.test(e)).slice(0, 10),
      [],
    );
  },
);
