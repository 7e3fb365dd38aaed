import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { MemoryEventStore, withUserHistory } from "./event_store.ts";

Deno.test("memory store: recent distinct items per type, newest first, capped", async () => {
  const store = new MemoryEventStore(4);
  for (
    const [t, item, event] of [
      [1, "a", "view"],
      [2, "b", "view"],
      [3, "a", "view"],
      [4, "c", "transaction"],
      [5, "d", "view"],
      [0, "old", "view"], // out of order, and beyond the 4 newest
    ] as const
  ) {
    await store.recordEvent({ user: "u", item, event, timestamp: t });
  }
  assert.deepEqual(await store.recentHistory("u", 20), {
    view: ["d", "a", "b"],
    transaction: ["c"],
  });
  assert.deepEqual(await store.recentHistory("u", 1), {
    view: ["d"],
    transaction: ["c"],
  });
  assert.deepEqual(await store.recentHistory("nobody", 5), {});
});

Deno.test("withUserHistory: user requests equal explicit histories", async () => {
  const docs = [
    { id: "p", indicators: ["b"], indicators_view: ["v"] },
    { id: "q", indicators: ["a"], indicators_view: [] },
    { id: "r", indicators_view: ["w"], indicators: [] },
  ];
  const base = new EmbeddedRecommender(docs);
  const store = new MemoryEventStore();
  await store.recordEvent({
    user: "u",
    item: "b",
    event: "transaction",
    timestamp: 1,
  });
  await store.recordEvent({
    user: "u",
    item: "v",
    event: "view",
    timestamp: 2,
  });
  const r = withUserHistory(base, store);
  assert.deepEqual(
    await r.recommend({ user: "u", backfill: false }),
    await base.recommend({
      history: { transaction: ["b"], view: ["v"] },
      backfill: false,
    }),
  );
  // request history comes first and joins the stored one
  assert.deepEqual(
    await r.recommend({ user: "u", history: ["a"], backfill: false }),
    await base.recommend({
      history: { transaction: ["a", "b"], view: ["v"] },
      backfill: false,
    }),
  );
  await assert.rejects(() => base.recommend({ user: "u" }), {
    message:
      "request.user needs an event store (serve with --event-store, or withUserHistory)",
  });
  await assert.rejects(() => r.recommend({ user: "" }), {
    message: "request.user must be a non-empty string",
  });
});
