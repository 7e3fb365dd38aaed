/**
 * The embedded backend against the real Elasticsearch: the same documents,
 * the same requests, the same ranked ids and (to 1e-4 relative) scores.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import {
  ElasticsearchRecommender,
  indexDocuments,
} from "../elasticsearch/recommender.ts";
import { readEvents } from "../events/read.ts";
import {
  buildIndicators,
  type IndicatorDocument,
} from "../indicators/build.ts";
import { esTest } from "./_es.ts";

const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
  .pathname;

function assertSameRanking(
  label: string,
  es: { id: string; score: number }[],
  embedded: { id: string; score: number }[],
) {
  assert.deepEqual(
    es.map((r) => r.id),
    embedded.map((r) => r.id),
    `${label}: ranked ids differ`,
  );
  es.forEach((r, i) => {
    const e = embedded[i].score;
    assert.ok(
      Math.abs(r.score - e) <= 1e-4 * Math.abs(e),
      `${label}: score of ${r.id} is ${r.score} on ES, ${e} embedded`,
    );
  });
}

/** Deterministic histories: every user's purchases plus random baskets. */
function histories(documents: IndicatorDocument[], n: number): string[][] {
  const ids = documents.map((d) => d.id);
  const out: string[][] = [];
  let seed = 7;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
  for (let i = 0; i < n; i++) {
    const len = 1 + (next() % 8);
    out.push(Array.from({ length: len }, () => ids[next() % ids.length]));
  }
  return out;
}

esTest(
  "embedded backend ranks exactly like Elasticsearch (demo fixture)",
  async ({ client, index }) => {
    for (
      const [minRootLlr, weights] of [
        [5, "llr-idf"],
        [2, "llr-idf"],
        [5, "none"],
        [2, "none"],
        [2, "llr"],
      ] as const
    ) {
      const { documents } = await buildIndicators(readEvents(fixture), {
        minRootLlr,
        weights,
      });
      const name = index(`parity-${minRootLlr}-${weights}`);
      const result = await indexDocuments(client, name, documents);
      assert.equal(result.documents, documents.length);
      const es = new ElasticsearchRecommender(client, name);
      const embedded = new EmbeddedRecommender(documents);
      let nonEmpty = 0;
      for (const history of histories(documents, 150)) {
        const request = { history, num: 20 };
        const got = await es.recommend(request);
        const want = await embedded.recommend(request);
        if (want.length > 0) nonEmpty++;
        assertSameRanking(
          `minRootLlr ${minRootLlr}, ${weights}, ${history}`,
          got,
          want,
        );
      }
      assert.ok(nonEmpty >= 50, `only ${nonEmpty} histories had matches`);
    }
  },
);

esTest(
  "scores equal Lucene's BM25 for a hand-checked index",
  async ({ client, index }) => {
    // docCount 4 (t has no indicators), sumDocFreq 6: avgdl 1.5.
    const docs = [
      { id: "p", indicators: ["a", "b"] },
      { id: "q", indicators: ["a"] },
      { id: "r", indicators: ["b", "c"] },
      { id: "s", indicators: ["z"] },
      { id: "t", indicators: [] },
    ];
    const name = index("bm25");
    await indexDocuments(client, name, docs);
    const got = await new ElasticsearchRecommender(client, name)
      .recommend({ history: ["a", "c"], backfill: false });
    // idf(df) = ln(1 + (4 - df + .5)/(df + .5)); with norms off dl = 1, so
    // tf = 1 / (1 + 1.2·(0.25 + 0.75/1.5)) = 1/1.9; Elasticsearch's legacy
    // BM25 multiplies by k1 + 1 = 2.2.
    const tf = 2.2 / (1 + 1.2 * (0.25 + 0.75 / 1.5));
    const idf = (df: number) => Math.log(1 + (4 - df + 0.5) / (df + 0.5));
    assert.deepEqual(got.map((r) => r.id), ["r", "p", "q"]);
    const want = [idf(1) * tf, idf(2) * tf, idf(2) * tf];
    got.forEach((r, i) =>
      assert.ok(
        Math.abs(r.score - want[i]) < 1e-6,
        `${r.id}: ${r.score} vs ${want[i]}`,
      )
    );
    // and the embedded backend agrees
    assertSameRanking(
      "hand-checked",
      got,
      await new EmbeddedRecommender(docs).recommend({
        history: ["a", "c"],
        backfill: false,
      }),
    );
  },
);

