import assert from "node:assert/strict";
import { SynthLog } from "./retailrocket.ts";
import { SynthStats } from "./stats.ts";

Deno.test("SynthStats counts what the written rows say (brute force over the CSV)", () => {
  const log = new SynthLog({ scale: 0.005, seed: 3 });
  const stats = new SynthStats(log);
  const perVisitor = new Map<string, number>();
  const perItem = new Map<string, number>();
  const types: Record<string, number> = {};
  let events = 0;
  const text = [...log.csv(333, (row) => stats.add(row))].join("");
  for (const line of text.split("\n").slice(1)) {
    if (!line) continue;
    const [, visitor, event, item] = line.split(",");
    events++;
    types[event] = (types[event] ?? 0) + 1;
    perVisitor.set(visitor, (perVisitor.get(visitor) ?? 0) + 1);
    perItem.set(item, (perItem.get(item) ?? 0) + 1);
  }
  const v = [...perVisitor.values()];
  const i = [...perItem.values()];
  assert.deepEqual(stats.summary(), {
    events,
    types: { view: 0, addtocart: 0, transaction: 0, ...types },
    visitors: perVisitor.size,
    visitorsWith1: v.filter((n) => n === 1).length,
    visitorsWith1Or2: v.filter((n) => n <= 2).length,
    maxPerVisitor: Math.max(...v),
    items: perItem.size,
    itemsWith1: i.filter((n) => n === 1).length,
    maxPerItem: Math.max(...i),
  });
  assert.equal(stats.events, log.counts.events);
});

// `generate --scale 40` counted visitors in a Map, which stops at 2^24
// keys ("Map maximum size exceeded"): the ×40 log has 56M visitors
Deno.test("SynthStats counts more than 2^24 distinct visitors", () => {
  const visitors = 2 ** 24 + 5;
  const stats = new SynthStats({ visitorIdBound: visitors, itemIdBound: 1 });
  for (let v = 0; v < visitors; v++) {
    stats.add({ visitor: v, item: 0, event: "view" });
  }
  stats.add({ visitor: 7, item: 0, event: "transaction" });
  const s = stats.summary();
  assert.equal(s.visitors, visitors);
  assert.equal(s.visitorsWith1, visitors - 1);
  assert.equal(s.maxPerVisitor, 2);
  assert.equal(s.maxPerItem, visitors + 1);
  assert.deepEqual(s.types, { view: visitors, addtocart: 0, transaction: 1 });
});

Deno.test("the ×40 log's ids fit the counters' bounds", () => {
  const log = new SynthLog({ scale: 40 });
  assert.equal(log.visitorIdBound, log.counts.visitors);
  assert.ok(log.counts.visitors > 2 ** 24);
  assert.equal(log.itemIdBound, log.counts.items);
});
