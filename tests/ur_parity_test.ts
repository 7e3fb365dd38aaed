/**
 * Serving at the Universal Recommender's level, on both backends: the UR's
 * hand-made integration queries replayed on a log of the same shape with
 * UR-like settings, and varied requests using every feature added for it
 * (UR `fields` rules, negated filters, boosts without history, rankings for
 * backfill and ties, the availability window, item-based queries on the
 * items' own indicators, item plus user): Elasticsearch and the embedded
 * backend must answer exactly alike (ids, order, flags, scores).
 */
import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { readEvents } from "../events/read.ts";
import type { Event } from "../events/format.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, parseItems, readItems } from "../model/items.ts";
import { MemoryEventStore, withUserHistory } from "../serving/event_store.ts";
import type {
  Recommendation,
  Recommender,
  RecommendRequest,
  ServingOptions,
} from "../serving/request.ts";
import { esTest } from "./_es.ts";

const DAY = 86_400_000;
const T0 = Date.UTC(2015, 7, 10); // 2015-08-10

// The UR's hand-made test log, in its shape (purchases, views of category
// pages, category preferences); items with categories and dates.
const LOG: [string, string, string][] = [
  ["u1", "purchase", "iphone"],
  ["u1", "purchase", "ipad"],
  ["u2", "purchase", "nexus"],
  ["u2", "purchase", "galaxy"],
  ["u3", "purchase", "surface"],
  ["u4", "purchase", "iphone"],
  ["u4", "purchase", "galaxy"],
  ["u6", "purchase", "ipad"],
  ["u6", "purchase", "nexus"],
  ["u1", "view", "phones"],
  ["u1", "view", "mobile_acc"],
  ["u2", "view", "phones"],
  ["u2", "view", "tablets"],
  ["u2", "view", "mobile_acc"],
  ["u3", "view", "mobile_acc"],
  ["u4", "view", "phones"],
  ["u4", "view", "tablets"],
  ["u4", "view", "soap"],
  ["u5", "view", "soap"],
  ["u6", "view", "tablets"],
  ["u1", "category-pref", "phones"],
  ["u2", "category-pref", "tablets"],
  ["u3", "category-pref", "tablets"],
  ["u5", "category-pref", "phones"],
];
const ITEMS = [
  {
    id: "iphone",
    category: "phones",
    date: "2015-08-20",
    available: "2015-08-01",
  },
  // expired on 2015-09-01: only a currentDate before it shows the ipad
  {
    id: "ipad",
    category: "tablets",
    date: "2015-08-25",
    available: "2015-08-01",
    expires: "2015-09-01",
  },
  {
    id: "nexus",
    category: "tablets",
    date: "2015-08-30",
    available: "2015-08-15",
  },
  {
    id: "galaxy",
    category: "phones",
    date: "2015-09-03",
    available: "2015-08-31",
  },
  {
    id: "surface",
    category: "tablets",
    date: "2015-09-10",
    available: "2015-08-01",
  },
];
const events: Event[] = LOG.map(([user, event, item], i) => ({
  user,
  event,
  item,
  timestamp: T0 + i * DAY / 4,
}));

const at = (iso: string) => `${iso}T11:28:45.114-07:00`;