esTest(
  "weighted fields score boost × stored weight, as computed by hand",
  async ({ client, index }) => {
    // weights chosen to show Lucene's 9-bit truncation: 0.3 is stored as
    // 0.2998046875 and 1.1 as 1.09765625; 2.5 and 4 are exact
    const docs = [
      { id: "p", indicators: ["a", "b"], weights: { indicators: [0.3, 2.5] } },
      { id: "q", indicators: ["a"], weights: { indicators: [4] } },
      { id: "r", indicators: ["b", "c"], weights: { indicators: [1.1, 0.3] } },
      { id: "s", indicators: [], weights: { indicators: [] } },
    ];
    const name = index("weighted");
    await indexDocuments(client, name, docs);
    const mapping = await client.indices.getMapping({ index: name });
    assert.deepEqual(mapping[name].mappings.properties!.indicators, {
      type: "sparse_vector",
    });
    const request = {
      history: ["a", "b", "c"],
      fieldBoosts: { indicators: 2 },
      backfill: false,
    };
    const got = await new ElasticsearchRecommender(client, name)
      .recommend(request);
    assert.deepEqual(got.map((r) => r.id), ["q", "p", "r"]);
    const want = [
      2 * 4,
      2 * 0.2998046875 + 2 * 2.5,
      2 * 1.09765625 + 2 * 0.2998046875,
    ];
    got.forEach((r, i) =>
      assert.ok(
        Math.abs(r.score - want[i]) < 1e-6,
        `${r.id}: ${r.score} vs ${want[i]}`,
      )
    );
    const embedded = await new EmbeddedRecommender(docs).recommend(request);
    // Elasticsearch prints the float32 score in shortest form
    assert.deepEqual(
      embedded,
      got.map((r) => ({ ...r, score: Math.fround(r.score) })),
    );
  },
);

esTest(
  "indexing refuses to overwrite an index unless told to",
  async ({ client, index }) => {
    const name = index("replace");
    await indexDocuments(client, name, [{ id: "a", indicators: ["b"] }]);
    await assert.rejects(
      () => indexDocuments(client, name, [{ id: "a", indicators: [] }]),
      {
        name: "IndexingError",
        message:
          `index "${name}" already exists (pass replace to overwrite it)`,
      },
    );
    const replaced = await indexDocuments(
      client,
      name,
      [{ id: "x", indicators: [] }, { id: "y", indicators: ["x"] }],
      { replace: true },
    );
    assert.equal(replaced.documents, 2);
    const ids = (await client.search({ index: name, sort: ["id"] })).hits.hits
      .map((h) => h._id);
    assert.deepEqual(ids, ["x", "y"]);
  },
);

esTest(
  "a dropped document fails the build loudly",
  async ({ client, index }) => {
    const name = index("drop");
    // Lucene rejects a keyword term longer than 32766 bytes: Elasticsearch
    // refuses that one document (400, not retried) and accepts the other.
    const docs = [
      { id: "ok", indicators: ["x"] },
      { id: "bad", indicators: ["y".repeat(40_000)] },
    ];
    await assert.rejects(
      () => indexDocuments(client, name, docs),
      (error: Error) => {
        assert.equal(error.name, "IndexingError");
        assert.match(
          error.message,
          /^1 of 2 documents were dropped while indexing/,
        );
        assert.match(error.message, /bad: /);
        return true;
      },
    );
  },
);

esTest(
  "every indicator field is indexed (keyword or sparse_vector) and round-trips",
  async ({ client, index }) => {
    for (const weights of ["none", "llr-idf"] as const) {
      const { documents, fields } = await buildIndicators(
        readEvents(
          new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
        ),
        { minRootLlr: 0, weights },
      );
      const name = index(`fields-${weights}`);
      await indexDocuments(client, name, documents);
      const mapping = await client.indices.getMapping({ index: name });
      const properties = mapping[name].mappings.properties!;
      for (const field of fields) {
        // norms: false is the keyword default, so the mapping omits it
        assert.deepEqual(
          properties[field],
          weights === "none"
            ? { type: "keyword", doc_values: false }
            : { type: "sparse_vector" },
        );
      }
      for (const doc of documents) {
        const { _source } = await client.get({ index: name, id: doc.id });
        // id, indicator fields (weighted: id -> weight), then metadata
        // flattened (popularity = buyers)
        const { scores: _, weights: w, metadata, ...fields } = doc;
        if (w) {
          for (const [field, ids] of Object.entries(fields)) {
            if (!Array.isArray(ids)) continue;
            (fields as Record<string, unknown>)[field] = Object.fromEntries(
              ids.map((id, i) => [id, w[field][i]]),
            );
          }
        }
        assert.deepEqual(_source, { ...fields, ...metadata });
        assert.equal(
          (_source as unknown as { popularity: number }).popularity,
          { A: 2, B: 2 }[doc.id as "A"] ?? 0,
        );
      }
      // a similar-items query on another field ranks like the embedded backend
      const hits = await client.search({
        index: name,
        query: { term: { similar_view: "Y" } },
      });
      assert.deepEqual(hits.hits.hits.map((h) => h._id), ["X"]);
    }
  },
);
