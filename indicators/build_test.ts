import assert from "node:assert/strict";
import { mulberry32 } from "../generate/retailrocket.ts";
import type { Event } from "../events/format.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators, indicatorFields } from "./build.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { historyFields, parseManifest } from "../model/manifest.ts";

const P = "transaction";
import { rootLogLikelihoodRatio } from "./llr.ts";

const ev = (
  user: string,
  item: string,
  timestamp: number,
  event = "transaction",
): Event => ({ user, item, event, timestamp });

function near(actual: number, expected: number) {
  assert.ok(
    Math.abs(actual - expected) < 1e-12,
    `expected ${expected}, got ${actual}`,
  );
}

/*
 * Hand-worked example, fixtures/hand_worked.csv (RetailRocket format).
 * N = 6 users (u6 only viewed, but still counts).
 * Purchases (u1 bought A twice: binarized to once):
 *   u1: A B   u2: A B   u3: A B C   u4: C D   u5: D
 * Distinct buyers: |A| = |B| = 3, |C| = |D| = 2.
 *
 * A,B: k = [3,0,0,3]. rowH = colH = matrixH = 6 ln 2  => LLR = 12 ln 2.
 * C,D: k = [1,1,1,3]. rowH = colH = 6ln6 - 10ln2, matrixH = 6ln6 - 3ln3
 *      => LLR = 2(6ln6 - 20ln2 + 3ln3) = 18 ln 3 - 28 ln 2 ≈ 0.367 (> 0).
 * A,C: k = [1,2,1,2]: 1/3 of A's buyers have C and 1/3 of the others do:
 *      independent, LLR = 0. Same for B,C.
 * A,D: k = [0,3,2,1]: negative (anti-correlated), never an indicator.
 */
const handWorked: Event[] = await Array.fromAsync(
  readEvents(new URL("../fixtures/hand_worked.csv", import.meta.url).pathname),
);
const AB = Math.sqrt(12 * Math.LN2);
const CD = Math.sqrt(18 * Math.log(3) - 28 * Math.LN2);

function byId(docs: IndicatorDocument[]): Record<string, IndicatorDocument> {
  return Object.fromEntries(docs.map((d) => [d.id, d]));
}

Deno.test("hand-worked purchase indicators: exact scores and order", async () => {
  const { documents, stats } = await buildIndicators(handWorked, {
    primaryEvent: P,
    minRootLlr: 0.5,
  });
  const docs = byId(documents);
  assert.deepEqual(Object.keys(docs), ["A", "B", "C", "D", "E"]);
  assert.deepEqual(docs.A.indicators, ["B"]);
  near(docs.A.scores.indicators[0], AB);
  assert.deepEqual(docs.B.indicators, ["A"]);
  near(docs.B.scores.indicators[0], AB);
  assert.deepEqual(docs.C.indicators, ["D"]);
  near(docs.C.scores.indicators[0], CD);
  assert.deepEqual(docs.D.indicators, ["C"]);
  assert.deepEqual(docs.E.indicators, []);
  assert.equal(stats.users, 6);
  assert.equal(stats.items, 5);
  assert.equal(stats.primaryUsers, 5);
  assert.equal(stats.primaryInteractions, 10); // u1's repeat of A binarized
  assert.deepEqual(stats.eventsRead, { transaction: 11, view: 1 });
  assert.equal(stats.indicatorsKept, 4);
});

Deno.test("threshold: independent pairs kept at 0, anti-correlated never", async () => {
  const docs = byId(
    (await buildIndicators(handWorked, { primaryEvent: P, minRootLlr: 0 }))
      .documents,
  );
  // A: B (2.88), then C at exactly 0; D is negative and excluded.
  assert.deepEqual(docs.A.indicators, ["B", "C"]);
  assert.ok(Math.abs(docs.A.scores.indicators[1]) < 1e-6); // 0 up to round-off
  // C: D (0.61), then A and B tied at 0, by id.
  assert.deepEqual(docs.C.indicators, ["D", "A", "B"]);
  const strict = byId(
    (await buildIndicators(handWorked, { primaryEvent: P, minRootLlr: 1 }))
      .documents,
  );
  assert.deepEqual(strict.C.indicators, []);
  assert.deepEqual(strict.A.indicators, ["B"]);
  // The tutorial's threshold (5) keeps nothing on six users.
  const tutorial = await buildIndicators(handWorked, {
    primaryEvent: P,
    minRootLlr: 5,
  });
  assert.equal(tutorial.stats.indicatorsKept, 0);
  // The default, a significance level of 0.01 (root LLR 2.5758), keeps
  // A and B (12 ln 2 = 2.884²) alone.
  const defaults = await buildIndicators(handWorked, { primaryEvent: P });
  const { minRootLlr, significance } = defaults.manifest.fields[0];
  assert.equal(significance, 0.01);
  assert.equal(minRootLlr!.toFixed(4), "2.5758");
  const kept = byId(defaults.documents);
  assert.deepEqual(kept.A.indicators, ["B"]);
  assert.deepEqual(kept.B.indicators, ["A"]);
  assert.equal(defaults.stats.indicatorsKept, 2);
});

