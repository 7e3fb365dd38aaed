/** The RetailRocket-shaped generator: exact counts, determinism, shape. */
import assert from "node:assert/strict";
import {
  plantedRecovery,
  RETAILROCKET,
  SynthLog,
} from "../generate/retailrocket.ts";
import type { Event } from "../events/format.ts";
import { parseEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";

async function events(log: SynthLog): Promise<Event[]> {
  return await Array.fromAsync(
    parseEvents(log.csv(997), "retailrocket", "synth"),
  );
}

async function sha256(chunks: Iterable<string>): Promise<string> {
  const text = [...chunks].join("");
  const digest = await crypto.subtle.digest(
    "SHA-256",
    new TextEncoder().encode(text),
  );
  return Array.from(
    new Uint8Array(digest),
    (b) => b.toString(16).padStart(2, "0"),
  )
    .join("");
}

Deno.test("default counts are RetailRocket's published ones", () => {
  const { counts } = new SynthLog();
  assert.deepEqual(counts, {
    events: RETAILROCKET.events,
    view: RETAILROCKET.view,
    addtocart: RETAILROCKET.addtocart,
    transaction: RETAILROCKET.transaction,
    visitors: RETAILROCKET.visitors,
    items: RETAILROCKET.items,
  });
});

Deno.test("a scaled log has exactly its counts and parses as RetailRocket", async () => {
  const log = new SynthLog({ scale: 0.005, seed: 3 });
  const all = await events(log);
  const perType: Record<string, number> = {};
  for (const e of all) perType[e.event] = (perType[e.event] ?? 0) + 1;
  assert.equal(all.length, log.counts.events);
  assert.deepEqual(perType, {
    view: log.counts.view,
    addtocart: log.counts.addtocart,
    transaction: log.counts.transaction,
  });
  assert.equal(new Set(all.map((e) => e.user)).size, log.counts.visitors);
  assert.equal(new Set(all.map((e) => e.item)).size, log.counts.items);
  for (const e of all) {
    assert.ok(
      e.timestamp >= RETAILROCKET.start && e.timestamp <= RETAILROCKET.end,
    );
  }
});

Deno.test("same seed, same bytes; another seed, another log", async () => {
  const a = await sha256(new SynthLog({ scale: 0.002, seed: 9 }).csv());
  const b = await sha256(new SynthLog({ scale: 0.002, seed: 9 }).csv());
  const c = await sha256(new SynthLog({ scale: 0.002, seed: 10 }).csv());
  assert.equal(a, b);
  assert.notEqual(a, c);
});

Deno.test("visitors start with a view; carts and purchases follow views", async () => {
  const all = await events(new SynthLog({ scale: 0.01, seed: 5 }));
  const viewed = new Map<string, Set<string>>();
  let acts = 0, ofViewed = 0;
  for (const e of all) {
    const seen = viewed.get(e.user);
    if (!seen) {
      assert.equal(e.event, "view", `visitor ${e.user} starts with ${e.event}`);
      viewed.set(e.user, new Set([e.item]));
      continue;
    }
    if (e.event === "view") seen.add(e.item);
    else {
      acts++;
      if (seen.has(e.item)) ofViewed++;
    }
  }
  assert.ok(ofViewed / acts >= 0.85, `${ofViewed}/${acts} of viewed items`);
  // heavy-tailed visitors: most have 1-2 events, a few many
  const perVisitor = new Map<string, number>();
  for (const e of all) {
    perVisitor.set(e.user, (perVisitor.get(e.user) ?? 0) + 1);
  }
  const counts = [...perVisitor.values()];
  const small = counts.filter((n) => n <= 2).length / counts.length;
  assert.ok(small > 0.7, `${small} of visitors have 1-2 events`);
  assert.ok(Math.max(...counts) >= 50);
});

Deno.test("LLR recovers the planted categories far above chance", async () => {
  const log = new SynthLog({ scale: 0.1, seed: 42 });
  const { documents } = await buildIndicators(
    parseEvents(log.csv(), "retailrocket", "synth"),
    // the tutorial's threshold: the LLR test itself, not the defaults
    // (significance 0.01 admits single co-occurrences at this size; the
    // share within a category is then about 0.37, still 8x chance)
    { primaryEvent: "transaction", minRootLlr: 5, maxIndicatorsPerItem: 50 },
  );
  const { kept, same, chance } = plantedRecovery(
    log,
    documents,
    "indicators",
  );
  assert.ok(kept > 100, `only ${kept} indicators`);
  assert.ok(
    same / kept > 0.5 && same / kept > 10 * chance,
    `${same}/${kept} indicators within a category; chance ${chance}`,
  );
});