// multi-query-handmade.sh, query by query, in cco-es terms: user ->
// user (event store), blacklistItems -> exclude, fields -> fields,
// dateRange.name -> dateRange.field, currentDate -> currentDate
const UR_QUERIES: [string, RecommendRequest][] = [
  ["user u1", { user: "u1" }],
  ["user u2", { user: "u2" }],
  ["user u3", { user: "u3" }],
  ["user u4", { user: "u4" }],
  ["user u5", { user: "u5" }],
  ["u1 tablets boost 5", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["tablets"], bias: 5 }],
  }],
  ["u1 phones boost 2", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["phones"], bias: 2 }],
  }],
  ["u1 tablets filter", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["tablets"], bias: -2 }],
  }],
  ["u1 phones filter", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["phones"], bias: -2 }],
  }],
  ["u1 num 1", { user: "u1", num: 1 }],
  ["item surface", { item: "surface", num: 4 }],
  ["u5 num 4", { user: "u5", num: 4 }],
  ["u1 tablets boost, no ipad", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["tablets"], bias: 2 }],
    exclude: ["ipad"],
  }],
  ["u1 phones boost, no ipad", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["phones"], bias: 2 }],
    exclude: ["ipad"],
  }],
  ["u1 tablets filter, no ipad", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["tablets"], bias: -2 }],
    exclude: ["ipad"],
  }],
  ["u1 phones filter, no ipad", {
    user: "u1",
    num: 4,
    fields: [{ name: "category", values: ["phones"], bias: -2 }],
    exclude: ["ipad"],
  }],
  ["u1 no ipad", { user: "u1", exclude: ["ipad"] }],
  ["item surface, no ipad", { item: "surface", num: 4, exclude: ["ipad"] }],
  ["u5 no iphone", { user: "u5", num: 4, exclude: ["iphone"] }],
  ["item galaxy", { item: "galaxy" }],
  ["u1 again", { user: "u1" }],
  ["u1 no galaxy", { user: "u1", exclude: ["galaxy"] }],
  ["u1 after 8-12", {
    user: "u1",
    dateRange: { field: "date", after: at("2015-08-12") },
  }],
  ["u1 before 10-01", {
    user: "u1",
    dateRange: { field: "date", before: at("2015-10-01") },
  }],
  ["u1 before 8-31 after 9-02 (empty)", {
    user: "u1",
    dateRange: {
      field: "date",
      before: at("2015-08-31"),
      after: at("2015-09-02"),
    },
  }],
  ["u1 tablets, narrow range", {
    user: "u1",
    fields: [{ name: "category", values: ["tablets"], bias: -2 }],
    dateRange: {
      field: "date",
      before: at("2015-08-31"),
      after: at("2015-09-02"),
    },
  }],
  ["u3 phones boost, wide range", {
    user: "u3",
    fields: [{ name: "category", values: ["phones"], bias: 2 }],
    dateRange: {
      field: "date",
      before: at("2015-09-05"),
      after: at("2015-08-13"),
    },
  }],
  ["u1 num 10", { user: "u1", num: 10 }],
  ["u1 on 09-02", {
    user: "u1",
    num: 10,
    currentDate: "2015-09-02T12:24:41-07:00",
  }],
  ["u1 on 08-30", {
    user: "u1",
    num: 10,
    currentDate: "2015-08-30T12:24:41-07:00",
  }],
  ["unknown u10", { user: "u10", num: 10 }],
  ["u10 tablets boost", {
    user: "u10",
    num: 10,
    fields: [{ name: "category", values: ["tablets"], bias: 1.005 }],
  }],
  ["u10 tablets filter", {
    user: "u10",
    num: 10,
    fields: [{ name: "category", values: ["tablets"], bias: -1 }],
  }],
  ["u10 tablets filter on 09-02", {
    user: "u10",
    num: 10,
    currentDate: "2015-09-02T12:24:41-07:00",
    fields: [{ name: "category", values: ["tablets"], bias: -1 }],
  }],
  // what the UR's later versions add, and checks of the window
  ["u10 on 08-30", {
    user: "u10",
    num: 10,
    currentDate: "2015-08-30T12:24:41-07:00",
  }],
  ["u1 no tablets (bias 0)", {
    user: "u1",
    num: 10,
    fields: [{ name: "category", values: ["tablets"], bias: 0 }],
  }],
  ["u1 and item nexus", { user: "u1", item: "nexus", num: 10 }],
  ["no user, no item", { num: 10 }],
];

