import assert from "node:assert/strict";
import {
  mergeMahoutField,
  parseMahoutSimilarity,
  readMahoutSimilarity,
} from "./mahout.ts";
import type { IndicatorDocument } from "../indicators/build.ts";
import { ModelError } from "../errors/mod.ts";
import { parseIndicatorDocuments, toNdjson } from "./ndjson.ts";

// A hand-written spark-itemsimilarity cross-indicator matrix (purchase ×
// view), Mahout's default delimiters; strengths are raw LLRs. Row "lamp"
// lists two items of equal strength (ties by id) out of order; "mat" has
// none; ids contain ":" (the last one separates the strength).
const SAMPLE = [
  "tent\tstove:36.0 lamp:9.0 urn:a:16.0",
  "lamp\tmat:4.0 bag:4.0 tent:25.0",
  "mat\t",
  "stove\ttent:36.0\r",
  "",
].join("\n");

Deno.test("mahout: parses a sample into ids strongest first and root-LLR scores", () => {
  const rows = parseMahoutSimilarity(SAMPLE, "cross-similarity-matrix");
  assert.deepEqual([...rows.keys()], ["tent", "lamp", "mat", "stove"]);
  assert.deepEqual(rows.get("tent"), {
    ids: ["stove", "urn:a", "lamp"],
    scores: [6, 4, 3],
  });
  assert.deepEqual(rows.get("lamp"), {
    ids: ["tent", "bag", "mat"],
    scores: [5, 2, 2],
  });
  assert.deepEqual(rows.get("mat"), { ids: [], scores: [] });
  assert.deepEqual(rows.get("stove"), { ids: ["tent"], scores: [6] });
});

Deno.test("mahout: strengths as-is and other delimiters", () => {
  const rows = parseMahoutSimilarity("a|b=2,c=3\n", "x", {
    rowKeyDelimiter: "|",
    elementDelimiter: ",",
    strengthDelimiter: "=",
    strengths: "as-is",
  });
  assert.deepEqual(rows.get("a"), { ids: ["c", "b"], scores: [3, 2] });
});

Deno.test("mahout: malformed lines fail with file:line and the cause", () => {
  const cases: [string, string][] = [
    [
      "a\tb:1\nc d:2\n",
      'x:2: expected "item<TAB>item:strength ...", found no row key delimiter',
    ],
    ["\tb:1\n", "x:1: empty item id"],
    ["a\tb:1\n\na\tc:1\n", 'x:3: item "a" repeats (first at x:1)'],
    ["a\tb\n", 'x:1: element "b" has no strength (id:strength)'],
    ["a\t:3\n", 'x:1: element ":3" has an empty item id'],
    ["a\tb:x\n", 'x:1: strength "x" of "b" is not a number'],
    ["a\tb:\n", 'x:1: strength "" of "b" is not a number'],
    ["a\tb:-1\n", 'x:1: strength -1 of "b" is negative: not an LLR'],
    ["a\tb:1 b:2\n", 'x:1: "b" is listed twice'],
  ];
  for (const [text, message] of cases) {
    assert.throws(
      () => parseMahoutSimilarity(text, "x"),
      (e: Error) => e instanceof ModelError && e.message === message,
      message,
    );
  }
});

Deno.test("mahout: reads part files of a directory, errors name the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/part-00000`, "a\tb:4.0\n");
    await Deno.writeTextFile(`${dir}/part-00001`, "b\ta:4.0\n");
    await Deno.writeTextFile(`${dir}/_SUCCESS`, "");
    const rows = await readMahoutSimilarity(dir);
    assert.deepEqual(rows.get("b"), { ids: ["a"], scores: [2] });
    await Deno.writeTextFile(`${dir}/part-00002`, "c\ta:4.0\na\tc:1\n");
    await assert.rejects(
      () => readMahoutSimilarity(dir),
      (e: Error) =>
        e instanceof ModelError &&
        e.message ===
          `${dir}/part-00002:2: item "a" repeats (first at ${dir}/part-00000:1)`,
    );
    await Deno.writeTextFile(`${dir}/one.txt`, "a\tb:1\nbroken\n");
    await assert.rejects(
      () => readMahoutSimilarity(`${dir}/one.txt`),
      (e: Error) => e.message.startsWith(`${dir}/one.txt:2: expected`),
    );
    await assert.rejects(
      () => readMahoutSimilarity(`${dir}/missing`),
      (e: Error) =>
        e instanceof ModelError &&
        e.message.startsWith(`${dir}/missing: cannot read`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mahout: merges a field into documents in export key order", () => {
  const docs: IndicatorDocument[] = [
    {
      id: "tent",
      indicators: ["stove"],
      indicators_view: ["old"],
      scores: { indicators: [7], indicators_view: [1] },
      weights: { indicators: [3], indicators_view: [0.5] },
      metadata: { popularity: 4 },
    },
    {
      id: "rope",
      indicators: [],
      indicators_view: [],
      scores: { indicators: [], indicators_view: [] },
      weights: { indicators: [], indicators_view: [] },
      metadata: { popularity: 1 },
    },
  ];
  const rows = parseMahoutSimilarity(SAMPLE, "x");
  // replace an existing field: its weights no longer align, so they go
  assert.deepEqual(mergeMahoutField(docs, "indicators_view", rows), {
    matched: 1,
    added: 3,
  });
  assert.equal(
    toNdjson(docs.slice(0, 3)),
    '{"id":"tent","indicators":["stove"],"indicators_view":["stove","urn:a","lamp"],' +
      '"scores":{"indicators":[7],"indicators_view":[6,4,3]},' +
      '"weights":{"indicators":[3]},"metadata":{"popularity":4}}\n' +
      '{"id":"rope","indicators":[],"indicators_view":[],' +
      '"scores":{"indicators":[],"indicators_view":[]},' +
      '"weights":{"indicators":[]},"metadata":{"popularity":1}}\n' +
      '{"id":"lamp","indicators":[],"indicators_view":["tent","bag","mat"],' +
      '"scores":{"indicators":[],"indicators_view":[5,2,2]}}\n',
  );
  assert.deepEqual(docs.map((d) => d.id), [
    "tent",
    "rope",
    "lamp",
    "mat",
    "stove",
  ]);
  // add a new field: after the existing ones, before scores
  mergeMahoutField(
    docs,
    "similar_view",
    new Map([["rope", { ids: ["tent"], scores: [2] }]]),
  );
  assert.deepEqual(Object.keys(docs[1]), [
    "id",
    "indicators",
    "indicators_view",
    "similar_view",
    "scores",
    "weights",
    "metadata",
  ]);
  assert.deepEqual(docs[0].similar_view, []);
  // the result loads as an export
  assert.equal(parseIndicatorDocuments(toNdjson(docs), "m.ndjson").length, 5);
  assert.throws(
    () => mergeMahoutField(docs, "views", rows),
    /"views" is not an indicator field/,
  );
});
