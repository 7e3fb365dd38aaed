import assert from "node:assert/strict";
import { RankingsAccumulator, type RankingSpec } from "./rankings.ts";
import {
  buildIndicators,
  buildIndicatorsLazily,
  type BuildOptions,
  type LazyIndicatorModel,
} from "./build.ts";
import { EventColumns } from "../events/columns.ts";
import type { ModelManifest } from "../model/manifest.ts";
import type { IndicatorDocument } from "../model/document.ts";
import type { Event } from "../events/format.ts";
import { mulberry32 } from "../random/mod.ts";

const HOUR = 3_600_000;

/** A random log: 40 users, 30 items, 3 event types over 10 days. */
function log(seed: number): Event[] {
  const rnd = mulberry32(seed);
  const types = ["buy", "view", "cart"];
  return Array.from({ length: 3000 }, () => ({
    user: `u${Math.floor(rnd() * 40)}`,
    item: `i${Math.floor(rnd() * rnd() * 30)}`,
    event: types[Math.floor(rnd() * rnd() * 3)],
    timestamp: Math.floor(rnd() * 240) * HOUR + Math.floor(rnd() * HOUR),
  }));
}

/** The oracle: counts straight from the events, window by window. */
function oracle(
  events: Event[],
  type: "popular" | "trending" | "hot",
  types: string[],
  start: number,
  end: number,
): Map<string, number> {
  const inWindow = events.filter((e) =>
    types.includes(e.event) && e.timestamp >= start && e.timestamp < end
  );
  const count = (from: number, to: number) => {
    const m = new Map<string, number>();
    for (const e of inWindow) {
      if (e.timestamp >= from && e.timestamp < to) {
        m.set(e.item, (m.get(e.item) ?? 0) + 1);
      }
    }
    return (item: string) => m.get(item) ?? 0;
  };
  const d = end - start;
  const all = count(start, end);
  const [h1, h2] = [count(start, start + d / 2), count(start + d / 2, end)];
  const [t1, t2, t3] = [
    count(start, start + d / 3),
    count(start + d / 3, start + (2 * d) / 3),
    count(start + (2 * d) / 3, end),
  ];
  const out = new Map<string, number>();
  for (
    const item of new Set(
      events.filter((e) => types.includes(e.event)).map((e) => e.item),
    )
  ) {
    out.set(
      item,
      type === "popular"
        ? all(item)
        : type === "trending"
        ? h2(item) - h1(item)
        : (t3(item) - t2(item)) - (t2(item) - t1(item)),
    );
  }
  return out;
}