esTest(
  "the UR's hand-made integration queries: Elasticsearch = embedded, UR semantics",
  async ({ client, index }) => {
    // UR-like settings: unweighted, every co-occurring pair kept, purchase
    // primary, view and category-pref secondary
    const model = await buildIndicators(events, {
      primaryEvent: "purchase",
      secondaryEvents: ["view", "category-pref"],
      similarEvent: null,
      weights: "none",
      minRootLlr: -Infinity,
    });
    const declared = {
      date: "date",
      available: "date",
      expires: "date",
    } as const;
    mergeItems(
      model,
      await parseItems(
        ITEMS.map((i) => JSON.stringify(i)).join("\n"),
        "items.ndjson",
        declared,
      ),
      declared,
    );
    const alias = index("ur-handmade");
    await publishIndex(client, alias, model);
    // the UR's engine.json: availableDateName, expireDateName, item queries
    // on the item's own indicators
    const serving: ServingOptions = {
      availableDateName: "available",
      expireDateName: "expires",
      itemQuery: "indicators",
      num: 4,
    };
    const store = new MemoryEventStore();
    for (const e of events) await store.recordEvent(e);
    const es = withUserHistory(
      new ElasticsearchRecommender(client, alias, serving),
      store,
    );
    const embedded = withUserHistory(
      new EmbeddedRecommender(model, serving),
      store,
    );
    const answers = new Map<string, Recommendation[]>();
    for (const [label, request] of UR_QUERIES) {
      const got = await es.recommend(request);
      assert.deepEqual(got, await embedded.recommend(request), label);
      answers.set(label, got);
    }
    const ids = (label: string) => answers.get(label)!.map((r) => r.id);
    const category = new Map(ITEMS.map((i) => [i.id, i.category]));
    // never the expired ipad unless asked on an earlier date; never the
    // user's purchases
    for (const [label, list] of answers) {
      if (!label.includes("08-30")) {
        assert.ok(!ids(label).includes("ipad"), label);
      }
      if (label.startsWith("u1 ")) {
        assert.ok(!list.some((r) => r.id === "iphone"), label);
      }
    }
    assert.ok(ids("u10 on 08-30").includes("ipad"));
    // galaxy becomes available on 08-31
    assert.ok(!ids("u10 on 08-30").includes("galaxy"));
    assert.ok(!ids("u1 on 08-30").includes("galaxy"));
    assert.ok(ids("u1 on 09-02").includes("galaxy"));
    // filters keep only, bias 0 excludes, boosts reorder
    for (const label of ["u1 tablets filter", "u10 tablets filter"]) {
      assert.ok(
        ids(label).every((id) => category.get(id) === "tablets"),
        label,
      );
    }
    assert.ok(
      ids("u1 phones filter").every((id) => category.get(id) === "phones"),
    );
    assert.ok(
      !ids("u1 no tablets (bias 0)").some((id) =>
        category.get(id) === "tablets"
      ),
    );
    assert.ok(ids("u1 no tablets (bias 0)").length > 0);
    // an unknown user: every answer from popularity, most popular first
    assert.ok(answers.get("unknown u10")!.every((r) => r.backfill));
    // boosts without history: the tablets first, ranked by the boost
    const boosted = answers.get("u10 tablets boost")!;
    const tablets = boosted.filter((r) => category.get(r.id) === "tablets");
    assert.ok(tablets.length >= 2);
    assert.deepEqual(boosted.slice(0, tablets.length), tablets);
    assert.ok(
      tablets.every((r) => r.score === Math.fround(1.005) && !r.backfill),
    );
    // an empty date range: nothing
    assert.deepEqual(ids("u1 before 8-31 after 9-02 (empty)"), []);
    // a dateRange's after is exclusive: galaxy (09-03) is in, dated after 8-13
    assert.ok(ids("u3 phones boost, wide range").includes("galaxy"));
    // item plus user: the item's indicator clauses join the user's history
    const joint = answers.get("u1 and item nexus")!;
    assert.ok(!joint.some((r) => r.id === "nexus" || r.id === "iphone"));
    assert.notDeepEqual(joint, answers.get("u1 num 10"));
    await client.indices.delete({ index: `${alias}_*` });
  },
);

const fixtures = new URL("../fixtures/", import.meta.url).pathname;

function requests(ids: string[], n: number, seed: number): RecommendRequest[] {
  const rnd = mulberry32(seed);
  const pick = () => ids[Math.floor(rnd() * ids.length)];
  const some = (max: number) =>
    Array.from({ length: 1 + Math.floor(rnd() * max) }, pick);
  const categories = ["camping", "kitchen", "garden", "cycling", "office"];
  const category = () => categories[Math.floor(rnd() * categories.length)];
  const out: RecommendRequest[] = [];
  for (let i = 0; i < n; i++) {
    const r: RecommendRequest = {};
    const shape = i % 6;
    if (shape === 0) r.history = some(5);
    else if (shape === 1) r.history = { transaction: some(2), view: some(5) };
    else if (shape === 2) {
      r.item = pick();
      r.itemQuery = rnd() < 0.5 ? "indicators" : "cooccurrence";
    } else if (shape === 3) {
      // item plus a history
      r.history = { view: some(3) };
      r.items = some(2);
      r.itemQuery = "indicators";
    }
    // shape 4 and 5: no history: boosts rank, or popularity alone
    const rules = Math.floor(rnd() * 16);
    if (rules & 1) {
      r.fields = [{
        name: "category",
        values: [category(), category()],
        bias: [0, -1, 1.5][i % 3],
      }];
    }
    if (rules & 2 || shape === 4) {
      r.boosts = [
        {
          field: "category",
          values: [category()],
          boost: 1 + Math.floor(rnd() * 3),
        },
        ...(rnd() < 0.5
          ? [{ field: "available", values: [true], boost: 0.5 }]
          : []),
      ];
    }
    if (rules & 4) {
      r.filters = [
        rnd() < 0.5
          ? { field: "available", value: false, not: true }
          : { field: "popularity", lt: 2, not: true },
      ];
    }
    if (rules & 8) {
      r.currentDate = Date.UTC(2015, 5, 1) + Math.floor(rnd() * 90) * DAY;
    }
    if (i % 7 === 0) {
      r.dateRange = rnd() < 0.5
        ? { after: "2015-07-01" }
        : { before: "2015-08-01" };
    }
    if (i % 5 === 0) {
      r.rankBy = [["trending"], ["hot", "popularity"], ["popularity"]][i % 3];
    }
    if (i % 6 === 1) r.exclude = some(3);
    if (i % 4 === 0) r.from = Math.floor(rnd() * 5);
    r.num = 1 + Math.floor(rnd() * 12);
    if (i % 8 === 0) r.backfill = false;
    if (i % 3 === 0) r.explain = true;
    if (i % 10 === 9) {
      r.dither = { seed: `user-${i}`, epsilon: 2, periodMs: 1e15 };
    }
    out.push(r);
  }
  return out;
}

