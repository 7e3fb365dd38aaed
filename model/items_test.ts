import assert from "node:assert/strict";
import {
  type ItemMetadata,
  mergeItems,
  metadataMapping,
  parseItems,
} from "./items.ts";
import type { IndicatorDocument } from "../indicators/build.ts";

Deno.test("items CSV: known fields typed, others keywords, empty cells skipped", async () => {
  const items = await parseItems(
    "itemid,category,available,popularity,updated,brand\n" +
      "A,tents,1,12.5,2015-06-01T00:00:00Z,acme\n" +
      "B,,false,,1433116800000,\r\n",
    "items.csv",
  );
  assert.deepEqual(Object.fromEntries(items), {
    A: {
      category: "tents",
      available: true,
      popularity: 12.5,
      updated: "2015-06-01T00:00:00.000Z",
      brand: "acme",
    },
    B: { available: false, updated: "2015-06-01T00:00:00.000Z" },
  });
});

Deno.test("items NDJSON keeps JSON types", async () => {
  const items = await parseItems(
    '{"id":"A","tags":["x","y"],"stock":3,"new":true,"category":"c"}\n' +
      '{"id":7,"available":false}\n',
    "items.ndjson",
  );
  assert.deepEqual(items.get("A"), {
    tags: ["x", "y"],
    stock: 3,
    new: true,
    category: "c",
  });
  assert.deepEqual(items.get("7"), { available: false });
  assert.deepEqual(
    metadataMapping([...items.values()].map((metadata) => ({ metadata }))),
    {
      tags: { type: "keyword" },
      stock: { type: "double" },
      new: { type: "boolean" },
      category: { type: "keyword" },
      available: { type: "boolean" },
    },
  );
});

Deno.test("malformed items files: file, line and cause", async () => {
  const cases: [string, string, string][] = [
    [
      "name,category\nA,x\n",
      "f.csv",
      'f.csv:1: missing header: expected an "id" (or "itemid") column, found "name,category"',
    ],
    [
      "id,available\nA,maybe\n",
      "f.csv",
      'f.csv:2: "available" must be true, false, 1 or 0, got "maybe"',
    ],
    [
      "id,popularity\nA,lots\n",
      "f.csv",
      'f.csv:2: "popularity" must be a number, got "lots"',
    ],
    [
      "id,updated\nA,someday\n",
      "f.csv",
      'f.csv:2: "updated" must be a date (ISO 8601 or unix ms), got "someday"',
    ],
    ["id,category\nA,x,y\n", "f.csv", "f.csv:2: expected 2 columns, got 3"],
    ["id,category\nA,x\nA,y\n", "f.csv", 'f.csv:3: duplicate item id "A"'],
    [
      "id,indicators\nA,x\n",
      "f.csv",
      'f.csv:1: "indicators" cannot be a metadata field (reserved or not a plain name)',
    ],
    [
      '{"id":"A","x":{"a":1}}\n',
      "f.ndjson",
      'f.ndjson:1: "x" must be a string, number, boolean or array of strings, got {"a":1}',
    ],
    ['{"name":"A"}\n', "f.ndjson", 'f.ndjson:1: expected a string "id"'],
    ["", "f.csv", "f.csv:1: empty items file"],
  ];
  for (const [text, source, message] of cases) {
    await assert.rejects(() => parseItems(text, source), {
      name: "ItemsError",
      message,
    });
  }
  assert.throws(
    () =>
      metadataMapping([{ metadata: { size: 3 } }, { metadata: { size: "L" } }]),
    { message: 'metadata field "size" mixes double and keyword values' },
  );
});

Deno.test("mergeItems: metadata merged, unknown items added with empty fields", () => {
  const docs = [
    {
      id: "A",
      indicators: ["B"],
      indicators_view: ["C"],
      scores: {},
      metadata: { popularity: 4 },
    },
    {
      id: "B",
      indicators: [],
      indicators_view: [],
      scores: {},
      metadata: { popularity: 1 },
    },
  ] as IndicatorDocument[];
  const result = mergeItems(
    docs,
    new Map<string, ItemMetadata>([
      ["A", { category: "tents" }],
      ["Z", { category: "stoves", popularity: 9 }],
    ]),
  );
  assert.deepEqual(result, { matched: 1, added: 1 });
  assert.deepEqual(docs[0].metadata, { popularity: 4, category: "tents" });
  assert.deepEqual(docs[1].metadata, { popularity: 1 });
  assert.deepEqual(docs[2], {
    id: "Z",
    indicators: [],
    indicators_view: [],
    scores: {},
    metadata: { category: "stoves", popularity: 9 },
  });
});