Deno.test("rankings equal counts taken straight from the events", async () => {
  for (const seed of [1, 2, 3]) {
    const events = log(seed);
    const specs: RankingSpec[] = [
      { name: "pop_all", type: "popular" },
      {
        name: "pop_views",
        type: "popular",
        eventNames: ["view", "cart"],
        duration: "3 days",
        endDate: 5 * 24 * HOUR,
      },
      {
        name: "trend",
        type: "trending",
        duration: 48 * HOUR,
        endDate: "1970-01-09T00:00:00Z",
      },
      {
        name: "hot",
        type: "hot",
        eventNames: ["view"],
        duration: "36 hours",
        endDate: 200 * HOUR,
      },
      // free end: the window ends with the 12-hour period of the last view
      {
        name: "hot_free",
        type: "hot",
        eventNames: ["view"],
        duration: "3 days",
      },
      { name: "trend_free", type: "trending", duration: "2 days" },
    ];
    const checkValues = (r: RankingsAccumulator) => {
      const got = r.values();
      const last = (types: string[]) =>
        Math.max(
          ...events.filter((e) => types.includes(e.event)).map((e) =>
            e.timestamp
          ),
        );
      const freeEnd = (types: string[], duration: number) =>
        (Math.floor(last(types) / (duration / 6)) + 1) * (duration / 6);
      const want: [string, Map<string, number>][] = [
        ["pop_all", oracle(events, "popular", ["buy"], -Infinity, Infinity)],
        [
          "pop_views",
          oracle(
            events,
            "popular",
            ["view", "cart"],
            2 * 24 * HOUR,
            5 * 24 * HOUR,
          ),
        ],
        [
          "trend",
          oracle(events, "trending", ["buy"], 6 * 24 * HOUR, 8 * 24 * HOUR),
        ],
        ["hot", oracle(events, "hot", ["view"], 164 * HOUR, 200 * HOUR)],
        [
          "hot_free",
          oracle(
            events,
            "hot",
            ["view"],
            freeEnd(["view"], 72 * HOUR) - 72 * HOUR,
            freeEnd(["view"], 72 * HOUR),
          ),
        ],
        [
          "trend_free",
          oracle(
            events,
            "trending",
            ["buy"],
            freeEnd(["buy"], 48 * HOUR) - 48 * HOUR,
            freeEnd(["buy"], 48 * HOUR),
          ),
        ],
      ];
      // an item without a value counts 0
      const nonZero = (m: Map<string, number>) =>
        new Map([...m].filter(([, v]) => v !== 0));
      for (const [name, expected] of want) {
        assert.deepEqual(
          nonZero(got.get(name)!),
          nonZero(expected),
          `seed ${seed} ${name}`,
        );
        // the test has teeth: not everything is 0
        assert.ok([...expected.values()].some((v) => v !== 0), name);
      }
      assert.deepEqual(r.manifest()[4], {
        name: "hot_free",
        type: "hot",
        eventNames: ["view"],
        count: "events",
        durationMs: 72 * HOUR,
        endMs: freeEnd(["view"], 72 * HOUR),
      });
    };
    // arrays and single events alike, or column batches (one reused
    // eventTypes array, as a read gives)
    const eventTypes: string[] = [];
    const inputs = [
      [events.slice(0, 100), ...events.slice(100)],
      [
        EventColumns.fromEvents(events.slice(0, 1000), eventTypes),
        EventColumns.fromEvents(events.slice(1000), eventTypes),
      ],
    ];
    for (const input of inputs) {
      const r = new RankingsAccumulator(specs, "buy");
      for await (const _ of r.tap(input)) {
        // pass through
      }
      checkValues(r);
    }
  }
});

Deno.test("a build writes its rankings into the documents and the manifest", async () => {
  const events = log(7);
  // objects; column batches with events spilled to disk and workers;
  // the lazy build
  for (const variant of ["objects", "columns", "lazy"] as const) {
    const input = variant === "objects" ? events : [
      EventColumns.fromEvents(events.slice(0, 700)),
      EventColumns.fromEvents(events.slice(700)),
    ];
    const options: BuildOptions = {
      primaryEvent: "buy",
      minRootLlr: 0,
      rankings: [
        { name: "popularity", type: "popular", count: "events" },
        {
          name: "buyers",
          type: "popular",
          count: "users",
          eventNames: ["buy", "cart"],
        },
        { name: "trending", type: "trending", duration: "4 days" },
      ],
      ...(variant === "objects" ? {} : { memoryBudget: 1, workers: 2 }),
    };
    const model = variant === "lazy"
      ? await buildIndicatorsLazily(input, options)
      : await buildIndicators(input, options);
    const documents = [...model.documents];
    if (variant === "lazy") (model as LazyIndicatorModel).release();
    checkRankings(events, { manifest: model.manifest, documents }, variant);
  }
});