Deno.test("top-k per item keeps the strongest", async () => {
  const docs = byId(
    (await buildIndicators(handWorked, {
      primaryEvent: P,
      minRootLlr: 0,
      maxIndicatorsPerItem: 1,
    })).documents,
  );
  assert.deepEqual(docs.A.indicators, ["B"]);
  assert.deepEqual(docs.C.indicators, ["D"]);
});

Deno.test("history cap keeps each user's most recent items", async () => {
  // With a cap of 2, u3 keeps B and C (A at t=6 is the oldest).
  // Then A: buyers u1,u2 (2); B: u1,u2,u3 (3); A,B: k = [2,0,1,3].
  const docs = byId(
    (await buildIndicators(handWorked, {
      primaryEvent: P,
      minRootLlr: 0.5,
      maxHistoryPerUser: 2,
    })).documents,
  );
  assert.deepEqual(docs.A.indicators, ["B"]);
  near(docs.A.scores.indicators[0], rootLogLikelihoodRatio(2, 0, 1, 3));
});

Deno.test("a missing primary event type is a clear error", async () => {
  await assert.rejects(
    () => buildIndicators([ev("u1", "a", 1, "view")], { primaryEvent: P }),
    {
      name: "ConfigError",
      message:
        'no "transaction" events in the input (event types seen: view); set the primary event type',
    },
  );
  // the primary event is required: there is no default to guess
  await assert.rejects(
    () => buildIndicators(handWorked, {} as never),
    {
      name: "ConfigError",
      path: "primaryEvent",
      message:
        "primaryEvent must be an event type name (letters, digits, _ or -), got undefined",
    },
  );
  await assert.rejects(
    () =>
      buildIndicators(handWorked, {
        primaryEvent: P,
        maxIndicatorsPerItem: -1,
      }),
    {
      name: "ConfigError",
      path: "maxIndicatorsPerItem",
      message: "maxIndicatorsPerItem must be a non-negative integer, got -1",
    },
  );
  await assert.rejects(
    () =>
      buildIndicators(handWorked, { primaryEvent: P, maxHistoryPerUser: 0 }),
    {
      // a settings error naming the key, like every other build option (a
      // RangeError read as a defect: a 500, not the user's mistake)
      name: "ConfigError",
      path: "maxHistoryPerUser",
      message: "maxHistoryPerUser must be a positive integer, got 0",
    },
  );
});

Deno.test("the build's manifest describes its model", async () => {
  const { manifest, documents } = await buildIndicators(
    readEvents(
      new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
    ),
    { primaryEvent: P, minRootLlr: 0, weights: "llr", maxHistoryPerUser: 7 },
  );
  assert.equal(manifest.format, "cco-es/model");
  assert.equal(manifest.primaryEvent, P);
  assert.equal(manifest.tool.engine, "deno");
  assert.deepEqual(
    manifest.fields.map((f) => [f.name, f.rows, f.columns, f.weights]),
    [
      ["indicators", P, P, "llr"],
      ["indicators_view", P, "view", "llr"],
      ["similar_view", "view", "view", "llr"],
    ],
  );
  assert.deepEqual(manifest.fields.map((f) => f.indicators), [0, 1, 2]);
  assert.equal(manifest.maxHistoryPerUser, 7);
  assert.deepEqual(manifest.counts, {
    events: { transaction: 4, view: 7 },
    users: 5,
    items: 4,
    documents: documents.length,
  });
  assert.deepEqual(manifest.metadata, { popularity: "number" });
  // what it says round-trips through the manifest parser
  assert.deepEqual(
    parseManifest(JSON.parse(JSON.stringify(manifest)), "x"),
    manifest,
  );
  // and the history types it serves: the primary and each secondary
  assert.deepEqual([...historyFields(manifest)], [
    [P, "indicators"],
    ["view", "indicators_view"],
  ]);
});

