import assert from "node:assert/strict";
import { scoreRows, Scratch } from "./_cooccurrence.ts";
import { LlrTable, rootLogLikelihoodRatio } from "./llr.ts";
import { SparseBinaryMatrix } from "./sparse.ts";
import { mulberry32 } from "../random/mod.ts";

// every pair counted from sets, scored, sorted (score, then tie rank), cut
function bruteForce(
  rows: SparseBinaryMatrix,
  columns: SparseBinaryMatrix,
  sameType: boolean,
  k: number,
  min: number,
  ranks: Int32Array,
) {
  const n = rows.rows;
  const usersOf = (m: SparseBinaryMatrix) => {
    const sets = Array.from({ length: m.cols }, () => new Set<number>());
    for (let u = 0; u < m.rows; u++) for (const i of m.row(u)) sets[i].add(u);
    return sets;
  };
  const a = usersOf(rows), b = usersOf(columns);
  return a.map((ua, i) => {
    const scored: { item: number; score: number }[] = [];
    b.forEach((ub, j) => {
      if (sameType && i === j) return;
      let k11 = 0;
      for (const u of ua) if (ub.has(u)) k11++;
      if (k11 === 0) return;
      const score = rootLogLikelihoodRatio(
        k11,
        ua.size - k11,
        ub.size - k11,
        n - ua.size - ub.size + k11,
      );
      if (score >= min) scored.push({ item: j, score });
    });
    scored.sort((x, y) => y.score - x.score || ranks[x.item] - ranks[y.item]);
    return scored.slice(0, k);
  });
}

Deno.test("scoreRows equals brute force, with rows of more users and touched items than a chunk", () => {
  for (let trial = 0; trial < 6; trial++) {
    const rnd = mulberry32(trial + 1);
    const users = 300 + Math.floor(rnd() * 400);
    const items = 300 + Math.floor(rnd() * 300);
    // skewed popularity: a few items in most users' rows
    const randomMatrix = (density: number) =>
      SparseBinaryMatrix.fromRows(
        Array.from({ length: users }, () => {
          const row: number[] = [];
          for (let i = 0; i < items; i++) {
            if (rnd() < density / (1 + i / 8)) row.push(i);
          }
          return row;
        }),
        items,
      );
    const rowsM = randomMatrix(0.9);
    const sameType = trial % 2 === 0;
    const columns = sameType ? rowsM : randomMatrix(0.6);
    const [k, min] = ([[1, 0], [5, 1], [50, 3], [1000, -Infinity], [
      1000,
      -Infinity,
    ], [50, 0]] as const)[trial];
    // a tie order unlike the index order
    const ranks = new Int32Array(items);
    Array.from(ranks.keys()).sort((x, y) =>
      ((x * 7919) % items) - ((y * 7919) % items)
    )
      .forEach((item, r) => ranks[item] = r);
    const want = bruteForce(rowsM, columns, sameType, k, min, ranks);
    const llr = new LlrTable(users);
    const rowsT = rowsM.transpose();
    const input = {
      rowsPtr: rowsT.ptr,
      rowsIdx: rowsT.idx,
      a0: 0,
      otherPtr: columns.ptr,
      otherIdx: columns.idx,
      otherCounts: columns.columnCounts(),
      tieRanks: ranks,
      xlogx: llr.table,
      numUsers: users,
      sameType,
      k,
      minRootLlr: min,
    };
    assert.ok(rowsT.rowLength(0) > 256, "a row with more users than a chunk");
    const scratch = new Scratch(items, k);
    let longest = 0;
    // in blocks, one scratch for all (as a worker does)
    for (let from = 0; from < items; from += 97) {
      const to = Math.min(items, from + 97);
      const got = scoreRows(input, from, to, scratch);
      for (let a = from; a < to; a++) {
        longest = Math.max(longest, got.ptr[a - from + 1] - got.ptr[a - from]);
      }
      for (let a = from; a < to; a++) {
        const start = got.ptr[a - from], end = got.ptr[a - from + 1];
        assert.deepEqual(
          Array.from(got.items.subarray(start, end)),
          want[a].map((e) => e.item),
          `trial ${trial} row ${a}`,
        );
        assert.deepEqual(
          Array.from(got.scores.subarray(start, end)),
          want[a].map((e) => e.score),
        );
      }
    }
    if (min === -Infinity) {
      // every touched pair kept: rows of more than a chunk
      assert.ok(longest > 256, `${longest} items in the longest row`);
    }
    assert.ok(scratch.counts.every((c) => c === 0), "counts reset");
  }
});
