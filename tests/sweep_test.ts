import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { evaluate, histories, lastKSplit } from "../evaluate/evaluate.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { MAX_HISTORY } from "../serving/request.ts";
import { cappedRequest } from "../evaluate/sweep.ts";

Deno.test("sweep: a capped request on one index equals an index with that maxQueryEvents", async () => {
  const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
    .pathname;
  const split = lastKSplit(await Array.fromAsync(readEvents(fixture)), {
    primaryEvent: "transaction",
  });
  const model = await buildIndicators(split.train, {
    primaryEvent: "transaction",
    minRootLlr: 2,
  });
  const { documents } = model;
  const h = histories(split.train, MAX_HISTORY);
  const wide = new EmbeddedRecommender(model, {
    maxQueryEvents: MAX_HISTORY,
  });
  let differs = 0;
  for (const cap of [1, 2, 5]) {
    const narrow = new EmbeddedRecommender(model, { maxQueryEvents: cap });
    for (const user of split.test.keys()) {
      const history = h.get(user) ?? {};
      const want = await narrow.recommend({ history, num: 20 });
      const got = await wide.recommend({
        ...cappedRequest(history, "transaction", cap),
        num: 20,
      });
      assert.deepEqual(got, want, `cap ${cap}, user ${user}`);
      // the cap does change answers here, so the check has teeth
      if (
        JSON.stringify(want) !==
          JSON.stringify(await wide.recommend({ history, num: 20 }))
      ) differs++;
    }
  }
  assert.ok(differs > 10, `only ${differs} answers changed by the cap`);
  // and the grid's evaluation does not depend on which way it is done
  const a = await evaluate(wide, split, (u) => ({
    ...cappedRequest(h.get(u) ?? {}, "transaction", 2),
  }), { catalogue: documents.length });
  const b = await evaluate(
    new EmbeddedRecommender(model, { maxQueryEvents: 2 }),
    split,
    (u) => ({ history: h.get(u) ?? {} }),
    { catalogue: documents.length },
  );
  assert.deepEqual(a, b);
});