/** Dense, obviously-right reference for tiny inputs: one field. */
function bruteForce(
  events: Event[],
  opts: { rows: string; columns: string; cap: number; k: number; min: number },
): Map<string, { ids: string[]; scores: number[] }> {
  const users = [...new Set(events.map((e) => e.user))];
  const items = [...new Set(events.map((e) => e.item))];
  const basket = (u: string, type: string) => {
    const latest = new Map<string, number>();
    for (const e of events) {
      if (e.user === u && e.event === type) {
        latest.set(
          e.item,
          Math.max(latest.get(e.item) ?? -Infinity, e.timestamp),
        );
      }
    }
    return new Set(
      [...latest.entries()]
        .sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : x[0] > y[0] ? 1 : 0))
        .slice(0, opts.cap)
        .map(([item]) => item),
    );
  };
  const rowSets = new Map(users.map((u) => [u, basket(u, opts.rows)]));
  const colSets = new Map(users.map((u) => [u, basket(u, opts.columns)]));
  const result = new Map<string, { ids: string[]; scores: number[] }>();
  for (const a of items) {
    const scored: [string, number][] = [];
    for (const b of items) {
      if (a === b && opts.rows === opts.columns) continue;
      let k11 = 0, k12 = 0, k21 = 0, k22 = 0;
      for (const u of users) {
        const ua = rowSets.get(u)!.has(a), ub = colSets.get(u)!.has(b);
        if (ua && ub) k11++;
        else if (ua) k12++;
        else if (ub) k21++;
        else k22++;
      }
      if (k11 === 0) continue; // never co-occur: not a candidate
      const s = rootLogLikelihoodRatio(k11, k12, k21, k22);
      if (s >= opts.min) scored.push([b, s]);
    }
    scored.sort((x, y) => y[1] - x[1] || (x[0] < y[0] ? -1 : 1));
    const top = scored.slice(0, opts.k);
    result.set(a, { ids: top.map((t) => t[0]), scores: top.map((t) => t[1]) });
  }
  return result;
}

Deno.test("property: every field equals the brute-force reference on 300 random logs", async () => {
  const types = ["transaction", "view", "addtocart"];
  let compared = 0;
  for (let trial = 0; trial < 300; trial++) {
    const rnd = mulberry32(trial + 1);
    const nUsers = 2 + Math.floor(rnd() * 12);
    const nItems = 2 + Math.floor(rnd() * 8);
    const nEvents = 1 + Math.floor(rnd() * 60);
    const events: Event[] = [];
    for (let e = 0; e < nEvents; e++) {
      const r = rnd();
      events.push(ev(
        `u${Math.floor(rnd() * nUsers)}`,
        `i${Math.floor(rnd() * nItems)}`,
        Math.floor(rnd() * 20), // small range: many timestamp ties
        r < 0.4 ? types[0] : r < 0.8 ? types[1] : types[2],
      ));
    }
    // the build needs a primary event
    events.push(ev("u0", "i0", 0, "transaction"));
    const opts = {
      cap: 1 + Math.floor(rnd() * 5),
      k: Math.floor(rnd() * 4),
      min: [-Infinity, 0, 0.5, 1][Math.floor(rnd() * 4)],
    };
    const { documents, fields, stats } = await buildIndicators(events, {
      primaryEvent: P,
      maxHistoryPerUser: opts.cap,
      maxIndicatorsPerItem: opts.k,
      minRootLlr: opts.min,
      weights: "none", // weighting drops non-positive LLR: tested apart
    });
    for (const field of fields) {
      const { rows, columns } = stats.fields[field];
      const expected = bruteForce(events, { ...opts, rows, columns });
      assert.equal(documents.length, expected.size);
      for (const doc of documents) {
        const want = expected.get(doc.id)!;
        const got = (doc as unknown as Record<string, string[]>)[field];
        assert.deepEqual(
          got,
          want.ids,
          `trial ${trial} ${field} item ${doc.id} ${JSON.stringify(opts)}`,
        );
        doc.scores[field].forEach((s, i) => near(s, want.scores[i]));
        compared++;
      }
    }
  }
  assert.ok(compared > 3000, `only ${compared} rows compared`);
});

