import assert from "node:assert/strict";
import type { Event } from "../events/format.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { buildIndicatorsLazily } from "./build.ts";
import { JsonBytes } from "./_json_bytes.ts";
import { LazyDocuments } from "./_compute.ts";
import { RowStore } from "./_rows.ts";
import { IdDictionary } from "./sparse.ts";
import { mulberry32 } from "../random/mod.ts";

// what writeModel wrote before: JSON.stringify of each document, a line each
function expectedLines(documents: Iterable<IndicatorDocument>): string {
  let text = "";
  for (const doc of documents) text += JSON.stringify(doc) + "\n";
  return text;
}

function linesOf(documents: LazyDocuments): { text: string; count: number } {
  const parts: Uint8Array[] = [];
  let count = 0;
  for (const chunk of documents.ndjsonLines()) {
    parts.push(chunk.bytes);
    count += chunk.documents;
    // whole lines only
    assert.equal(chunk.bytes[chunk.bytes.length - 1], 10);
  }
  const bytes = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    bytes.set(p, at);
    at += p.length;
  }
  return { text: new TextDecoder().decode(bytes), count };
}

const ODD_IDS = [
  'say "hi"',
  "back\\slash",
  "tab\there",
  "nl\nx",
  "\u0001ctl",
  "é",
  "日本",
  "😀",
  "00",
  "007",
  "0",
  "999999999999999",
  "1000000000000000",
  "4294967296",
  "2147483648",
  "-5",
  "1.5",
  "",
];

Deno.test("ndjsonLines: the bytes of JSON.stringify of every document, on random builds", async () => {
  for (let trial = 0; trial < 40; trial++) {
    const rnd = mulberry32(trial + 1);
    const nUsers = 5 + Math.floor(rnd() * 40);
    // some logs of more items than the lines write at a time (128)
    const nItems = trial % 4 === 1
      ? 200 + Math.floor(rnd() * 300)
      : 3 + Math.floor(rnd() * 25);
    const itemId = (i: number) =>
      i < ODD_IDS.length && trial % 2 ? ODD_IDS[i] : String(i * 7919);
    const types = ["buy", "view", "cart"];
    const events: Event[] = [{
      user: "u0",
      item: itemId(0),
      event: "buy",
      timestamp: 0,
    }];
    const nEvents = (trial % 4 === 1 ? 2000 : 20) +
      Math.floor(rnd() * 300);
    for (let e = 0; e < nEvents; e++) {
      events.push({
        user: `u${Math.floor(rnd() * nUsers)}`,
        item: itemId(Math.floor(rnd() * nItems)),
        event: types[Math.floor(rnd() * (rnd() < 0.5 ? 1 : 3))],
        timestamp: Math.floor(rnd() * 1000),
      });
    }
    const weights = (["none", "llr", "llr-idf", "learned"] as const)[trial % 4];
    const model = await buildIndicatorsLazily(events, {
      primaryEvent: "buy",
      minRootLlr: [-Infinity, 0, 0.5][trial % 3],
      maxIndicatorsPerItem: 1 + Math.floor(rnd() * 6),
      weights,
      ...(trial % 5 === 0
        ? {
          rankings: [
            { name: "trending", type: "trending", duration: 500 },
            { name: "popularity", type: "popular", count: "users" },
            { name: "hot", type: "hot", duration: 300 },
          ],
        }
        : {}),
      // a small budget spills rows to files
      ...(trial % 7 === 3 ? { memoryBudget: 1 } : {}),
    });
    try {
      const documents = model.documents as unknown as LazyDocuments;
      const { text, count } = linesOf(documents);
      assert.equal(text, expectedLines(model.documents), `trial ${trial}`);
      assert.equal(count, model.documents.length);
      if (trial % 4 === 1) assert.ok(count > 128, `${count} documents`);
    } finally {
      model.release();
    }
  }
});

// a store holding the given rows, in blocks of two rows (weighted: all of
// them, or "mixed": every other block)
function storeOf(
  rows: { items: number[]; scores: number[]; weights?: number[] }[],
  weighted: boolean | "mixed",
): RowStore {
  const store = new RowStore(1 << 20, () => Deno.makeTempDirSync());
  for (let b = 0; b < rows.length; b += 2) {
    const block = rows.slice(b, b + 2);
    const ptr = new Uint32Array(block.length + 1);
    block.forEach((r, i) => ptr[i + 1] = ptr[i] + r.items.length);
    store.append({
      ptr,
      items: Int32Array.from(block.flatMap((r) => r.items)),
      scores: Float64Array.from(block.flatMap((r) => r.scores)),
      ...(weighted === true || (weighted === "mixed" && b % 4 === 0)
        ? { weights: Float64Array.from(block.flatMap((r) => r.weights!)) }
        : {}),
    });
  }
  store.finish();
  return store;
}

