import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import type { Event } from "../events/format.ts";
import { manifestFor } from "../model/manifest.ts";
import {
  evaluate,
  histories,
  lastKSplit,
  stratifiedSplit,
  timeSplit,
} from "./evaluate.ts";

const ev = (
  user: string,
  item: string,
  t: number,
  event = "transaction",
): Event => ({
  user,
  item,
  event,
  timestamp: t,
});

Deno.test("time split: test users need history before and new purchases after", () => {
  const events = [
    ev("u1", "a", 1),
    ev("u1", "b", 8), // after: relevant
    ev("u1", "a", 9), // repurchase: not relevant
    ev("u2", "c", 8), // no history before: not a test user
    ev("u3", "x", 2, "view"),
    ev("u3", "d", 7, "view"), // after, but not primary
  ];
  const split = timeSplit(events, { cutoff: 5, primaryEvent: "transaction" });
  assert.deepEqual([...split.test], [["u1", new Set(["b"])]]);
  assert.deepEqual(split.train, [ev("u1", "a", 1), ev("u3", "x", 2, "view")]);
  // fraction of the time range: 1 + (9 - 1) * 0.5 = 5
  assert.equal(
    timeSplit(events, { fraction: 0.5, primaryEvent: "transaction" }).cutoff,
    5,
  );
  // the primary event decides what is held out: here views
  assert.deepEqual(
    [...timeSplit(events, { cutoff: 5, primaryEvent: "view" }).test],
    [["u3", new Set(["d"])]],
  );
});

Deno.test("last-k split holds out each user's last k purchases", () => {
  const events = [
    ev("u", "a", 1),
    ev("u", "v", 2, "view"),
    ev("u", "b", 3),
    ev("u", "c", 4),
    ev("w", "a", 1), // one purchase: training only
  ];
  const one = lastKSplit(events, { primaryEvent: "transaction" });
  assert.deepEqual([...one.test], [["u", new Set(["c"])]]);
  assert.deepEqual(one.train.map((e) => `${e.user}${e.item}`), [
    "ua",
    "uv",
    "ub",
    "wa",
  ]);
  const two = lastKSplit(events, { k: 2, primaryEvent: "transaction" });
  assert.deepEqual(two.test.get("u"), new Set(["b", "c"]));
});

Deno.test("stratified split: seeded, per user, 75/25", () => {
  const events = Array.from(
    { length: 8 },
    (_, i) => ev("u", `i${i}`, i, "rating"),
  );
  events.push(ev("solo", "z", 1, "rating"));
  // two items: 75% of 2 rounds to 2 kept, nothing to hold out
  events.push(ev("pair", "x", 1, "rating"), ev("pair", "y", 2, "rating"));
  const a = stratifiedSplit(events, { seed: 42 });
  const b = stratifiedSplit(events, { seed: 42 });
  assert.deepEqual(a, b);
  assert.equal(a.train.filter((e) => e.user === "u").length, 6);
  assert.equal(a.test.get("u")!.size, 2);
  assert.ok(!a.test.has("solo"));
  assert.ok(!a.test.has("pair"));
  assert.equal(a.train.filter((e) => e.user === "pair").length, 2);
  for (const item of a.test.get("u")!) {
    assert.ok(!a.train.some((e) => e.item === item));
  }
  assert.notDeepEqual(stratifiedSplit(events, { seed: 7 }).test, a.test);
});

Deno.test("evaluate scores each user's list against the held-out items", async () => {
  const documents = [
    { id: "p", indicators: ["a"], metadata: { popularity: 1 } },
    { id: "q", indicators: [], metadata: { popularity: 9 } },
  ];
  const recommender = new EmbeddedRecommender({
    manifest: manifestFor(documents, { primaryEvent: "transaction" }),
    documents,
  });
  const split = {
    train: [],
    test: new Map([["u", new Set(["p"])], ["w", new Set(["z"])]]),
  };
  const result = await evaluate(
    recommender,
    split,
    () => ({ history: ["a"] }),
    {
      ks: [1, 2],
      catalogue: 4,
    },
  );
  // both users get [p (ranked), q (backfill)]: u hits at rank 1, w never
  assert.equal(result.users, 2);
  assert.deepEqual(result.atK[1].mean, {
    precision: 0.5,
    recall: 0.5,
    map: 0.5,
    ndcg: 0.5,
    hit: 0.5,
  });
  assert.equal(result.atK[2].mean.precision, 0.25);
  assert.equal(result.coverage, 0.5);
  assert.equal(result.backfillShare, 0.5);
  assert.deepEqual(result.recallCurve.slice(0, 3), [0.5, 0.5, 0.5]);
  assert.deepEqual(
    histories([
      ev("u", "a", 1, "view"),
      ev("u", "b", 2, "view"),
      ev("u", "a", 3, "view"),
    ]).get("u"),
    {
      view: ["a", "b"],
    },
  );
  // capped per type to the newest distinct items
  assert.deepEqual(
    histories([
      ev("u", "a", 1, "view"),
      ev("u", "b", 2, "view"),
      ev("u", "a", 3, "view"),
      ev("u", "c", 2, "transaction"),
    ], 1).get("u"),
    { view: ["a"], transaction: ["c"] },
  );
});
