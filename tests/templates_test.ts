/** Search templates: the queries/ files render to the inline query's results. */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { buildRecommendQuery } from "../elasticsearch/query.ts";
import { normalizeRequest, resolveServing } from "../serving/request.ts";
import { manifestFor } from "../model/manifest.ts";
import {
  loadTemplate,
  registerTemplates,
  renderTemplate,
  templateParams,
  TEMPLATES,
} from "../elasticsearch/templates.ts";
import { esTest } from "./_es.ts";

/** Drops empty arrays, which the templates always emit and inline omits. */
function compact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(compact);
  if (typeof value !== "object" || value === null) return value;
  return Object.fromEntries(
    Object.entries(value)
      .filter(([, v]) => !(Array.isArray(v) && v.length === 0))
      .map(([k, v]) => [k, compact(v)]),
  );
}

const MANIFEST = manifestFor(
  [{ id: "x", indicators: [], indicators_view: [] }],
  {
    primaryEvent: "transaction",
    metadata: {
      available: "boolean",
      popularity: "number",
      category: "keyword",
    },
  },
);

Deno.test("templates render to the inline query body", async () => {
  const requests = [
    { history: ["a", "b"] },
    {
      history: { transaction: ["a"], view: ["b"] },
      fieldBoosts: { indicators_view: 0.5 },
      filters: [{ field: "available", value: true }, {
        field: "popularity",
        gte: 2,
      }],
      boosts: [{ field: "category", values: ["x"], boost: 2 }],
      exclude: ["z"],
      from: 5,
      explain: true,
    },
    { item: "a", num: 3 },
  ];
  for (const name of Object.keys(TEMPLATES) as (keyof typeof TEMPLATES)[]) {
    const source = await loadTemplate(name);
    for (const request of requests) {
      const r = normalizeRequest(request, MANIFEST, resolveServing(MANIFEST));
      assert.deepEqual(
        compact(renderTemplate(source, templateParams(r))),
        compact(buildRecommendQuery(r)),
        `${name} ${JSON.stringify(request)}`,
      );
    }
  }
  assert.throws(() => renderTemplate("{{nope}}", {}), {
    message: 'template parameter "nope" is missing',
  });
  assert.throws(() => renderTemplate("{{#each}}x{{/each}}", {}), {
    message: "unsupported template tag {{#each}}",
  });
});

esTest(
  "client-rendered templates give the inline query's results; no lang-mustache here",
  async ({ client, index }) => {
    const model = await buildIndicators(
      readEvents(
        new URL("../fixtures/demo_events.csv", import.meta.url).pathname,
      ),
      { primaryEvent: "transaction", minRootLlr: 3 },
    );
    const { documents } = model;
    const alias = index("tpl");
    await publishIndex(client, alias, model);
    const inline = new ElasticsearchRecommender(client, alias);
    const templated = new ElasticsearchRecommender(client, alias, {
      queries: "template",
    });
    const embedded = new EmbeddedRecommender(model);
    const ids = documents.map((d) => d.id);
    let nonEmpty = 0;
    for (let i = 0; i < 30; i++) {
      const request = i % 3 === 2
        ? { item: ids[(i * 7) % ids.length], num: 5 }
        : {
          history: {
            transaction: [ids[i % ids.length]],
            view: [ids[(i * 13) % ids.length]],
          },
          filters: i % 2 ? [{ field: "popularity", gte: 1 }] : undefined,
          num: 8,
          explain: i % 4 === 0,
        };
      const a = await inline.recommend(request);
      const b = await templated.recommend(request);
      assert.deepEqual(b, a, JSON.stringify(request));
      assert.deepEqual(b, await embedded.recommend(request));
      if (a.some((r) => !r.backfill)) nonEmpty++;
    }
    assert.ok(nonEmpty >= 15, `only ${nonEmpty} ranked requests`);
    // Storing templates needs lang-mustache, which this distribution lacks.
    const modules = (await client.nodes.info({ metric: "plugins" })).nodes;
    const names = Object.values(modules).flatMap((n) =>
      (n.modules ?? []).map((m) => m.name)
    );
    if (!names.includes("lang-mustache")) {
      await assert.rejects(() => registerTemplates(client), {
        message: `this cluster has no lang-mustache module (it has ${
          [...new Set(names)].sort().join(", ")
        }), so it cannot store search templates; cco-es renders queries/*.mustache client-side instead`,
      });
    } else {
      assert.deepEqual(await registerTemplates(client), Object.keys(TEMPLATES));
      const stored = new ElasticsearchRecommender(client, alias, {
        queries: "stored-template",
      });
      assert.deepEqual(
        await stored.recommend({ history: [ids[0]] }),
        await inline.recommend({ history: [ids[0]] }),
      );
    }
    await client.indices.delete({ index: `${alias}_*` });
  },
);