Deno.test("ndjsonLines: names JSON orders or writes otherwise, odd numbers, stored weights", () => {
  const items = new IdDictionary();
  for (const id of ["a", 'q"uote', "7", "日本"]) items.intern(id);
  const rows = [
    { items: [1, 2], scores: [1.5, -0], weights: [NaN, 1e21] },
    { items: [], scores: [], weights: [] },
    { items: [0], scores: [1 / 3], weights: [-2147483648] },
    {
      items: [3, 0, 1],
      scores: [Infinity, 5e-324, 2 ** 53],
      weights: [1, 2, 3],
    },
  ];
  const field = (name: string, weighted: boolean | "mixed") => ({
    field: name,
    store: storeOf(rows, weighted),
    df: Int32Array.of(1, 2, 0, 3),
    docCount: 4,
    kept: 6,
    pairsScored: 0,
    coOccurrences: 0,
    passes: 1,
    millis: 0,
  });
  const metadata = (names: string[]) =>
    names.map((name, i) =>
      [
        name,
        [
          Int32Array.of(1, 2, 3, -4),
          Float64Array.of(0.1, NaN, -0, 2 ** 31),
          [1, undefined as unknown as number, 3, 4],
        ][i % 3],
      ] as const
    );
  const cases: [string[], string[]][] = [
    // plain
    [["indicators", "similar_view"], ["popularity", "trending", "hot"]],
    // a metadata name given twice: its first place, its later values
    [["indicators"], ["popularity", "x", "popularity"]],
    // names JSON puts first (array indexes), or that collide
    [["indicators", "2"], ["popularity"]],
    [["indicators"], ["popularity", "10"]],
    [["scores", "indicators"], ["popularity"]],
    [["indicators", "indicators"], ["popularity"]],
    [["indicators_é"], ['we"ird', "ünï"]],
  ];
  for (const weighting of ["none", "llr", "llr-idf"] as const) {
    for (const [fields, names] of cases) {
      for (const storedWeights of [false, true, "mixed"] as const) {
        const documents = new LazyDocuments(
          items,
          fields.map((name, f) => field(name, f === 0 && storedWeights)),
          weighting,
          metadata(names),
        );
        const { text, count } = linesOf(documents);
        assert.equal(
          text,
          expectedLines(documents),
          `${weighting} ${fields} ${names} ${storedWeights}`,
        );
        assert.equal(count, items.size);
      }
    }
  }
});

Deno.test("JsonBytes writes numbers and ids as JSON.stringify does", () => {
  const ids = new IdDictionary();
  const odd = [...ODD_IDS, "x".repeat(300), '"'.repeat(40)];
  for (const id of odd) ids.intern(id);
  const numbers = [
    0,
    -0,
    1,
    -1,
    2147483647,
    -2147483648,
    2147483648,
    -2147483649,
    1e21,
    1e-7,
    123456789012345680000,
    0.1 + 0.2,
    NaN,
    Infinity,
    -Infinity,
    Number.MAX_VALUE,
    Number.MIN_VALUE,
  ];
  const out = new JsonBytes(16); // small: it grows
  const want: string[] = [];
  odd.forEach((id, i) => {
    out.id(ids, i);
    out.byte(44);
    want.push(JSON.stringify(id));
  });
  for (const n of numbers) {
    out.number(n);
    out.byte(44);
    want.push(JSON.stringify(n));
  }
  out.numbers(Float64Array.from(numbers), 0, numbers.length);
  want.push(JSON.stringify(numbers));
  out.byte(44);
  out.numbers(numbers, 3, 3);
  want.push("[]");
  out.byte(44);
  out.numberArray(numbers);
  want.push(JSON.stringify(numbers));
  out.byte(44);
  out.ascii("x".repeat(100));
  want.push("x".repeat(100));
  assert.equal(new TextDecoder().decode(out.take()), want.join(","));
  assert.equal(out.length, 0);
});
