/**
 * Batch lines answered straight from their bytes against the general path
 * (`JSON.parse`, the batch line check, `recommend`): on random models and
 * random lines, plain and not (escapes, other keys, bad values, odd
 * whitespace, duplicate keys, non-ASCII, broken JSON), every line the
 * reader answers gets exactly the general path's result, and it declines
 * every line the general path refuses or answers with an error.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "./recommender.ts";
import { manifestFor } from "../model/manifest.ts";
import type { IndexableDocument } from "../model/document.ts";
import { mulberry32 } from "../random/mod.ts";
import {
  answerRequest,
  type BatchResult,
  parseRawLine,
} from "../serving/_batch_answer.ts";
import { ConfigError } from "../errors/mod.ts";
import type { ServingOptions } from "../serving/request.ts";

function randomModel(random: () => number, size: number) {
  // ids of every kind the reader meets: short numbers, text, and ones it
  // cannot read from bytes (non-ASCII)
  const ids = Array.from(
    { length: size },
    (_, i) => i % 7 === 3 ? `é${i}` : i % 2 ? `${i}` : `item-${i}`,
  );
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
      metadata: { popularity: Math.floor(random() * 4) },
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

// JSON text of a value, with random (JSON) whitespace between tokens
function write(random: () => number, value: unknown): string {
  const ws = () =>
    random() < 0.8 ? "" : [" ", "\t", "\r", "  "][Math.floor(random() * 4)];
  if (Array.isArray(value)) {
    return `[${ws()}${
      value.map((v) => write(random, v)).join(`${ws()},${ws()}`)
    }${ws()}]`;
  }
  if (value instanceof Raw) return value.text;
  if (typeof value === "object" && value !== null) {
    const entries = value instanceof Entries
      ? value.entries
      : Object.entries(value);
    return `{${ws()}${
      entries.map(([k, v]) =>
        `${JSON.stringify(k)}${ws()}:${ws()}${write(random, v)}`
      ).join(`${ws()},${ws()}`)
    }${ws()}}`;
  }
  return JSON.stringify(value);
}

// JSON text written as is
class Raw {
  constructor(readonly text: string) {}
}
// an object's entries, duplicates allowed
class Entries {
  constructor(readonly entries: [string, unknown][]) {}
}

function randomLine(random: () => number, ids: string[], u: number): string {
  const odd = (p: number) => random() < p;
  const choose = <T>(xs: T[]): T => xs[Math.floor(random() * xs.length)];
  const id = (): unknown => {
    if (odd(0.03)) return choose(["", "x".repeat(1025), "x".repeat(1024)]);
    if (odd(0.03)) return new Raw(`"\\u0031"`); // "1", escaped
    if (odd(0.02)) return new Raw(`"a\tb"`); // a raw tab: not JSON
    if (odd(0.02)) return choose([1, null, ["1"]]);
    if (odd(0.08)) return `unknown${Math.floor(random() * 3)}`;
    return choose(ids);
  };
  const list = () => Array.from({ length: Math.floor(random() * 10) }, id);
  const entries: [string, unknown][] = [];
  if (!odd(0.03)) {
    entries.push([
      "user",
      odd(0.05)
        ? choose(["", 7, null, new Raw(`"u\\"q"`), "ü"])
        : `u${u}${odd(0.1) ? "\u007f" : ""}`,
    ]);
  }
  const form = random();
  if (form < 0.45) entries.push(["history", list()]);
  else if (form < 0.8) {
    const types: [string, unknown][] = [["view", list()], ["buy", list()]];
    if (odd(0.3)) types.reverse();
    if (odd(0.1)) types.pop();
    if (odd(0.05)) types.push(["nope", list()]);
    if (odd(0.05)) types.push(["buy", list()]); // a type twice
    if (odd(0.03)) types.push(["7", list()]); // an array index
    if (odd(0.03)) types.push(["view", null]);
    entries.push(["history", new Entries(types)]);
  } else if (form < 0.85) entries.push(["history", choose([null, "a", 3])]);
  if (odd(0.4)) {
    entries.push([
      "num",
      odd(0.2)
        ? choose<unknown>([
          0,
          1001,
          1000,
          -1,
          null,
          "5",
          new Raw("5.0"),
          new Raw("1e1"),
          new Raw("05"),
          new Raw("-0"),
          new Raw("1234567890"),
        ])
        : 1 + Math.floor(random() * 12),
    ]);
  }
  if (odd(0.25)) {
    entries.push([
      "from",
      odd(0.2)
        ? choose<unknown>([9995, 9990, -1, 0.5, new Raw("00")])
        : Math.floor(random() * 4),
    ]);
  }
  if (odd(0.25)) entries.push(["exclude", odd(0.1) ? "a" : list()]);
  for (const key of ["excludeSeen", "backfill"]) {
    if (odd(0.25)) {
      entries.push([
        key,
        odd(0.2)
          ? choose<unknown>([
            null,
            1,
            "true",
            new Raw("tru"),
            new Raw("falsey"),
          ])
          : odd(0.5),
      ]);
    }
  }
  if (odd(0.05)) entries.push(["explain", true]);
  if (odd(0.05)) entries.push([choose(["filters", "items", "rankBy"]), []]);
  if (odd(0.03)) entries.push(["num", 3]); // a key twice
  for (let i = entries.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [entries[i], entries[j]] = [entries[j], entries[i]];
  }
  let text = write(random, new Entries(entries));
  if (odd(0.02)) text += choose([" x", ",", "}", "  \r"]);
  if (odd(0.02)) text = " " + text;
  if (odd(0.01)) text = text.slice(0, Math.floor(random() * text.length));
  return text;
}

// the general path's result for a line, or undefined when it refuses the
// line (not JSON, no user)
async function general(
  recommender: EmbeddedRecommender,
  line: string,
): Promise<BatchResult | undefined> {
  let request;
  try {
    request = parseRawLine(line, "b.ndjson", 1);
  } catch (error) {
    if (error instanceof ConfigError) return undefined;
    throw error;
  }
  if (request === undefined) return undefined;
  return await answerRequest(recommender, request);
}

const SERVINGS: ServingOptions[] = [
  {},
  { maxQueryEvents: 3, num: 4 },
  { fieldBoosts: { indicators: 0.3, indicators_view: 1.1 } },
  { excludeSeen: false, backfill: false },
];

Deno.test("every line answered from its bytes is the general path's answer, to the bit; the rest are declined", async () => {
  const random = mulberry32(2024);
  const encoder = new TextEncoder();
  let answered = 0, lines = 0, plain = 0;
  for (let m = 0; m < 6; m++) {
    const { ids, model } = randomModel(random, 6 + m * 11);
    for (const options of SERVINGS) {
      const recommender = new EmbeddedRecommender(model, options);
      for (let q = 0; q < 150; q++) {
        const line = randomLine(random, ids, q);
        // the line among others: the reader reads only its bytes
        const bytes = encoder.encode(`{"x":1}\n${line}\n{}`);
        const fast = recommender.answerBatchLine(bytes, 8, 8 + line.length);
        const want = await general(recommender, line);
        lines++;
        if (want && want.error === undefined && /^[\x20-\x7e]*$/.test(line)) {
          plain++;
        }
        if (fast === undefined) continue;
        answered++;
        assert.ok(want, `the general path refuses ${line}`);
        assert.equal(want.error, undefined, line);
        assert.deepEqual(fast, want, line);
        assert.equal(JSON.stringify(fast), JSON.stringify(want), line);
      }
    }
  }
  assert.equal(lines, 6 * SERVINGS.length * 150);
  // most valid ASCII lines are read from their bytes (ids with escapes or
  // beyond ASCII, odd keys are not)
  assert.ok(answered > plain * 0.6, `${answered} of ${plain}`);
});

Deno.test("plain lines are read from their bytes; escapes, odd keys and values are left to the general path", () => {
  const documents = [
    { id: "a", indicators: ["b"] },
    { id: "b", indicators: ["a"] },
    { id: "ü", indicators: ["a"] },
  ];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  const answer = (line: string) => {
    const bytes = new TextEncoder().encode(line);
    return recommender.answerBatchLine(bytes, 0, bytes.length);
  };
  for (
    const line of [
      '{"user":"u","history":["a"]}',
      ' { "user" : "u" , "history" : { "buy" : [ "a" , "zz" ] } }\r',
      '{"history":[],"user":"u","num":1000,"from":0}',
      '{"user":"u","exclude":["b","nope"],"excludeSeen":false,"backfill":true}',
      '{"user":"u"}',
    ]
  ) assert.ok(answer(line), line);
  for (
    const line of [
      "",
      "{}",
      '{"history":["a"]}', // no user: the general path's error
      '{"user":"","history":["a"]}',
      '{"user":"u","history":["\\u0061"]}', // an escape
      '{"user":"u","history":["ü"]}', // beyond ASCII
      '\uFEFF{"user":"u"}', // a BOM
      '{"user":"u","history":["a"],"user":"v"}', // a key twice
      '{"user":"u","history":{"buy":["a"],"buy":["b"]}}',
      '{"user":"u","history":{"view":["a"]}}', // not an event type here
      '{"user":"u","history":{"1":["a"]}}',
      '{"user":"u","history":[""]}',
      '{"user":"u","num":0}',
      '{"user":"u","num":1001}',
      '{"user":"u","num":5.0}',
      '{"user":"u","num":05}',
      '{"user":"u","from":9991,"num":10}', // past the largest window
      '{"user":"u","num":null}',
      '{"user":"u","backfill":"true"}',
      '{"user":"u","explain":true}',
      '{"user":"u","history":["a"]} x',
      '{"user":"u","history":["a"],}',
      '{"user":"u","history":["a"]',
      '["u"]',
    ]
  ) assert.equal(answer(line), undefined, line);
});

Deno.test("an event type that is an array index is left to the general path (JSON.parse orders it first)", async () => {
  const documents = [
    { id: "a", indicators: ["b"], indicators_7: ["b"] },
    { id: "b", indicators: ["a"], indicators_7: ["a"] },
  ];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  const line = '{"user":"u","history":{"buy":["a"],"7":["b"]}}';
  const bytes = new TextEncoder().encode(line);
  assert.equal(recommender.answerBatchLine(bytes, 0, bytes.length), undefined);
  const want = await general(recommender, line);
  assert.deepEqual(want?.items, ["b"]);
});

// every serving setting the fast path must honour or leave alone: the
// manifest's defaults, engine rules in both forms, a ranking, an
// availability window (the general path's alone), a default item query
const RULED: ServingOptions[] = [
  {},
  { excludeSeen: false, backfill: false, num: 3 },
  {
    filters: [{ field: "category", values: ["a", "b"] }],
    boosts: [{ field: "category", values: ["b"], boost: 0.75 }],
  },
  { rankBy: ["trend", "popularity"], num: 25 },
  { fields: [{ name: "category", values: ["c"], bias: 0 }], num: 4 },
  { availableDateName: "available" },
  { itemQuery: "indicators" },
];

function ruledModel(random: () => number, size: number, weighted: boolean) {
  const ids = Array.from(
    { length: size },
    (_, i) => i % 9 === 4 ? `é${i}` : i % 2 ? `${i}` : `item-${i}`,
  );
  // listed ids that are no document: prefixes of ids, DEL, a space
  const listed = ["item-", "1", "it", "x\x7f", "a b"];
  const pick = () =>
    random() < 0.15
      ? listed[Math.floor(random() * listed.length)]
      : ids[Math.floor(random() * ids.length)];
  const documents = ids.map((id) => {
    const buy = Array.from({ length: Math.floor(random() * 8) }, pick);
    return {
      id,
      indicators: buy,
      indicators_view: Array.from({ length: Math.floor(random() * 6) }, pick),
      // an event type named as Object.prototype's accessor
      indicators___proto__: Array.from(
        { length: Math.floor(random() * 4) },
        pick,
      ),
      ...(weighted
        ? { weights: { indicators: buy.map(() => [0.5, 1, 3e-5][i3(random)]) } }
        : {}),
      metadata: {
        popularity: Math.floor(random() * 4),
        trend: Math.floor(random() * 3),
        category: ["a", "b", "c"][i3(random)],
        available: random() < 0.5 ? "2020-01-01" : "2999-01-01",
      },
    } as IndexableDocument;
  });
  const manifest = manifestFor(documents, { primaryEvent: "buy" });
  manifest.metadata.available = "date";
  manifest.fields = manifest.fields.map((field) => ({
    ...field,
    weights: weighted && field.name === "indicators" ? "given" : "none",
  }));
  // defaults recorded with the model
  if (!weighted) {
    manifest.serving = {
      maxQueryEvents: 2,
      fieldBoosts: { indicators: 2.5, indicators_view: 0.25 },
    };
  }
  return { ids: [...ids, ...listed], model: { manifest, documents } };
}
const i3 = (random: () => number) => Math.floor(random() * 3);

// anything else a caller may ask the same recommender between two lines:
// the general path's features, errors, a window of 10 000, large lists
function otherRequest(random: () => number, ids: string[]): unknown {
  const pick = () => ids[Math.floor(random() * ids.length)];
  const requests: unknown[] = [
    { history: [pick(), pick()], explain: true, num: 50 },
    { history: [pick()], dither: { seed: "s" }, num: 7, from: 3 },
    { items: [pick()], itemQuery: "indicators", num: 999 },
    { history: { buy: [pick()], nope: ["x"] } },
    { history: [pick()], num: 0 },
    { boosts: [{ field: "category", values: ["a"], boost: 3 }], num: 1000 },
    { history: [pick(), pick(), pick()], from: 9000, num: 1000 },
    { history: Array.from({ length: 1100 }, (_, i) => `z${i}`) },
    { history: [pick()], exclude: ids.slice(0, 300), backfill: true },
    { history: [pick()], rankBy: ["trend"], num: 200 },
  ];
  return requests[Math.floor(random() * requests.length)];
}

Deno.test("with the manifest's defaults, engine rules, rankings and other requests in between, a line answered from its bytes is what normalizeRequest's path answers on a fresh recommender", async () => {
  const random = mulberry32(77);
  const encoder = new TextEncoder();
  let answered = 0;
  for (let m = 0; m < 4; m++) {
    const { ids, model } = ruledModel(random, 10 + m * 13, m % 2 === 0);
    for (const options of RULED) {
      const recommender = new EmbeddedRecommender(model, options);
      const fresh = new EmbeddedRecommender(model, options);
      for (let q = 0; q < 60; q++) {
        if (random() < 0.4) {
          await recommender.recommend(otherRequest(random, ids) as never)
            .catch(() => {});
        }
        let line = randomLine(random, ids, q);
        // event types the reader must look up as any other
        if (random() < 0.2) {
          line = line.replace(
            '"view"',
            random() < 0.5 ? '"__proto__"' : '"constructor"',
          );
        }
        const bytes = encoder.encode(`${line}\n{"user":"v","history":["`);
        const fast = recommender.answerBatchLine(bytes, 0, line.length);
        if (fast === undefined) continue;
        answered++;
        // the general path, and normalizeRequest's (explain: false takes
        // it), of a recommender that answered nothing else
        const want = await general(recommender, line);
        const request = parseRawLine(line, "b.ndjson", 1)!;
        const normalized = await answerRequest(fresh, {
          ...request,
          explain: false,
        });
        assert.equal(JSON.stringify(fast), JSON.stringify(want), line);
        assert.equal(JSON.stringify(fast), JSON.stringify(normalized), line);
        if (options.availableDateName) assert.fail(`read: ${line}`);
      }
    }
  }
  assert.ok(answered > 300, `${answered}`);
});

Deno.test("ids whose hashes collide are told apart by their bytes", async () => {
  // equal 32-bit FNV-1a hashes: same length, and different lengths
  const [a, b] = ["x1c0quqh2", "xsfcyat89"];
  const [c, d] = ["x12snbdc2", "x1tva5t581"];
  const documents = [
    { id: a, indicators: ["p"] },
    { id: c, indicators: ["q", "r"] },
    { id: "p", indicators: [a] },
    { id: "q", indicators: [c] },
    { id: "r", indicators: [c, b] },
  ];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "buy" }),
    documents,
  });
  const encoder = new TextEncoder();
  for (const history of [[a], [b], [c], [d], [b, d], [d, a]]) {
    for (const backfill of [true, false]) {
      const line = JSON.stringify({
        user: "u",
        history,
        backfill,
        exclude: [b, d],
      });
      const bytes = encoder.encode(line);
      const fast = recommender.answerBatchLine(bytes, 0, bytes.length);
      assert.ok(fast, line);
      assert.deepEqual(fast, await general(recommender, line));
    }
  }
  const only = (id: string) => {
    const bytes = encoder.encode(
      `{"user":"u","history":["${id}"],"backfill":false}`,
    );
    return recommender.answerBatchLine(bytes, 0, bytes.length)?.items;
  };
  assert.deepEqual(only(a), ["p"]);
  assert.deepEqual(only(b), ["r"]);
  assert.deepEqual(only(c), ["q", "r"]);
  assert.deepEqual(only(d), []);
});
