/**
 * The compiled request check against the schema interpreter it stands in
 * for: on random requests, valid and broken in every way the schema can
 * see, it says yes exactly when `schemaIssues` finds nothing, and
 * `normalizeRequest` refuses with the interpreter's first issue.
 */
import assert from "node:assert/strict";
import { compileSchemaCheck } from "./_schema_check.ts";
import { normalizeRequest, REQUEST_SCHEMA, resolveServing } from "./request.ts";
import { type JsonSchema, schemaIssues } from "../config/schema.ts";
import { manifestFor } from "../model/manifest.ts";
import { RequestError } from "../errors/mod.ts";
import { mulberry32 } from "../random/mod.ts";

type Obj = Record<string, unknown>;
const isObject = (v: unknown): v is Obj =>
  typeof v === "object" && v !== null && !Array.isArray(v);

function deref(s: JsonSchema): JsonSchema {
  while (isObject(s) && typeof s.$ref === "string") {
    let t: unknown = REQUEST_SCHEMA;
    for (const part of (s.$ref as string).slice(2).split("/")) {
      t = (t as Obj)[part];
    }
    s = t as JsonSchema;
  }
  return s;
}

// values that break some keyword: wrong types, edges of every bound
const JUNK: unknown[] = [
  null,
  true,
  false,
  0,
  -0,
  1,
  -1,
  1.5,
  1000,
  1001,
  10,
  11,
  NaN,
  Infinity,
  -Infinity,
  "",
  "a",
  "1a",
  "a b",
  "x".repeat(1024),
  "x".repeat(1025),
  "indicators",
  "cooccurrence",
  [],
  [""],
  ["a"],
  [1],
  {},
  { field: "a" },
  undefined,
];

/** A random value for `schema`: valid most of the time, broken at times. */
function generate(
  raw: JsonSchema,
  random: () => number,
  depth: number,
  breakRate: number,
): unknown {
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)];
  if (random() < breakRate) return pick(JUNK);
  const s = deref(raw);
  if (s === true || s === false || depth > 6) return pick(JUNK);
  if (Array.isArray(s.oneOf)) {
    return generate(
      pick(s.oneOf as JsonSchema[]),
      random,
      depth + 1,
      breakRate,
    );
  }
  if (Array.isArray(s.enum)) return pick(s.enum);
  const types = s.type === undefined ? ["string"] : [s.type].flat() as string[];
  const type = pick(types);
  switch (type) {
    case "string": {
      if (typeof s.pattern === "string") {
        return pick(["popularity", "category", "a-b_9", "Z", "updated"]);
      }
      const min = (s.minLength as number | undefined) ?? 0;
      const max = (s.maxLength as number | undefined) ?? 20;
      const length = random() < 0.05
        ? pick([min, max])
        : min + Math.floor(random() * Math.min(6, max - min + 1));
      return pick(["i", "u", "é", "2015-06-01T00:00:00Z"]).repeat(length)
        .slice(0, length);
    }
    case "number":
    case "integer": {
      const lo = (s.minimum as number | undefined) ??
        ((s.exclusiveMinimum as number | undefined) ?? -5) +
          (type === "integer" ? 1 : 0.5);
      const hi = (s.maximum as number | undefined) ?? lo + 20;
      if (random() < 0.1) return pick([lo, hi]);
      const x = lo + random() * (hi - lo);
      return type === "integer" ? Math.floor(x) : x;
    }
    case "boolean":
      return random() < 0.5;
    case "array": {
      const n = Math.max(
        (s.minItems as number | undefined) ?? 0,
        Math.floor(random() * 4),
      );
      return Array.from(
        { length: n },
        () => generate(s.items as JsonSchema, random, depth + 1, breakRate),
      );
    }
    case "object": {
      const out: Obj = {};
      const props = (s.properties ?? {}) as Record<string, JsonSchema>;
      for (const [name, p] of Object.entries(props)) {
        const required = ((s.required ?? []) as string[]).includes(name);
        if (required || random() < 0.25) {
          out[name] = generate(p, random, depth + 1, breakRate);
        }
      }
      if (isObject(s.additionalProperties) || random() < breakRate) {
        const extra = s.additionalProperties;
        for (let i = Math.floor(random() * 3); i > 0; i--) {
          out[pick(["buy", "view", "x y", "__proto__", "num"])] =
            isObject(extra)
              ? generate(extra, random, depth + 1, breakRate)
              : pick(JUNK);
        }
      }
      if (random() < breakRate && Object.keys(out).length > 0) {
        delete out[pick(Object.keys(out))];
      }
      return out;
    }
    default:
      return null;
  }
}

const check = compileSchemaCheck(REQUEST_SCHEMA);