/*
 * Hand-worked cross-occurrence, fixtures/hand_worked_cco.csv. N = 5 users.
 *   bought: A by u1,u2; B by u3,u4.   viewed: X by u1,u2,u5; Y by u1,u3,u5.
 * indicators_view (bought row × viewed column):
 *   A,X: k = [2,0,1,2]: LLR = 2(2·entropy(2,3) - (5ln5 - 4ln2))
 *        = 10 ln5 - 12 ln3 ≈ 2.91, positive (2/2 vs 1/3).
 *   A,Y: k = [1,1,2,1]: 1/2 vs 2/3, negative. B,Y the same. B,X: k11 = 0.
 * similar_view (viewed × viewed):
 *   X,Y: k = [2,1,1,1]: LLR = 10 ln5 - 12 ln3 - 4 ln2 ≈ 0.139, positive.
 * indicators (bought × bought): A and B never co-occur: empty.
 */
Deno.test("hand-worked cross-occurrence with views and purchases", async () => {
  const { documents, fields, stats } = await buildIndicators(
    readEvents(
      new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
    ),
    { primaryEvent: P, minRootLlr: 0 },
  );
  assert.deepEqual(fields, ["indicators", "indicators_view", "similar_view"]);
  const docs = byId(documents);
  assert.deepEqual(Object.keys(docs), ["X", "Y", "A", "B"]);
  assert.deepEqual(docs.A.indicators_view, ["X"]);
  near(
    docs.A.scores.indicators_view[0],
    Math.sqrt(10 * Math.log(5) - 12 * Math.log(3)),
  );
  assert.deepEqual(docs.B.indicators_view, []);
  assert.deepEqual(docs.X.indicators_view, []); // nobody bought X
  const xy = Math.sqrt(10 * Math.log(5) - 12 * Math.log(3) - 4 * Math.LN2);
  assert.deepEqual(docs.X.similar_view, ["Y"]);
  near(docs.X.scores.similar_view[0], xy);
  assert.deepEqual(docs.Y.similar_view, ["X"]);
  near(docs.Y.scores.similar_view[0], xy);
  assert.deepEqual(docs.A.similar_view, []);
  for (const d of documents) assert.deepEqual(d.indicators, []);
  assert.equal(stats.users, 5);
  assert.deepEqual(stats.fields.indicators_view, {
    rows: "transaction",
    columns: "view",
    pairsScored: 3, // A-X, A-Y, B-Y
    coOccurrences: 4, // u1: 1 bought × 2 viewed, u2: 1 × 1, u3: 1 × 1
    indicatorsKept: 1,
    millis: stats.fields.indicators_view.millis,
    passes: 1,
  });
  assert.equal(stats.fields.similar_view.pairsScored, 2); // X-Y, Y-X
});

Deno.test("event types: defaults, overrides and clear errors", () => {
  const read = { transaction: 2, view: 9, addtocart: 3, fav: 1 };
  assert.deepEqual(
    indicatorFields(read, { primaryEvent: P }).map((f) => f.field),
    [
      "indicators",
      "indicators_addtocart",
      "indicators_fav",
      "indicators_view",
      "similar_view",
    ],
  );
  assert.deepEqual(
    indicatorFields(read, {
      primaryEvent: P,
      secondaryEvents: ["fav"],
      similarEvent: null,
    }),
    [
      { field: "indicators", rows: "transaction", columns: "transaction" },
      { field: "indicators_fav", rows: "transaction", columns: "fav" },
    ],
  );
  assert.deepEqual(
    indicatorFields(read, {
      primaryEvent: P,
      secondaryEvents: [],
      similarEvent: "addtocart",
    })
      .map((f) => f.field),
    ["indicators", "similar_addtocart"],
  );
  assert.throws(() => indicatorFields({}, { primaryEvent: P }), {
    message: "no events in the input",
  });
  assert.throws(
    () =>
      indicatorFields(read, { primaryEvent: P, secondaryEvents: ["click"] }),
    {
      message:
        'no "click" events in the input (event types seen: transaction, view, addtocart, fav); set the secondary event type',
    },
  );
  assert.throws(
    () =>
      indicatorFields({ transaction: 1, "page view": 1 }, { primaryEvent: P }),
    {
      message:
        'event type "page view" cannot name an index field (use letters, digits, _ or -)',
    },
  );
  assert.throws(
    () =>
      indicatorFields(read, {
        primaryEvent: P,
        secondaryEvents: ["transaction"],
      }),
    {
      message: '"transaction" is the primary event; it cannot be secondary too',
    },
  );
});

