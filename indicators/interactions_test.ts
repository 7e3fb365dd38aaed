import assert from "node:assert/strict";
import type { Event } from "../events/format.ts";
import { EventColumns } from "../events/columns.ts";
import { compareIds } from "../model/document.ts";
import { InteractionsBuilder } from "./interactions.ts";
import { mulberry32 } from "../random/mod.ts";

Deno.test("build: each user's distinct items, the cap most recent (ties by id), as brute force, for users with few and many events", () => {
  for (let trial = 0; trial < 60; trial++) {
    const rnd = mulberry32(trial + 1);
    const types = ["buy", "view"];
    const nItems = 3 + Math.floor(rnd() * 80);
    const events: Event[] = [];
    const nUsers = 1 + Math.floor(rnd() * 30);
    for (let u = 0; u < nUsers; u++) {
      // from 1 event to well past the rows sorted as they come (32)
      const n = 1 + Math.floor(rnd() ** 2 * 120);
      for (let e = 0; e < n; e++) {
        events.push({
          user: `u${u}`,
          item: `i${Math.floor(rnd() * nItems)}`,
          event: types[Math.floor(rnd() * 2)],
          timestamp: Math.floor(rnd() * 30), // many ties
        });
      }
    }
    // users interleaved, not one after the other
    for (let i = events.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [events[i], events[j]] = [events[j], events[i]];
    }
    const cap = [1, 2, 5, 31, 33, 40, 500][trial % 7];
    const builder = new InteractionsBuilder({ maxHistoryPerUser: cap });
    // half as objects, half as columns
    const half = Math.floor(events.length / 2);
    for (const e of events.slice(0, half)) builder.add(e);
    builder.addColumns(EventColumns.fromEvents(events.slice(half)));
    const users = [...new Set(events.map((e) => e.user))];
    const interactions = builder.build();
    const items = interactions.items;
    for (const type of types) {
      const m = interactions.matrix(type);
      if (!events.some((e) => e.event === type)) continue;
      for (const [u, user] of users.entries()) {
        const latest = new Map<string, number>();
        for (const e of events) {
          if (e.user !== user || e.event !== type) continue;
          latest.set(e.item, Math.max(latest.get(e.item) ?? -1, e.timestamp));
        }
        const want = [...latest.keys()]
          .sort((a, b) => latest.get(b)! - latest.get(a)! || compareIds(a, b))
          .slice(0, cap)
          .map((id) => items.indexOf(id)!)
          .sort((a, b) => a - b);
        assert.deepEqual(
          Array.from(m!.row(u)),
          want,
          `trial ${trial} ${type} ${user}`,
        );
      }
    }
  }
});
