/**
 * The WebAssembly postings loop against a plain JavaScript oracle: runs of
 * every length (the loop takes four postings a step), at any start, with
 * boosts of 1 and others, on weighted and keyword fields, added one after
 * another into the same sums: the same doubles, bit for bit.
 */
import assert from "node:assert/strict";
import { DenseKernel, setKernelLimit } from "./_kernel.ts";
import type { FieldIndex } from "./_plan.ts";
import { mulberry32 } from "../random/mod.ts";

function field(
  random: () => number,
  size: number,
  postings: number,
  weighted: boolean,
): FieldIndex {
  const docs = Int32Array.from(
    { length: postings },
    () => Math.floor(random() * size),
  );
  return {
    docCount: 0,
    sumDocFreq: 0,
    offsets: new Int32Array(1),
    docs,
    ...(weighted
      ? {
        weights: Float32Array.from(
          { length: postings },
          () => Math.fround(random() * 50),
        ),
      }
      : {}),
  };
}

Deno.test("the WebAssembly loop adds exactly what the JavaScript loop adds", () => {
  const random = mulberry32(5);
  for (let trial = 0; trial < 40; trial++) {
    const size = 1 + Math.floor(random() * 300);
    const fields = new Map([
      ["w", field(random, size, Math.floor(random() * 400), true)],
      ["k", field(random, size, Math.floor(random() * 400), false)],
    ]);
    const kernel = DenseKernel.place(fields, size)!;
    assert.ok(kernel);
    const expected = new Float64Array(size);
    for (let run = 0; run < 30; run++) {
      const name = random() < 0.5 ? "w" : "k";
      const f = fields.get(name)!;
      const length = Math.min(f.docs.length, Math.floor(random() * 14));
      const start = Math.floor(random() * (f.docs.length - length + 1));
      const end = start + length;
      const value = [1, 0.7, 3, 2 ** -20, 1e-3, 12.5][
        Math.floor(random() * 6)
      ];
      // a run's documents are distinct in an index; here they may repeat,
      // which the loop must add in posting order too
      for (let p = start; p < end; p++) {
        expected[f.docs[p]] += f.weights
          ? Math.fround(value * f.weights[p])
          : value;
      }
      kernel.add(kernel.fields.get(name)!, start, end, value);
    }
    assert.deepEqual(kernel.sums, expected, `trial ${trial}`);
  }
});

Deno.test("placing copies the postings; an index over the limit is not placed", () => {
  const random = mulberry32(9);
  const fields = new Map([["w", field(random, 10, 25, true)]]);
  const kernel = DenseKernel.place(fields, 10)!;
  const placed = kernel.fields.get("w")!;
  assert.deepEqual(placed.docs, fields.get("w")!.docs);
  assert.deepEqual(placed.weights, fields.get("w")!.weights);
  assert.notEqual(placed.docs.buffer, fields.get("w")!.docs.buffer);
  assert.deepEqual(kernel.sums, new Float64Array(10));
  // 10 sums and 25 postings with weights: 80 + 200 bytes
  const previous = setKernelLimit(279);
  try {
    assert.equal(DenseKernel.place(fields, 10), undefined);
    setKernelLimit(280);
    assert.ok(DenseKernel.place(fields, 10));
  } finally {
    setKernelLimit(previous);
  }
  // nothing to place
  const empty = DenseKernel.place(new Map(), 0)!;
  assert.equal(empty.sums.length, 0);
});