function checkRankings(
  events: Event[],
  model: { manifest: ModelManifest; documents: IndicatorDocument[] },
  variant: string,
) {
  const byId = new Map(model.documents.map((d) => [d.id, d]));
  // popularity counted as events replaces the build's distinct buyers
  const buys = new Map<string, number>();
  const users = new Map<string, Set<string>>();
  for (const e of events) {
    if (e.event === "buy") buys.set(e.item, (buys.get(e.item) ?? 0) + 1);
    if (e.event === "buy" || e.event === "cart") {
      if (!users.has(e.item)) users.set(e.item, new Set());
      users.get(e.item)!.add(e.user);
    }
  }
  // the window ends with the 16-hour period of the last buy
  const period = 16 * HOUR;
  const end = (Math.floor(
    Math.max(
      ...events.filter((e) => e.event === "buy").map((e) => e.timestamp),
    ) /
      period,
  ) + 1) * period;
  const trending = oracle(events, "trending", ["buy"], end - 6 * period, end);
  assert.ok([...trending.values()].some((v) => v !== 0));
  for (const [id, doc] of byId) {
    const at = `${variant} ${id}`;
    assert.equal(doc.metadata!.popularity, buys.get(id) ?? 0, at);
    assert.equal(doc.metadata!.buyers, users.get(id)?.size ?? 0, at);
    assert.equal(doc.metadata!.trending, trending.get(id) ?? 0, at);
  }
  assert.deepEqual(model.manifest.metadata, {
    popularity: "number",
    buyers: "number",
    trending: "number",
  });
  assert.deepEqual(
    model.manifest.rankings!.map((r) => [r.name, r.type, r.count]),
    [
      ["popularity", "popular", "events"],
      ["buyers", "popular", "users"],
      ["trending", "trending", "events"],
    ],
  );
}

Deno.test("minEventsPerUser: the same model as building without those users", async () => {
  const events = log(11).filter((_, i) => i % 5 === 0); // sparser: light users
  const interactionsOf = new Map<string, Set<string>>();
  for (const e of events) {
    if (!interactionsOf.has(e.user)) interactionsOf.set(e.user, new Set());
    interactionsOf.get(e.user)!.add(`${e.item}\u0000${e.event}`);
  }
  const min = 12;
  const heavy = events.filter((e) => interactionsOf.get(e.user)!.size >= min);
  const dropped = interactionsOf.size - new Set(heavy.map((e) => e.user)).size;
  assert.ok(dropped >= 5 && heavy.length > 100, `${dropped} users dropped`);
  const options = { primaryEvent: "buy", minRootLlr: 0 };
  const got = await buildIndicators(events, {
    ...options,
    minEventsPerUser: min,
  });
  const want = await buildIndicators(heavy, options);
  assert.equal(got.manifest.counts.users, want.manifest.counts.users);
  assert.equal(got.manifest.minEventsPerUser, min);
  // items only the dropped users had keep a document, with nothing in it
  const byId = new Map(got.documents.map((d) => [d.id, d]));
  for (const doc of want.documents) {
    assert.deepEqual(byId.get(doc.id), doc, doc.id);
    byId.delete(doc.id);
  }
  for (const doc of byId.values()) {
    assert.deepEqual(doc.indicators, [], doc.id);
    assert.equal(doc.metadata!.popularity, 0, doc.id);
  }
  await assert.rejects(
    () => buildIndicators(events, { ...options, minEventsPerUser: 0 }),
    {
      name: "ConfigError",
      message: "minEventsPerUser must be an integer >= 1, got 0",
    },
  );
});

Deno.test("ranking settings are checked with the key at fault", async () => {
  const cases: [RankingSpec[], string][] = [
    [
      [{ name: "t", type: "trending" }],
      "rankings[0].duration is required for a trending ranking",
    ],
    [
      [{ name: "p", type: "popular", duration: "soon" }],
      'rankings[0].duration must be a positive number of ms or text such as "3 days", got "soon"',
    ],
    [
      [{ name: "p", type: "popular" }, { name: "p", type: "hot", duration: 1 }],
      'rankings[1].name repeats "p"',
    ],
    [
      [{ name: "p", type: "popular", count: "users", duration: "1 day" }],
      "rankings[0].count users is for a popular ranking over all time (no duration)",
    ],
    [
      [{ name: "p", type: "random" as never }],
      'rankings[0].type must be popular, trending or hot, got "random"',
    ],
    [
      [{ name: "p", type: "popular", endDate: "2015-01-01" }],
      "rankings[0].endDate needs a duration",
    ],
  ];
  for (const [rankings, message] of cases) {
    await assert.rejects(
      () => buildIndicators([], { primaryEvent: "buy", rankings }),
      { name: "ConfigError", message },
    );
  }
});
