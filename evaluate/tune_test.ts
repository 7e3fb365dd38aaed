import assert from "node:assert/strict";
import { carveValidation, tune } from "./tune.ts";
import { evaluate, histories, lastKSplit } from "./evaluate.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";

const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
  .pathname;
const events = await Array.fromAsync(readEvents(fixture));
const primaryEvent = "transaction";

Deno.test("tune: the best setting's figures are what a model built with it scores on the validation split", async () => {
  const test = lastKSplit(events, { primaryEvent });
  const validation = carveValidation(test.train, { primaryEvent });
  const result = await tune(validation, {
    build: { primaryEvent },
    budget: Infinity,
    grid: {
      maxQueryEvents: [5, 1024],
      secondaryBoost: [0.5, 1],
      weights: ["learned", "llr-idf"],
      ridge: [5, 200],
      maxIndicatorsPerItem: [10, 100],
      minRootLlr: [0, 2.58],
    },
  });
  assert.equal(result.complete, true);
  assert.equal(result.users, validation.test.size);
  assert.deepEqual(result.best, result.tried[0]);
  assert.ok(result.tried.every((s) => s.ndcg <= result.best.ndcg));
  assert.ok(result.tried.length >= 8, `${result.tried.length} tried`);
  // rebuild the best setting independently and score it the usual way
  const b = result.best;
  const model = await buildIndicators(validation.train, {
    primaryEvent,
    minRootLlr: b.minRootLlr,
    maxIndicatorsPerItem: b.maxIndicatorsPerItem,
    weights: b.weights,
    ridge: b.ridge,
  });
  const recommender = new EmbeddedRecommender(model, {
    maxQueryEvents: b.maxQueryEvents,
  });
  const h = histories(validation.train, 1024);
  const fieldBoosts = Object.fromEntries(
    model.fields.filter((f) => f.startsWith("indicators_")).map((
      f,
    ) => [f, b.secondaryBoost]),
  );
  const direct = await evaluate(recommender, validation, (u) => ({
    history: h.get(u) ?? {},
    fieldBoosts,
  }), { catalogue: model.documents.length, ks: [10] });
  assert.equal(direct.atK[10].mean.ndcg, b.ndcg);
  assert.equal(direct.atK[10].mean.recall, b.recall);
});

Deno.test("tune stops starting new settings when the budget is spent", async () => {
  const validation = carveValidation(events, { primaryEvent });
  const result = await tune(validation, {
    build: { primaryEvent },
    budgetMs: 0,
  });
  assert.equal(result.complete, false);
  assert.equal(result.tried.length, 1);
  assert.deepEqual(result.best, result.start);
  await assert.rejects(
    () => tune({ train: events, test: new Map() }, { build: { primaryEvent } }),
    /the validation split has no test users/,
  );
  assert.throws(
    // deno-lint-ignore no-explicit-any
    () => carveValidation(events, { primaryEvent, protocol: "x" as any }),
    /tune.protocol must be stratified, last-k or time, got "x"/,
  );
});
