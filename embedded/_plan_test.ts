/**
 * The fast plan against the general one, and the ranking against a plain
 * oracle: on random models (weighted and keyword fields, two event types,
 * metadata) and random requests (duplicates, unknown ids, exclusions,
 * paging, engine rules), the fast path plans exactly what
 * `normalizeRequest` + `planOf` plan, and every answer equals the general
 * path's (`explain` forces it) and a full sort of every document's score.
 */
import assert from "node:assert/strict";
import { fastPlan, indexDocuments, type Plan, planOf } from "./_plan.ts";
import { EmbeddedRecommender, matchesFilter } from "./recommender.ts";
import { keywordTermScore } from "./bm25.ts";
import {
  historyFields,
  manifestFor,
  type ModelManifest,
} from "../model/manifest.ts";
import {
  normalizeRequest,
  type Recommendation,
  type RecommendRequest,
  resolveServing,
  type ServingOptions,
} from "../serving/request.ts";
import { featureValue } from "../indicators/weights.ts";
import { compareIds, type IndexableDocument } from "../model/document.ts";
import { mulberry32 } from "../random/mod.ts";

const f = Math.fround;

function randomModel(random: () => number, size: number) {
  const ids = Array.from({ length: size }, (_, i) => `i${i}`);
  const pick = () => ids[Math.floor(random() * ids.length)];
  const documents: IndexableDocument[] = ids.map((id) => {
    // duplicates in a list on purpose: one value per feature / term
    const buy = Array.from({ length: Math.floor(random() * 8) }, pick);
    const view = Array.from({ length: Math.floor(random() * 6) }, pick);
    return {
      id,
      indicators: buy,
      indicators_view: view,
      weights: {
        // few distinct weights, so that scores tie; some tiny
        indicators: buy.map(() =>
          [0.5, 1, 1.37, 2 ** -126, 3e-5, 0.7071][Math.floor(random() * 6)]
        ),
      },
      metadata: {
        popularity: Math.floor(random() * 4),
        category: ["a", "b", "c"][Math.floor(random() * 3)],
      },
    };
  });
  const manifest = manifestFor(documents, { primaryEvent: "buy" });
  // indicators weighted, indicators_view a keyword field
  manifest.fields = manifest.fields.map((field) =>
    field.name === "indicators"
      ? { ...field, weights: "given" }
      : { ...field, weights: "none" }
  );
  return { ids, documents, manifest };
}

function randomRequest(
  random: () => number,
  ids: string[],
): RecommendRequest {
  const pick = () =>
    random() < 0.1 ? `unknown${Math.floor(random() * 3)}` : ids[
      Math.floor(random() * ids.length)
    ];
  const list = () => Array.from({ length: Math.floor(random() * 12) }, pick);
  const r: Record<string, unknown> = {};
  const form = random();
  if (form < 0.4) r.history = list();
  else if (form < 0.8) {
    r.history = random() < 0.5
      ? { view: list(), buy: list() }
      : { buy: list(), view: list() };
  }
  if (random() < 0.5) r.num = 1 + Math.floor(random() * 8);
  if (random() < 0.3) r.from = Math.floor(random() * 4);
  if (random() < 0.3) r.exclude = list();
  if (random() < 0.3) r.excludeSeen = random() < 0.5;
  if (random() < 0.3) r.backfill = random() < 0.5;
  return r as RecommendRequest;
}

// a plan without its scratch capacity, to compare
function comparable(plan: Plan) {
  const k = plan.count;
  return {
    fields: plan.index.slice(0, k).map((i) => i.docs),
    start: [...plan.start.subarray(0, k)],
    end: [...plan.end.subarray(0, k)],
    score: [...plan.score.subarray(0, k)],
    clauses: plan.clauses,
    postings: plan.postings,
    positive: plan.positive,
    exclude: [...new Set(plan.exclude)].sort((a, b) => a - b),
    num: plan.options.num,
    from: plan.options.from,
    window: plan.options.window,
    backfill: plan.options.backfill,
    explain: plan.options.explain,
    dither: plan.options.dither,
    rankBy: [...plan.options.rankBy],
    filters: plan.options.filters,
    boosts: plan.options.boosts,
  };
}

