import assert from "node:assert/strict";
import { learnWeights, learnWeightsEach } from "./learned.ts";
import { buildIndicators } from "./build.ts";
import { InteractionsBuilder } from "./interactions.ts";
import { mulberry32 } from "../random/mod.ts";
import type { Event } from "../events/format.ts";

/** Solves A x = b by Gaussian elimination with partial pivoting. */
function gaussSolve(a: number[][], b: number[]): number[] {
  const n = b.length;
  const m = a.map((row, i) => [...row, b[i]]);
  for (let c = 0; c < n; c++) {
    let p = c;
    for (let r = c + 1; r < n; r++) {
      if (Math.abs(m[r][c]) > Math.abs(m[p][c])) p = r;
    }
    [m[c], m[p]] = [m[p], m[c]];
    for (let r = 0; r < n; r++) {
      if (r === c) continue;
      const f = m[r][c] / m[c][c];
      for (let k = c; k <= n; k++) m[r][k] -= f * m[c][k];
    }
  }
  return m.map((row, i) => row[n] / row[i]);
}

function randomLog(seed: number): Event[] {
  const random = mulberry32(seed);
  const events: Event[] = [];
  let t = 0;
  for (let u = 0; u < 80; u++) {
    const group = u % 3;
    for (let k = 0; k < 6; k++) {
      const item = `i${group * 4 + Math.floor(random() * 6)}`;
      events.push({ user: `u${u}`, item, event: "view", timestamp: t++ });
      if (random() < 0.5) {
        events.push({ user: `u${u}`, item, event: "buy", timestamp: t++ });
      }
    }
  }
  return events;
}

Deno.test("learned weights solve each item's ridge regression over its candidates of every history field (dense oracle)", async () => {
  for (const seed of [1, 2, 3]) {
    const events = randomLog(seed);
    const ridge = 3;
    const counted = await buildIndicators(events, {
      primaryEvent: "buy",
      minRootLlr: 0,
      maxIndicatorsPerItem: 4,
      weights: "llr",
    });
    const learned = await buildIndicators(events, {
      primaryEvent: "buy",
      minRootLlr: 0,
      maxIndicatorsPerItem: 4,
      weights: "learned",
      ridge,
    });
    // users of each (type, item)
    const users = new Map<string, Set<string>>();
    for (const e of events) {
      const key = `${e.event}:${e.item}`;
      if (!users.has(key)) users.set(key, new Set());
      users.get(key)!.add(e.user);
    }
    const both = (a: string, b: string) =>
      [...(users.get(a) ?? [])].filter((u) => users.get(b)?.has(u)).length;
    const history = [["indicators", "buy"], ["indicators_view", "view"]];
    for (const doc of counted.documents) {
      const record = doc as unknown as Record<string, string[]>;
      const features = history.flatMap(([field, type]) =>
        (record[field] ?? []).map((id) => ({ field, id, key: `${type}:${id}` }))
      );
      const out = learned.documents.find((d) => d.id === doc.id)!;
      const outRecord = out as unknown as Record<string, string[]>;
      if (features.length === 0) {
        assert.deepEqual(outRecord.indicators, []);
        continue;
      }
      const g = features.map((f, i) =>
        features.map((h, j) => both(f.key, h.key) + (i === j ? ridge : 0))
      );
      const r = features.map((f) => both(f.key, `buy:${doc.id}`));
      const b = gaussSolve(g, r);
      for (const [field] of history) {
        const expected = features
          .map((f, j) => ({ ...f, w: b[j] }))
          .filter((f) => f.field === field && f.w > 1e-9);
        assert.deepEqual(outRecord[field], expected.map((f) => f.id));
        const got = out.weights![field];
        expected.forEach((f, i) =>
          assert.ok(Math.abs(got[i] - f.w) < 1e-9, `${doc.id} ${field} ${f.id}`)
        );
      }
      // the similar-items field keeps its counted weights
      assert.deepEqual(out.similar_view, record.similar_view);
    }
    const fields = Object.fromEntries(
      learned.manifest.fields.map((f) => [f.name, f.weights]),
    );
    assert.deepEqual(fields, {
      indicators: "learned",
      indicators_view: "learned",
      similar_view: "llr-idf",
    });
    assert.equal(learned.manifest.fields[0].ridge, ridge);
  }
});

Deno.test("learnWeights leaves its input alone and drops nothing it cannot weigh", async () => {
  const events = randomLog(9);
  const model = await buildIndicators(events, {
    primaryEvent: "buy",
    minRootLlr: 0,
    weights: "llr",
  });
  const before = JSON.stringify(model.documents);
  const interactions = (await new InteractionsBuilder().addAll(events)).build();
  const learned = learnWeights(model, interactions, { ridge: 10 });
  assert.equal(JSON.stringify(model.documents), before);
  for (const doc of learned.documents) {
    for (const [field, w] of Object.entries(doc.weights ?? {})) {
      const ids = (doc as unknown as Record<string, string[]>)[field];
      assert.equal(w.length, ids.length);
      assert.equal(doc.scores[field].length, ids.length);
      assert.ok(w.every((x) => x > 0));
    }
  }
  assert.throws(
    () => learnWeights(model, interactions, { ridge: -1 }),
    /ridge must be a positive number, got -1/,
  );
});

Deno.test("learnWeightsEach gives each penalty's learnWeights model, to the bit", async () => {
  const events = randomLog(5);
  const model = await buildIndicators(events, {
    primaryEvent: "buy",
    minRootLlr: 0,
    weights: "llr",
  });
  const interactions = (await new InteractionsBuilder().addAll(events))
    .build();
  const ridges = [1, 50, 800];
  const each = learnWeightsEach(model, interactions, ridges);
  assert.equal(each.length, 3);
  ridges.forEach((ridge, i) =>
    assert.deepEqual(each[i], learnWeights(model, interactions, { ridge }))
  );
  // the penalties differ: so do the weights
  assert.notDeepEqual(each[0].documents, each[2].documents);
  assert.deepEqual(learnWeightsEach(model, interactions, []), []);
  assert.throws(
    () => learnWeightsEach(model, interactions, [1, 0]),
    /ridge must be a positive number, got 0/,
  );
});