esTest(
  "varied requests with every new feature: Elasticsearch = embedded",
  async ({ client, index }) => {
    const figures: string[] = [];
    for (const weights of ["llr-idf", "none"] as const) {
      const model = await buildIndicators(
        readEvents(`${fixtures}demo_events.csv`),
        {
          primaryEvent: "transaction",
          minRootLlr: 3,
          weights,
          minEventsPerUser: 2,
          rankings: [
            {
              name: "trending",
              type: "trending",
              eventNames: ["view"],
              duration: "30 days",
            },
            { name: "hot", type: "hot", duration: "45 days" },
          ],
        },
      );
      mergeItems(model, await readItems(`${fixtures}demo_items.csv`));
      // launch and expiry dates for the availability window
      const dates = model.documents.map((d, i) =>
        JSON.stringify({
          id: d.id,
          launch: new Date(Date.UTC(2015, 5, 1) + (i % 60) * DAY).toISOString(),
          ...(i % 4 === 0
            ? {
              expires: new Date(Date.UTC(2015, 6, 1) + (i % 50) * DAY)
                .toISOString(),
            }
            : {}),
        })
      );
      const types = { launch: "date", expires: "date" } as const;
      mergeItems(
        model,
        await parseItems(dates.join("\n"), "dates.ndjson", types),
        types,
      );
      const alias = index(`ur-${weights}`);
      await publishIndex(client, alias, model);
      const engines: [string, ServingOptions][] = [
        ["defaults", {}],
        ["UR-like engine", {
          availableDateName: "launch",
          expireDateName: "expires",
          itemQuery: "indicators",
          rankBy: ["trending", "popularity"],
          fields: [{ name: "category", values: ["office"], bias: 0 }],
          boosts: [{ field: "category", values: ["garden"], boost: 0.25 }],
        }],
      ];
      const all = requests(
        model.documents.map((d) => d.id),
        120,
        weights === "none" ? 5 : 6,
      );
      for (const [label, serving] of engines) {
        const es: Recommender = new ElasticsearchRecommender(
          client,
          alias,
          serving,
        );
        const embedded: Recommender = new EmbeddedRecommender(model, serving);
        let ranked = 0, boostedOnly = 0, backfilled = 0, lookups = 0;
        for (const [i, request] of all.entries()) {
          const got = await es.recommend(request);
          const want = await embedded.recommend(request);
          assert.deepEqual(
            got,
            want,
            `${weights} ${label} ${i} ${JSON.stringify(request)}`,
          );
          if (want.some((r) => !r.backfill)) {
            ranked++;
            if (!request.history && !request.item && !request.items) {
              boostedOnly++;
            }
          }
          if (want.some((r) => r.backfill)) backfilled++;
          if (
            request.itemQuery === "indicators" ||
            (serving.itemQuery && (request.item || request.items))
          ) {
            lookups++;
          }
        }
        // every path is exercised
        assert.ok(ranked >= 40, `${label}: only ${ranked} ranked`);
        assert.ok(
          boostedOnly >= 10,
          `${label}: only ${boostedOnly} ranked by boosts alone`,
        );
        assert.ok(backfilled >= 30, `${label}: only ${backfilled} backfilled`);
        assert.ok(lookups >= 25, `${label}: only ${lookups} item lookups`);
        figures.push(
          `${weights} ${label}: ${all.length} requests, ${ranked} ranked (${boostedOnly} by boosts alone), ${backfilled} backfilled`,
        );
      }
      await client.indices.delete({ index: `${alias}_*` });
    }
    console.log(figures.join("\n"));
  },
);
