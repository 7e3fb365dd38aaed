import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { MemoryEventStore, withUserHistory } from "./event_store.ts";
import { manifestFor } from "../model/manifest.ts";

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
  const base = new EmbeddedRecommender({
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  });
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
    name: "RequestError",
    path: "request.user",
    message:
      "request.user needs an event store (serve with --event-store, or withUserHistory)",
  });
  await assert.rejects(() => r.recommend({ user: "" }), {
    name: "RequestError",
    path: "request.user",
    message: "request.user must be a non-empty string",
  });
  // the manifest passes through
  assert.equal((await r.manifest()).primaryEvent, "transaction");
});

Deno.test("withUserHistory: a plain history is the model's primary event", async () => {
  const docs = [
    { id: "p", indicators: ["b"] },
    { id: "q", indicators: ["a"] },
  ];
  const base = new EmbeddedRecommender({
    manifest: manifestFor(docs, { primaryEvent: "like" }),
    documents: docs,
  });
  const store = new MemoryEventStore();
  await store.recordEvent({
    user: "u",
    item: "b",
    event: "like",
    timestamp: 1,
  });
  const r = withUserHistory(base, store);
  const want = await base.recommend({
    history: { like: ["a", "b"] },
    backfill: false,
  });
  assert.deepEqual(want.map((x) => x.id), ["p", "q"]);
  assert.deepEqual(
    await r.recommend({ user: "u", history: ["a"], backfill: false }),
    want,
  );
});

Deno.test("withUserHistory: stored events of types the model lacks are not the request's fault", async () => {
  const docs = [{ id: "p", indicators: ["b"] }, { id: "q", indicators: ["a"] }];
  const base = new EmbeddedRecommender({
    manifest: manifestFor(docs, { primaryEvent: "transaction" }),
    documents: docs,
  });
  const store = new MemoryEventStore();
  await store.recordEvent({
    user: "u",
    item: "a",
    event: "transaction",
    timestamp: 1,
  });
  // POST /events takes any event type: the model was built without these
  await store.recordEvent({
    user: "u",
    item: "b",
    event: "wish",
    timestamp: 2,
  });
  const r = withUserHistory(base, store);
  assert.deepEqual(
    await r.recommend({ user: "u", backfill: false }),
    await base.recommend({ history: ["a"], backfill: false }),
  );
  // a type the request itself names is still checked
  await assert.rejects(
    () => r.recommend({ user: "u", history: { wish: ["b"] } }),
    { name: "RequestError", path: "request.history.wish" },
  );
});
