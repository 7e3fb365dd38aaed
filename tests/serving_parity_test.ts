/**
 * Serving parity: the same varied requests (per-type histories, field
 * boosts, filters, date ranges, metadata boosts, exclusions, paging,
 * backfill, explain, item-based) against the real node and the embedded
 * backend must give the same ranked ids, flags and explanations, and the
 * same scores to 1e-4 relative.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { mergeItems, readItems } from "../model/items.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { esTest } from "./_es.ts";
import { requests, same } from "./_requests.ts";

const fixtures = new URL("../fixtures/", import.meta.url).pathname;

esTest(
  "serving parity: 120 varied requests, Elasticsearch = embedded",
  async ({ client, index }) => {
    // weighted (sparse_vector, the default) and BM25 (keyword) indices
    for (const weights of ["llr-idf", "none"] as const) {
      const { documents } = await buildIndicators(
        readEvents(`${fixtures}demo_events.csv`),
        { minRootLlr: 3, weights },
      );
      mergeItems(documents, await readItems(`${fixtures}demo_items.csv`));
      const alias = index(`serve-${weights}`);
      await publishIndex(client, alias, documents);
      const es = new ElasticsearchRecommender(client, alias);
      const embedded = new EmbeddedRecommender(documents);
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