const SERVINGS: ServingOptions[] = [
  {},
  { maxQueryEvents: 3 },
  { fieldBoosts: { indicators: 0.3, indicators_view: 1.1 } },
  // a boost so small that a match can add 0: the sparse path
  { fieldBoosts: { indicators: 1e-7 } },
  { excludeSeen: false, backfill: false, num: 4 },
  {
    filters: [{ field: "category", values: ["a", "b"] }],
    boosts: [{ field: "category", values: ["b"], boost: 0.75 }],
  },
  {
    rankBy: ["popularity"],
    fields: [{ name: "category", values: ["c"], bias: 0 }],
  },
];

Deno.test("the fast plan equals normalizeRequest + planOf on every request it takes", () => {
  const random = mulberry32(42);
  let taken = 0;
  for (let m = 0; m < 12; m++) {
    const { ids, documents, manifest } = randomModel(random, 5 + m * 7);
    const index = indexDocuments(documents, manifest);
    for (const options of SERVINGS) {
      const serving = resolveServing(manifest, options);
      const context = {
        primaryEvent: manifest.primaryEvent,
        historyFields: historyFields(manifest),
        serving,
        seen: new Uint8Array(index.termIds.size),
      };
      for (let q = 0; q < 40; q++) {
        const request = randomRequest(random, ids);
        const fast = fastPlan(index, request, context);
        assert.ok(fast, JSON.stringify(request));
        taken++;
        const general = planOf(
          index,
          normalizeRequest(request, manifest, serving),
        );
        assert.deepEqual(
          comparable(fast),
          comparable(general),
          JSON.stringify(request),
        );
        // the scratch is left clean
        assert.ok(context.seen.every((x) => x === 0));
      }
    }
  }
  assert.equal(taken, 12 * SERVINGS.length * 40);
});

Deno.test("the fast plan leaves to the general path what it does not read", () => {
  const { documents, manifest } = randomModel(mulberry32(1), 10);
  const index = indexDocuments(documents, manifest);
  const context = (options: ServingOptions = {}) => ({
    primaryEvent: "buy",
    historyFields: historyFields(manifest),
    serving: resolveServing(manifest, options),
    seen: new Uint8Array(index.termIds.size),
  });
  const refused: unknown[] = [
    null,
    ["i1"],
    { history: ["i1"], explain: true },
    { history: ["i1"], user: "u" },
    { history: ["i1"], num: 0 },
    { history: [""] },
    { history: { like: ["i1"] } },
    { history: ["i1"], from: 9995, num: 10 },
    { history: Array.from({ length: 1025 }, (_, i) => `x${i}`) },
    { history: ["i1"], filters: [] },
    { item: "i1" },
  ];
  for (const request of refused) {
    assert.equal(
      fastPlan(index, request, context()),
      undefined,
      JSON.stringify(request),
    );
  }
  // the availability window is read at the request's instant
  assert.equal(
    fastPlan(index, { history: ["i1"] }, context({ expireDateName: "end" })),
    undefined,
  );
});

// every document scored in full, sorted: score, rankBy, id
function oracle(
  documents: IndexableDocument[],
  manifest: ModelManifest,
  options: ServingOptions,
  request: RecommendRequest,
): Recommendation[] {
  const serving = resolveServing(manifest, options);
  const r = normalizeRequest(request, manifest, serving);
  // BM25 statistics of the keyword field
  const viewDocs = documents.map((d) => new Set(d.indicators_view as string[]));
  const docCount = viewDocs.filter((s) => s.size > 0).length;
  const sumDocFreq = viewDocs.reduce((n, s) => n + s.size, 0);
  const banned = new Set(r.exclude);
  const meta = (d: IndexableDocument) => d.metadata!;
  const passes = (d: IndexableDocument) =>
    !banned.has(d.id) &&
    r.filters.every((x) =>
      matchesFilter(meta(d), x, manifest.metadata[x.field]) !== !!x.not
    );
  const scored = documents.map((d, i) => {
    let sum = 0, hit = false;
    for (const c of r.clauses) {
      if (c.field === "indicators") {
        const list = d.indicators as string[];
        const at = list.lastIndexOf(c.item);
        if (at < 0) continue;
        sum += f(f(c.boost) * featureValue(d.weights!.indicators[at]));
        hit = true;
      } else if (viewDocs[i].has(c.item)) {
        const df = viewDocs.filter((s) => s.has(c.item)).length;
        sum += keywordTermScore({
          docFreq: df,
          docCount,
          sumDocFreq,
          boost: c.boost,
        });
        hit = true;
      }
    }
    let boost = 0, boosted = false;
    for (const b of r.boosts) {
      if (b.values.includes(meta(d)[b.field] as string)) {
        boost += f(b.boost);
        boosted = true;
      }
    }
    // no history: the boosts rank the items they match
    if (r.clauses.length === 0) return { d, score: f(boost), hit: boosted };
    const score = boosted ? f(f(sum) + f(boost)) : f(sum);
    return { d, score, hit };
  });
  const popularity = (d: IndexableDocument) => meta(d).popularity as number;
  const order = (
    a: { d: IndexableDocument; score: number },
    b: { d: IndexableDocument; score: number },
  ) =>
    b.score - a.score || popularity(b.d) - popularity(a.d) ||
    compareIds(a.d.id, b.d.id);
  const matches = scored.filter((x) => x.hit && passes(x.d)).sort(order);
  const out: Recommendation[] = matches.slice(0, r.from + r.num).map((x) => ({
    id: x.d.id,
    score: x.score,
  }));
  if (r.backfill && out.length < r.from + r.num) {
    const taken = new Set(out.map((x) => x.id));
    for (
      const x of scored.map((x) => ({ ...x, score: 0 })).sort(order)
    ) {
      if (out.length >= r.from + r.num) break;
      if (taken.has(x.d.id) || !passes(x.d)) continue;
      out.push({ id: x.d.id, score: 0, backfill: true });
    }
  }
  return out.slice(r.from);
}

