import assert from "node:assert/strict";
import {
  mergeItems,
  mergeItemsStreaming,
  metadataTypes,
  parseItems,
  readItems,
} from "./items.ts";
import type { IndicatorDocument, ItemMetadata } from "./document.ts";
import { manifestFor } from "./manifest.ts";
import { buildIndicatorsLazily } from "../indicators/build.ts";
import { readEventColumns } from "../events/read.ts";

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
    metadataTypes([...items.values()].map((metadata) => ({ metadata }))),
    {
      tags: "keyword",
      stock: "number",
      new: "boolean",
      category: "keyword",
      available: "boolean",
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
      metadataTypes([{ metadata: { size: 3 } }, { metadata: { size: "L" } }]),
    {
      name: "ItemsError",
      message: 'metadata field "size" mixes number and keyword values',
    },
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
  const model = {
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  };
  assert.deepEqual(model.manifest.metadata, { popularity: "number" });
  const result = mergeItems(
    model,
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
  // the manifest follows: the new field's type, the document count
  assert.deepEqual(model.manifest.metadata, {
    popularity: "number",
    category: "keyword",
  });
  assert.equal(model.manifest.counts.documents, 3);
});

Deno.test("declared field types: dates from CSV and NDJSON, in the manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const csv = `${dir}/items.csv`;
    await Deno.writeTextFile(
      csv,
      "id,expires,label\n" +
        "A,2015-05-31T23:30:00-02:00,2015-05-31T23:30:00-02:00\n" +
        "B,1433116800000,x\n",
    );
    const items = await readItems(csv, { expires: "date" });
    // a declared date is stored as ISO 8601 UTC; undeclared text stays as is
    assert.deepEqual(Object.fromEntries(items), {
      A: {
        expires: "2015-06-01T01:30:00.000Z",
        label: "2015-05-31T23:30:00-02:00",
      },
      B: { expires: "2015-06-01T00:00:00.000Z", label: "x" },
    });
    const ndjson = await parseItems(
      '{"id":"C","expires":1433116800000}\n',
      "items.ndjson",
      { expires: "date" },
    );
    assert.deepEqual(ndjson.get("C"), {
      expires: "2015-06-01T00:00:00.000Z",
    });
    await assert.rejects(
      () => parseItems("id,expires\nA,soon\n", "f.csv", { expires: "date" }),
      {
        name: "ItemsError",
        message:
          'f.csv:2: "expires" must be a date (ISO 8601 or unix ms), got "soon"',
      },
    );
    const documents: IndicatorDocument[] = [
      { id: "A", indicators: [], scores: {} },
    ];
    const model = {
      manifest: manifestFor(documents, { primaryEvent: "buy" }),
      documents,
    };
    mergeItems(model, items, { expires: "date" });
    assert.deepEqual(model.manifest.metadata, {
      expires: "date",
      label: "keyword",
    });
    // without the declaration the same strings are keywords
    const plain = await readItems(csv);
    assert.deepEqual(plain.get("A"), {
      expires: "2015-05-31T23:30:00-02:00",
      label: "2015-05-31T23:30:00-02:00",
    });
    assert.deepEqual(
      metadataTypes([...plain.values()].map((metadata) => ({ metadata }))),
      { expires: "keyword", label: "keyword" },
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a date without an offset is UTC, whatever the machine's time zone", async () => {
  // Date.parse reads "2015-06-01T02:00:00" as local time; Elasticsearch
  // reads it as UTC: so must cco-es, on a machine outside UTC too
  const url = new URL("./items.ts", import.meta.url).href;
  const script = `
    import { dateMillis, parseItems } from "${url}";
    const items = await parseItems(
      "id,updated\\nA,2015-06-01T02:00:00\\nB,2015-06-01 02:00\\nC,2015-06-01\\n",
      "items.csv",
    );
    console.log(JSON.stringify({
      ms: dateMillis("2015-06-01T02:00:00.250"),
      items: Object.fromEntries(items),
    }));
  `;
  for (const tz of ["America/New_York", "Asia/Kolkata", "UTC"]) {
    const { code, stdout, stderr } = await new Deno.Command(Deno.execPath(), {
      args: ["eval", "--no-check", script],
      env: { TZ: tz },
      stdout: "piped",
      stderr: "piped",
    }).output();
    assert.equal(code, 0, new TextDecoder().decode(stderr));
    assert.deepEqual(JSON.parse(new TextDecoder().decode(stdout)), {
      ms: Date.UTC(2015, 5, 1, 2, 0, 0, 250),
      items: {
        A: { updated: "2015-06-01T02:00:00.000Z" },
        B: { updated: "2015-06-01T02:00:00.000Z" },
        C: { updated: "2015-06-01T00:00:00.000Z" },
      },
    }, tz);
  }
});

Deno.test("mergeItemsStreaming gives what mergeItems gives, documents in the same order", async () => {
  const root = new URL("../fixtures/", import.meta.url).pathname;
  const items = await readItems(`${root}demo_items.csv`);
  // some items without events, some events without items
  items.delete([...items.keys()][3]);
  items.set("zz-new", { category: "c9", available: false });
  items.set("aa-new", { brand: "acme" });
  const lazy = await buildIndicatorsLazily(
    readEventColumns(`${root}demo_events.csv`),
    { primaryEvent: "transaction" },
  );
  try {
    const eager = {
      manifest: structuredClone(lazy.manifest),
      documents: Array.from(lazy.documents),
    };
    const counts = mergeItems(eager, items, { brand: "keyword" });
    const streamed = mergeItemsStreaming(lazy, items, lazy.itemIndex, {
      brand: "keyword",
    });
    assert.deepEqual(
      { matched: streamed.matched, added: streamed.added },
      counts,
    );
    assert.equal(
      JSON.stringify(streamed.manifest),
      JSON.stringify(eager.manifest),
    );
    const docs = await Array.fromAsync(streamed.documents);
    assert.equal(JSON.stringify(docs), JSON.stringify(eager.documents));
    // iterable again
    assert.equal(
      (await Array.fromAsync(streamed.documents)).length,
      docs.length,
    );
  } finally {
    lazy.release();
  }
});
