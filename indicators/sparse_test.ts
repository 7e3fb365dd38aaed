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

Deno.test("IdDictionary: bytes and strings intern alike; ranks equal a string sort; bytesOf round-trips", () => {
  let seed = 7;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const encoder = new TextEncoder();
  for (const mixed of [false, true]) {
    const d = new IdDictionary(mixed ? 0 : 5000);
    const ids: string[] = [];
    for (let i = 0; i < 3000; i++) {
      const n = Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 14)));
      const r = rnd();
      ids.push(
        !mixed || r < 0.6
          ? String(n)
          : r < 0.8
          ? `0${n}`
          : r < 0.9
          ? `é${n}`
          : `x${n}`,
      );
    }
    ids.push("0", "999999999999999", "1000000000000000");
    const bytes = ids.map((id) => encoder.encode(id));
    ids.forEach((id, i) => {
      const a = i % 2
        ? d.intern(id)
        : d.internBytes(bytes[i], 0, bytes[i].length);
      assert.equal(a, d.indexOf(id));
      assert.equal(d.idOf(a), id);
    });
    const distinct = [...new Set(ids)];
    assert.equal(d.size, distinct.length);
    const sorted = [...distinct].sort(compareIds);
    const ranks = d.sortRanks();
    for (const id of distinct) {
      assert.equal(ranks[d.indexOf(id)!], sorted.indexOf(id), id);
    }
    const out = new Uint8Array(64);
    for (const id of distinct.slice(0, 200)) {
      const n = d.bytesOf(d.indexOf(id)!, out);
      assert.equal(new TextDecoder().decode(out.subarray(0, n)), id);
    }
  }
});

Deno.test("SparseBinaryMatrix: column slices transposed, and in shared memory", () => {
  const m = SparseBinaryMatrix.fromRows([[0, 3], [1, 2, 3], [], [0, 2]], 5);
  const whole = m.transpose();
  for (const [from, to] of [[0, 5], [0, 2], [2, 4], [4, 5], [3, 3]]) {
    for (const counts of [undefined, m.columnCounts()]) {
      const t = m.transposeColumns(from, to, from === 2, counts);
      assert.equal(t.rows, to - from);
      for (let c = from; c < to; c++) {
        assert.deepEqual(
          Array.from(t.row(c - from)),
          Array.from(whole.row(c)),
        );
      }
      assert.equal(t.idx.buffer instanceof SharedArrayBuffer, from === 2);
    }
  }
  const shared = m.toShared();
  assert.deepEqual(Array.from(shared.idx), Array.from(m.idx));
  assert.equal(shared.toShared(), shared);
});

Deno.test("IdDictionary.internColumn: the indexes of internBytes one by one, across groups, regrowth and mixed ids", () => {
  let seed = 11;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  const encoder = new TextEncoder();
  for (const [kinds, presize] of [[1, 0], [4, 0], [4, 100000]] as const) {
    // ids from a small pool, so that they repeat (also back to back)
    const pool: string[] = [];
    for (let i = 0; i < 5000; i++) {
      const n = Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 15)));
      const r = rnd() * kinds;
      pool.push(
        r < 1
          ? String(n)
          : r < 2
          ? `0${n}`
          : r < 2.5
          ? `é${n}`
          : r < 3
          ? "" + n + "0".repeat(16) // more digits than kept as a number
          : `x${n}`,
      );
    }
    pool.push("0", "999999999999999", "1000000000000000", "00", "0x");
    const ids: string[] = [];
    for (let i = 0; i < 20000; i++) {
      ids.push(
        rnd() < 0.3 && ids.length > 0
          ? ids[ids.length - 1]
          : pool[Math.floor(rnd() * pool.length)],
      );
    }
    // the ids in one buffer, separated by commas
    const text = ids.join(",");
    const bytes = encoder.encode(text);
    const starts = new Uint32Array(ids.length);
    const ends = new Uint32Array(ids.length);
    for (let i = 0, at = 0; i < ids.length; i++) {
      starts[i] = at;
      at += encoder.encode(ids[i]).length;
      ends[i] = at;
      at++;
    }
    // oracle: first-seen order
    const first = new Map<string, number>();
    const want = ids.map((id) => {
      if (!first.has(id)) first.set(id, first.size);
      return first.get(id)!;
    });
    // one by one, and in columns of random lengths (past a group of 256,
    // and through the table's regrowth when not presized)
    const single = new IdDictionary(presize);
    const viaBytes = ids.map((_, i) =>
      single.internBytes(bytes, starts[i], ends[i])
    );
    assert.deepEqual(viaBytes, want);
    const d = new IdDictionary(presize);
    const got = new Int32Array(ids.length);
    for (let at = 0; at < ids.length;) {
      const n = Math.min(ids.length - at, Math.floor(rnd() * 1000));
      const out = new Int32Array(n + 3).fill(-7);
      d.internColumn(
        bytes,
        starts.subarray(at),
        ends.subarray(at),
        n,
        out,
      );
      assert.deepEqual(Array.from(out.subarray(n)), [-7, -7, -7]);
      got.set(out.subarray(0, n), at);
      at += n;
    }
    assert.deepEqual(Array.from(got), want);
    assert.equal(d.size, first.size);
    assert.deepEqual(d.ids, [...first.keys()]);
    for (const [id, i] of first) assert.equal(d.indexOf(id), i);
  }
});

Deno.test("sortRanks of numeric ids (at most 14 digits) equals a string sort", () => {
  let seed = 5;
  const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
  for (const count of [1, 2, 63, 64, 65, 129, 5000]) {
    const d = new IdDictionary();
    const ids = new Set<string>();
    while (ids.size < count) {
      const n = Math.floor(rnd() * 10 ** (1 + Math.floor(rnd() * 14)));
      ids.add(String(n));
      d.intern(String(n));
    }
    const sorted = [...ids].sort(compareIds);
    const ranks = d.sortRanks();
    for (const id of ids) {
      assert.equal(ranks[d.indexOf(id)!], sorted.indexOf(id), id);
    }
  }
});
