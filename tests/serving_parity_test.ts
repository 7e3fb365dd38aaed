/**
 * Serving parity: the same varied requests (per-type histories, field
 * boosts, filters, date ranges, metadata boosts, exclusions, paging,
 * backfill, explain, item-based) against the real node and the embedded
 * backend must give exactly the same results: ranked ids, flags,
 * explanations and (32-bit float) scores.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, readItems } from "../model/items.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import type { Recommendation, RecommendRequest } from "../serving/request.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { manifestFor } from "../model/manifest.ts";
import { esTest } from "./_es.ts";
import { requests, same } from "./_requests.ts";

const fixtures = new URL("../fixtures/", import.meta.url).pathname;

esTest(
  "serving parity: 120 varied requests, Elasticsearch = embedded",
  async ({ client, index }) => {
    // weighted (sparse_vector, the default) and BM25 (keyword) indices
    for (const weights of ["llr-idf", "none"] as const) {
      const model = await buildIndicators(
        readEvents(`${fixtures}demo_events.csv`),
        { primaryEvent: "transaction", minRootLlr: 3, weights },
      );
      const { documents } = model;
      mergeItems(model, await readItems(`${fixtures}demo_items.csv`));
      const alias = index(`serve-${weights}`);
      await publishIndex(client, alias, model);
      const es = new ElasticsearchRecommender(client, alias);
      const embedded = new EmbeddedRecommender(model);
      const all = requests(documents.map((d) => d.id), 120);
      let ranked = 0, backfilled = 0, explained = 0;
      for (const [i, request] of all.entries()) {
        const got = await es.recommend(request);
        const want = await embedded.recommend(request);
        same(`${weights} request ${i} ${JSON.stringify(request)}`, got, want);
        if (want.some((r) => !r.backfill)) ranked++;
        if (want.some((r) => r.backfill)) backfilled++;
        if (want.some((r) => r.because?.length)) explained++;
      }
      // the suite exercises every path
      assert.ok(ranked >= 50, `only ${ranked} requests ranked something`);
      assert.ok(backfilled >= 10, `only ${backfilled} requests backfilled`);
      assert.ok(explained >= 10, `only ${explained} requests explained`);
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);

esTest(
  "date metadata: a declared date compares as an instant on both backends, an undeclared one as text",
  async ({ client, index }) => {
    // every item matches the history equally: the filters alone decide
    const documents: IndicatorDocument[] = ["p0", "p1", "p2", "p3", "p4", "p5"]
      .map((id) => ({ id, indicators: ["a"], scores: { indicators: [1] } }));
    const raw: Record<string, string | number> = {
      p0: "2015-06-01T00:00:00Z",
      p1: "2015-05-31T23:30:00-02:00", // 2015-06-01T01:30Z
      p2: "2015-06-01T00:30:00+02:00", // 2015-05-31T22:30Z
      p3: 1433120400000, // 2015-06-01T01:00Z
      p4: "2015-06-01", // midnight UTC
    };
    const dir = await Deno.makeTempDir();
    try {
      // `expires` declared a date; `label` the same text, undeclared
      await Deno.writeTextFile(
        `${dir}/items.ndjson`,
        Object.entries(raw).map(([id, v]) =>
          JSON.stringify({ id, expires: v, label: String(v) })
        ).join("\n") + '\n{"id":"p5","label":"none"}\n',
      );
      const model = {
        manifest: manifestFor(documents, { primaryEvent: "transaction" }),
        documents,
      };
      mergeItems(
        model,
        await readItems(`${dir}/items.ndjson`, { expires: "date" }),
        {
          expires: "date",
        },
      );
      assert.equal(model.manifest.metadata.expires, "date");
      assert.equal(model.manifest.metadata.label, "keyword");
      const alias = index("dates");
      const { index: name } = await publishIndex(client, alias, model);
      const mapping = await client.indices.getMapping({ index: name });
      const properties = mapping[name].mappings.properties!;
      assert.deepEqual(properties.expires, { type: "date" });
      assert.deepEqual(properties.label, { type: "keyword" });
      const es = new ElasticsearchRecommender(client, alias);
      const embedded = new EmbeddedRecommender(model);
      const ids = (list: Recommendation[]) => list.map((r) => r.id);
      // an independent oracle: instants by Date.parse of explicit-offset
      // text, text by code units
      const instant: Record<string, number> = {
        p0: Date.UTC(2015, 5, 1, 0, 0),
        p1: Date.UTC(2015, 5, 1, 1, 30),
        p2: Date.UTC(2015, 4, 31, 22, 30),
        p3: Date.UTC(2015, 5, 1, 1, 0),
        p4: Date.UTC(2015, 5, 1, 0, 0),
      };
      const bounds: [string | number, number][] = [
        // sorts before "2015-06-01..." as text, is 2015-06-01T01:00Z
        ["2015-05-31T23:00:00-02:00", Date.UTC(2015, 5, 1, 1, 0)],
        ["2015-06-01T01:00:00Z", Date.UTC(2015, 5, 1, 1, 0)],
        ["2015-06-01T03:00:00+02:00", Date.UTC(2015, 5, 1, 1, 0)],
        ["2015-06-01T00:00:00.000Z", Date.UTC(2015, 5, 1)],
        ["2015-06-01", Date.UTC(2015, 5, 1)],
        ["2015-06-01T00:30:00", Date.UTC(2015, 5, 1, 0, 30)], // no offset: UTC
        [1433116800000, Date.UTC(2015, 5, 1)],
      ];
      const ops = {
        gt: (a: number, b: number) => a > b,
        gte: (a: number, b: number) => a >= b,
        lt: (a: number, b: number) => a < b,
        lte: (a: number, b: number) => a <= b,
      };
      const textOps = {
        gt: (a: string, b: string) => a > b,
        gte: (a: string, b: string) => a >= b,
        lt: (a: string, b: string) => a < b,
        lte: (a: string, b: string) => a <= b,
      };
      let differs = 0;
      for (const [bound, at] of bounds) {
        for (const op of ["gt", "gte", "lt", "lte"] as const) {
          const request: RecommendRequest = {
            history: ["a"],
            backfill: false,
            filters: [{ field: "expires", [op]: bound }],
          };
          const label = `expires ${op} ${bound}`;
          const got = await es.recommend(request);
          assert.deepEqual(got, await embedded.recommend(request), label);
          const want = Object.keys(instant).filter((id) =>
            ops[op](instant[id], at)
          ).sort();
          assert.deepEqual(ids(got), want, label);
          if (typeof bound !== "string") continue;
          // the same text on the keyword field compares as text
          const asText: RecommendRequest = {
            ...request,
            filters: [{ field: "label", [op]: bound }],
          };
          const text = await es.recommend(asText);
          assert.deepEqual(
            text,
            await embedded.recommend(asText),
            `label ${op} ${bound}`,
          );
          const wantText = Object.keys(raw).concat("p5").filter((id) =>
            textOps[op](id === "p5" ? "none" : String(raw[id]), bound)
          ).sort();
          assert.deepEqual(ids(text), wantText, `label ${op} ${bound}`);
          if (JSON.stringify(ids(text)) !== JSON.stringify(want)) differs++;
        }
      }
      // the bounds were chosen so that text and instant order disagree
      assert.ok(differs >= 8, `only ${differs} filters differ as text`);
      // equality is on the instant too, whatever the offset written
      for (
        const request of [
          {
            filters: [{ field: "expires", value: "2015-06-01T03:30:00+02:00" }],
          },
          {
            filters: [{
              field: "expires",
              values: ["2015-06-01T00:00:00+00:00", 1433120400000],
            }],
          },
          {
            dateRange: { field: "expires", after: "2015-06-01T00:30:00+00:00" },
          },
          {
            dateRange: {
              field: "expires",
              before: "2015-06-01T02:00:00+02:00",
            },
          },
        ] as RecommendRequest[]
      ) {
        const full = { ...request, history: ["a"], backfill: false };
        const got = await es.recommend(full);
        assert.deepEqual(
          got,
          await embedded.recommend(full),
          JSON.stringify(request),
        );
        assert.ok(got.length > 0, JSON.stringify(request));
      }
      assert.deepEqual(
        ids(
          await es.recommend({
            history: ["a"],
            backfill: false,
            filters: [{ field: "expires", value: "2015-06-01T03:30:00+02:00" }],
          }),
        ),
        ["p1"],
      );
      // a value the field's type cannot hold is the request's error on both
      for (const backend of [es, embedded]) {
        await assert.rejects(
          () =>
            backend.recommend({
              history: ["a"],
              filters: [{ field: "expires", gt: "soon" }],
            }),
          {
            name: "RequestError",
            path: "request.filters[0].gt",
            message:
              'request.filters[0].gt must be an ISO date or unix ms ("expires" is a date field), got "soon"',
          },
        );
      }
      await client.indices.delete({ index: `${alias}_*` });
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