Deno.test("per-field options override the defaults", async () => {
  const events = await Array.fromAsync(
    readEvents(
      new URL("../fixtures/demo_events.csv", import.meta.url).pathname,
    ),
  );
  // counted weights: learned ones fit the history fields jointly, so one
  // field's options would move the others' weights
  const top = { primaryEvent: P, minRootLlr: 5, weights: "llr-idf" } as const;
  const base = await buildIndicators(events, top);
  const tuned = await buildIndicators(events, {
    ...top,
    fields: { indicators_view: { minRootLlr: 2, maxIndicatorsPerItem: 3 } },
  });
  assert.equal(
    tuned.stats.fields.indicators.indicatorsKept,
    base.stats.fields.indicators.indicatorsKept,
  );
  for (const d of tuned.documents) {
    assert.ok(d.indicators_view.length <= 3);
    for (const s of d.scores.indicators_view) assert.ok(s >= 2);
  }
  assert.ok(
    tuned.stats.fields.indicators_view.indicatorsKept >
      base.stats.fields.indicators_view.indicatorsKept,
  );
  // a field's significance level replaces the top-level root LLR
  const level = await buildIndicators(events, {
    ...top,
    fields: { indicators_view: { significance: 0.05 } },
  });
  const field = (name: string) =>
    level.manifest.fields.find((f) => f.name === name)!;
  const indicators = field("indicators"), view = field("indicators_view");
  assert.equal(indicators.minRootLlr, 5);
  assert.equal(indicators.significance, undefined);
  assert.equal(view.significance, 0.05);
  assert.equal(view.minRootLlr!.toFixed(4), "1.9600");
  let low = 0;
  for (const d of level.documents) {
    for (const s of d.scores.indicators_view) {
      assert.ok(s >= view.minRootLlr!);
      if (s < 5) low++;
    }
  }
  assert.ok(low > 0);
  await assert.rejects(
    () =>
      buildIndicators(events, {
        ...top,
        fields: { indicators_view: { minRootLlr: 2, significance: 0.05 } },
      }),
    {
      name: "ConfigError",
      message:
        "fields.indicators_view.significance and minRootLlr are exclusive (one threshold)",
    },
  );
});

// A default build at ×40 RetailRocket's size spent its 9.4M items' learned
// weights at ~50 items/s (days): the work grows with the square of the
// log. With weights unset, past maxLearnWork the counted weights stay.
Deno.test("learned weights by default give way to llr-idf past maxLearnWork, with the work counted exactly", async () => {
  const random = mulberry32(11);
  const events: Event[] = [];
  for (let u = 0; u < 60; u++) {
    for (let e = 0; e < 8; e++) {
      const item = `i${Math.floor(random() ** 2 * 25)}`;
      events.push(ev(`u${u}`, item, u * 100 + e, random() < 0.5 ? P : "view"));
    }
  }
  const opts = { primaryEvent: P, minRootLlr: 0, similarEvent: null };
  const counted = await buildIndicators(events, {
    ...opts,
    weights: "llr-idf",
  });
  const learned = await buildIndicators(events, {
    ...opts,
    weights: "learned",
  });
  // the work, brute force: for each document, each history field's
  // indicators' distinct users of the field's column event type
  const usersOf = new Map<string, Set<string>>();
  for (const e of events) {
    const key = `${e.event}\u0000${e.item}`;
    if (!usersOf.has(key)) usersOf.set(key, new Set());
    usersOf.get(key)!.add(e.user);
  }
  let work = 0;
  for (const f of counted.manifest.fields) {
    if (f.rows !== P) continue;
    for (const doc of counted.documents) {
      const ids = (doc as unknown as Record<string, string[]>)[f.name] ?? [];
      for (const id of ids) {
        work += usersOf.get(`${f.columns}\u0000${id}`)!.size;
      }
    }
  }
  assert.ok(work > 0);
  const strip = (m: typeof counted) => ({
    documents: m.documents,
    fields: m.manifest.fields,
  });
  // just past the limit: the counted model, and the stats say why
  const over = await buildIndicators(events, {
    ...opts,
    maxLearnWork: work - 1,
  });
  assert.deepEqual(over.stats.learnedWeightsSkipped, { work, limit: work - 1 });
  assert.deepEqual(strip(over), strip(counted));
  assert.ok(over.manifest.fields.every((f) => f.weights === "llr-idf"));
  // at the limit: learned, as asked for by name
  const at = await buildIndicators(events, { ...opts, maxLearnWork: work });
  assert.equal(at.stats.learnedWeightsSkipped, undefined);
  assert.deepEqual(strip(at), strip(learned));
  // asked for by name, learned whatever the limit
  const named = await buildIndicators(events, {
    ...opts,
    weights: "learned",
    maxLearnWork: 0,
  });
  assert.deepEqual(strip(named), strip(learned));
  assert.ok(learned.manifest.fields.some((f) => f.weights === "learned"));
});
