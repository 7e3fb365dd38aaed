import assert from "node:assert/strict";
import { EventLog } from "./_log.ts";
import {
  histories,
  lastKSplit,
  stratifiedSplit,
  timeSplit,
} from "./evaluate.ts";
import { readEventColumns, readEvents } from "../events/read.ts";
import { resolveFormat } from "../events/format.ts";
import type { Event } from "../events/format.ts";
import { mulberry32 } from "../random/mod.ts";

const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
  .pathname;
const demo = await Array.fromAsync(readEvents(fixture));

// a log with timestamp ties, repeats, several types and light users
function synthetic(): Event[] {
  const random = mulberry32(3);
  const events: Event[] = [];
  for (let n = 0; n < 3000; n++) {
    const u = Math.floor(random() ** 2 * 300);
    events.push({
      user: `u${u}`,
      item: String(Math.floor(random() ** 2 * 80)),
      event: random() < 0.3 ? "buy" : random() < 0.5 ? "cart" : "view",
      timestamp: Math.floor(random() * 50),
    });
  }
  return events;
}

const key = (e: Event) => `${e.user}|${e.item}|${e.event}|${e.timestamp}`;

/** The typed log's split and histories against the Event[] ones. */
function sameSplit(
  events: Event[],
  log: EventLog,
  protocol: "last-k" | "stratified" | "time",
  primaryEvent: string,
  minUsers: number,
) {
  const want = protocol === "last-k"
    ? lastKSplit(events, { primaryEvent, k: 2 })
    : protocol === "stratified"
    ? stratifiedSplit(events, { ratio: 0.75, seed: 43 })
    : timeSplit(events, { fraction: 0.7, primaryEvent });
  const got = log.carve({
    protocol,
    primaryEvent,
    k: 2,
    ratio: 0.75,
    seed: 43,
    fraction: 0.7,
  });
  const train = [...log.columns(got.heldOut)].flatMap((b) => b.toEvents());
  assert.deepEqual(train.map(key).sort(), want.train.map(key).sort());
  const users = Array.from(got.users, (u) => log.users.idOf(u));
  assert.ok(
    users.length >= minUsers,
    `${protocol}: ${users.length} test users`,
  );
  // the same users in the same order (the sample draws from that order)
  assert.deepEqual(users, [...want.test.keys()]);
  users.forEach((user, i) => {
    const items = Array.from(got.relevant(i), (x) => log.items.idOf(x));
    assert.deepEqual(new Set(items), want.test.get(user), user);
    assert.equal(items.length, want.test.get(user)!.size);
  });
  const h = histories(want.train, 3);
  for (const u of got.users) {
    assert.deepEqual(log.history(u, got.heldOut, 3), h.get(log.users.idOf(u)));
  }
}

for (const protocol of ["last-k", "stratified", "time"] as const) {
  Deno.test(`EventLog carves ${protocol} as the Event[] split does`, async () => {
    const events = synthetic();
    sameSplit(events, await EventLog.read(events), protocol, "buy", 20);
    // from column batches, as build-index reads
    const columns = await EventLog.read(
      readEventColumns(fixture, resolveFormat("retailrocket")),
    );
    sameSplit(demo, columns, protocol, "transaction", 1);
  });
}

Deno.test("EventLog gives its events back as column batches, in log order", async () => {
  const events = synthetic();
  const log = await EventLog.read([events.slice(0, 10), ...events.slice(10)]);
  assert.equal(log.length, events.length);
  const back = [...log.columns()].flatMap((b) => b.toEvents());
  assert.deepEqual(back, events);
  // iterable again, and a mask leaves its events out
  const mask = new Uint8Array(events.length).fill(1, 1);
  assert.deepEqual([...log.columns(mask)].flatMap((b) => b.toEvents()), [
    events[0],
  ]);
  assert.equal([...log.columns()].length, 1);
});
