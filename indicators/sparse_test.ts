import assert from "node:assert/strict";
import { IdDictionary, SparseBinaryMatrix } from "./sparse.ts";
import { compareIds } from "../model/document.ts";

Deno.test("IdDictionary: dense first-seen indexes, numeric and other ids apart", () => {
  const d = new IdDictionary();
  const ids = [
    "42",
    "042",
    "a",
    "0",
    "999999999",
    "1000000000",
    "-1",
    "42",
    "",
    "4 2",
  ];
  const got = ids.map((id) => d.intern(id));
  assert.deepEqual(got, [0, 1, 2, 3, 4, 5, 6, 0, 7, 8]);
  assert.equal(d.size, 9);
  assert.deepEqual(d.ids, [
    "42",
    "042",
    "a",
    "0",
    "999999999",
    "1000000000",
    "-1",
    "",
    "4 2",
  ]);
  for (const [i, id] of d.ids.entries()) {
    assert.equal(d.indexOf(id), i);
    assert.equal(d.idOf(i), id);
  }
  assert.equal(d.indexOf("43"), undefined);
  assert.equal(d.indexOf("0042"), undefined);
});

Deno.test("sortRanks orders ids as strings", () => {
  const d = new IdDictionary();
  for (const id of ["b", "10", "9", "a"]) d.intern(id);
  // sorted: "10" < "9" < "a" < "b"
  assert.deepEqual(Array.from(d.sortRanks()), [3, 0, 1, 2]);
  assert.deepEqual(["b", "10", "9", "a"].sort(compareIds), [
    "10",
    "9",
    "a",
    "b",
  ]);
});

Deno.test("SparseBinaryMatrix: rows, counts and transpose", () => {
  const m = SparseBinaryMatrix.fromRows([[2, 0, 2], [], [1, 2]], 4);
  assert.equal(m.nnz, 4);
  assert.deepEqual(Array.from(m.row(0)), [0, 2]);
  assert.equal(m.rowLength(1), 0);
  assert.deepEqual(Array.from(m.columnCounts()), [1, 1, 2, 0]);
  const t = m.transpose();
  assert.equal(t.rows, 4);
  assert.equal(t.cols, 3);
  assert.deepEqual([0, 1, 2, 3].map((r) => Array.from(t.row(r))), [[0], [2], [
    0,
    2,
  ], []]);
  assert.deepEqual(
    [0, 1, 2].map((r) => Array.from(t.transpose().row(r))),
    [0, 1, 2].map((r) => Array.from(m.row(r))),
  );
  assert.throws(
    () =>
      new SparseBinaryMatrix(1, 1, new Uint32Array([0, 2]), new Int32Array(1)),
    RangeError,
  );
});