Deno.test("the compiled request check says yes exactly when the schema finds no issue", () => {
  const random = mulberry32(15);
  let valid = 0, invalid = 0;
  for (let i = 0; i < 10_000; i++) {
    const rate = [0, 0.01, 0.05, 0.2][i % 4];
    const value = i % 97 === 0
      ? JUNK[i % JUNK.length]
      : generate(REQUEST_SCHEMA, random, 0, rate);
    const expected = schemaIssues(REQUEST_SCHEMA, value, "request").length ===
      0;
    assert.equal(check(value), expected, JSON.stringify(value));
    if (expected) valid++;
    else invalid++;
  }
  // both sides well covered
  assert.ok(
    valid > 1500 && invalid > 1500,
    `${valid} valid, ${invalid} invalid`,
  );
});

Deno.test("the compiled check keeps the interpreter's readings at the edges", () => {
  const cases: unknown[] = [
    { history: ["a", , "b"] }, // a hole is skipped, as forEach skips it
    { history: [undefined] },
    { num: undefined },
    { history: { buy: undefined } },
    { history: {} },
    { history: [] },
    { num: 1e21 },
    { num: 2 ** 53 },
    { from: -0 },
    { dither: { seed: "s", window: 10.0 } },
    { dither: { seed: "s", epsilon: 1 } },
    { fieldBoosts: { a: 0 } },
    { fieldBoosts: { a: Number.MIN_VALUE } },
    { filters: [{ field: "a", value: "x".repeat(1024) }] },
    { filters: [{ field: "a", value: "x".repeat(1025) }] },
    { filters: [{ field: "a", value: 1, values: [] }] },
    { filters: [{ field: "1a" }] },
    { rankBy: [] },
    { currentDate: true },
    Object.create({ num: 0 }),
    new Date(0),
    [],
    "request",
  ];
  for (const value of cases) {
    assert.equal(
      check(value),
      schemaIssues(REQUEST_SCHEMA, value, "request").length === 0,
      String(JSON.stringify(value)),
    );
  }
});

Deno.test("normalizeRequest refuses with the schema's first issue, path and reason", () => {
  const random = mulberry32(16);
  const manifest = manifestFor([{ id: "x", indicators: [] }], {
    primaryEvent: "buy",
  });
  const serving = resolveServing(manifest);
  let refused = 0;
  for (let i = 0; i < 5000; i++) {
    const value = generate(REQUEST_SCHEMA, random, 0, 0.05);
    const [issue] = schemaIssues(REQUEST_SCHEMA, value, "request");
    let error: unknown;
    try {
      normalizeRequest(value, manifest, serving);
    } catch (e) {
      error = e;
    }
    if (!issue) continue;
    refused++;
    assert.ok(error instanceof RequestError, String(error));
    assert.equal(error.path, issue.path);
    assert.equal(error.message, `${issue.path} ${issue.reason}`);
  }
  assert.ok(refused > 500, `${refused} refused`);
});

Deno.test("the compiled check reads every keyword of the subset as the interpreter does", () => {
  // keywords the request schema does not use today: oneOf options that
  // overlap, anyOf, const, propertyNames, maxItems, exclusiveMaximum, $ref
  const schemas: JsonSchema[] = [
    { oneOf: [{ type: "number" }, { type: "integer" }] },
    { oneOf: [{ type: "string", minLength: 1 }, { maxLength: 3 }] },
    { anyOf: [{ type: "number", maximum: 1 }, { const: "a" }] },
    { type: "object", propertyNames: { pattern: "^[a-z]+$" } },
    {
      type: "object",
      propertyNames: { maxLength: 1 },
      additionalProperties: { type: "boolean" },
    },
    { type: ["array", "null"], maxItems: 1, items: { $ref: "#/$defs/n" } },
    { type: "number", exclusiveMaximum: 10, minimum: -0 },
    { enum: [null, 1, "a"] },
    { not: "a keyword outside the subset is ignored" },
    true,
    false,
  ];
  const values: unknown[] = [
    ...JUNK,
    { a: true },
    { ab: true },
    { a: 1 },
    { A: true },
    [1],
    [1, 2],
    [true],
    9.5,
    10,
    "ab",
    "abcd",
  ];
  for (const schema of schemas) {
    const root = isObject(schema)
      ? { ...schema, $defs: { n: { type: "integer" } } }
      : schema;
    const compiled = compileSchemaCheck(root);
    for (const value of values) {
      assert.equal(
        compiled(value),
        schemaIssues(root, value, "v").length === 0,
        `${JSON.stringify(schema)} on ${JSON.stringify(value)}`,
      );
    }
  }
});