Deno.test("fast, general and oracle answers are equal, scores to the bit", async () => {
  const random = mulberry32(7);
  for (let m = 0; m < 8; m++) {
    const { ids, documents, manifest } = randomModel(random, 4 + m * 9);
    for (const options of SERVINGS) {
      const recommender = new EmbeddedRecommender(
        { manifest, documents },
        options,
      );
      for (let q = 0; q < 30; q++) {
        const request = randomRequest(random, ids);
        const got = await recommender.recommend(request);
        const general = (await recommender.recommend({
          ...request,
          explain: true,
        })).map(({ because: _, ...rest }) => rest);
        const what = `${JSON.stringify(options)} ${JSON.stringify(request)}`;
        assert.deepEqual(got, general, what);
        assert.deepEqual(
          got,
          oracle(documents, manifest, options, request),
          what,
        );
      }
    }
  }
});

Deno.test("a request whose reading asks the same recommender again (a getter, a proxy) gets its own answer: the scratch a fast plan is read into is not shared with the inner request", async () => {
  const { documents, manifest } = randomModel(mulberry32(3), 30);
  const recommender = new EmbeddedRecommender({ manifest, documents });
  const outer: RecommendRequest = {
    history: { buy: ["i1", "i2"], view: ["i3"] },
    num: 5,
    exclude: ["i4"],
  };
  const inner: RecommendRequest = {
    history: ["i5", "i6", "i7"],
    num: 2,
    backfill: false,
  };
  const want = await recommender.recommend(outer);
  const innerWant = await recommender.recommend(inner);
  const innerGot: Recommendation[][] = [];
  // each read of `history` asks for another user's answer first
  const asking = {
    ...outer,
    get history() {
      recommender.recommend(inner).then((r) => innerGot.push(r));
      return outer.history;
    },
  };
  assert.deepEqual(await recommender.recommend(asking), want);
  // a list that asks while it is iterated
  const list = ["i1", "i2", "i8"];
  const iterating = new Proxy(list, {
    get(target, key, receiver) {
      if (key === "1") {
        recommender.recommend(inner).then((r) => innerGot.push(r));
      }
      return Reflect.get(target, key, receiver);
    },
  });
  assert.deepEqual(
    await recommender.recommend({ history: iterating, num: 4 }),
    await recommender.recommend({ history: list, num: 4 }),
  );
  // a batch line answered from a getter
  const line = new TextEncoder().encode(
    JSON.stringify({ user: "u", ...inner }),
  );
  const lineWant = recommender.answerBatchLine(line, 0, line.length);
  assert.ok(lineWant);
  const lines: unknown[] = [];
  const answering = {
    ...outer,
    get history() {
      lines.push(recommender.answerBatchLine(line, 0, line.length));
      return outer.history;
    },
  };
  assert.deepEqual(await recommender.recommend(answering), want);
  assert.deepEqual(lines, [lineWant, lineWant]);
  assert.ok(innerGot.length >= 3);
  for (const got of innerGot) assert.deepEqual(got, innerWant);
});
