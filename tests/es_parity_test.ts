/**
 * The embedded backend against the real Elasticsearch: the same model, the
 * same requests, the same ranked ids and exactly the same (32-bit float)
 * scores; and the embedded BM25 equal to Lucene's bit for bit over many
 * index statistics.
 */
import assert from "node:assert/strict";
import { createClient } from "../elasticsearch/client.ts";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { keywordTermScore } from "../embedded/bm25.ts";
import {
  ElasticsearchRecommender,
  readIndexManifest,
} from "../elasticsearch/recommender.ts";
import { indexDocuments } from "../elasticsearch/indexing.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import type {
  IndexableDocument,
  IndicatorDocument,
} from "../model/document.ts";
import { manifestFor, type Model } from "../model/manifest.ts";
import { mulberry32 } from "../random/mod.ts";
import { ConfigError, RequestError } from "../errors/mod.ts";
import type { RecommendRequest } from "../serving/request.ts";
import { esTest } from "./_es.ts";

const fixture = new URL("../fixtures/demo_events.csv", import.meta.url)
  .pathname;

/** A model of hand-made documents, primary event `transaction`. */
function model<D extends IndexableDocument>(documents: D[]): Model<D> {
  return {
    manifest: manifestFor(documents, { primaryEvent: "transaction" }),
    documents,
  };
}

/** Deterministic histories: random baskets of the model's items. */
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
  "embedded backend ranks and scores exactly like Elasticsearch (demo fixture)",
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
      const built = await buildIndicators(readEvents(fixture), {
        primaryEvent: "transaction",
        minRootLlr,
        weights,
      });
      const name = index(`parity-${minRootLlr}-${weights}`);
      const result = await indexDocuments(client, name, built);
      assert.equal(result.documents, built.documents.length);
      const es = new ElasticsearchRecommender(client, name);
      const embedded = new EmbeddedRecommender(built);
      let nonEmpty = 0;
      const all = histories(built.documents, 150);
      for (const [i, history] of all.entries()) {
        // plain primary histories, and the same items as other event types
        const request: RecommendRequest = i % 3 === 0
          ? { history, num: 20 }
          : i % 3 === 1
          ? { history: { view: history, addtocart: history.slice(0, 2) } }
          : { history: { transaction: history, view: history }, num: 20 };
        const got = await es.recommend(request);
        const want = await embedded.recommend(request);
        if (want.some((r) => !r.backfill)) nonEmpty++;
        // exact: ids, flags and the float32 scores
        assert.deepEqual(
          got,
          want,
          `minRootLlr ${minRootLlr}, ${weights}, ${JSON.stringify(request)}`,
        );
      }
      assert.ok(nonEmpty >= 75, `only ${nonEmpty} histories had matches`);
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
    await indexDocuments(client, name, model(docs));
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
    // and the embedded backend agrees exactly
    assert.deepEqual(
      got,
      await new EmbeddedRecommender(model(docs)).recommend({
        history: ["a", "c"],
        backfill: false,
      }),
    );
  },
);

/** cco-es 0.1's BM25: k1 a double, the rest rounded to float step by step. */
function oldKeywordTermScore(
  docFreq: number,
  docCount: number,
  sumDocFreq: number,
  boost: number,
): number {
  const f = Math.fround;
  const idf = f(Math.log(1 + (docCount - docFreq + 0.5) / (docFreq + 0.5)));
  const avgdl = f(sumDocFreq / docCount);
  const normInverse = f(1 / f(1.2 * f(f(1 - 0.75) + f(f(0.75 * 1) / avgdl))));
  const weight = f(f(f(boost) * f(1 + f(1.2))) * idf);
  return f(weight - f(weight / f(1 + normInverse)));
}

esTest(
  "embedded BM25 equals Lucene bit for bit",
  async ({ client, index }) => {
    // 40 keyword fields; each has its own number of documents and of
    // distinct terms per document, so its own (docCount, sumDocFreq), and
    // terms of many document frequencies
    const FIELDS = 40;
    const rnd = mulberry32(11);
    const docs: Record<string, string[]>[] = Array.from(
      { length: 60 },
      () => ({}),
    );
    for (let f = 1; f < FIELDS; f++) {
      const withField = 2 + Math.floor(rnd() * 58);
      const vocabulary = 1 + Math.floor(rnd() * 30);
      for (let d = 0; d < withField; d++) {
        const n = 1 + Math.floor(rnd() * Math.min(vocabulary, 1 + (f % 9)));
        const terms: string[] = [];
        for (let t = 0; t < n; t++) {
          terms.push(`t${Math.floor(rnd() * vocabulary)}`);
        }
        // repeated values count once, as in the embedded index
        docs[d][`f${f}`] = terms;
      }
    }
    // f0: 8 documents and 47 distinct terms, each in 1 document (df 1): a
    // statistic where the double-k1 formula of cco-es 0.1 was 1 ulp off
    for (let d = 0; d < 8; d++) {
      docs[d].f0 = Array.from(
        { length: d < 7 ? 6 : 5 },
        (_, t) => `u${d}_${t}`,
      );
    }
    const name = index("bm25-bits");
    const properties: Record<
      string,
      { type: "keyword"; norms: boolean; doc_values: boolean }
    > = {};
    for (let f = 0; f < FIELDS; f++) {
      properties[`f${f}`] = {
        type: "keyword",
        norms: false,
        doc_values: false,
      };
    }
    await client.indices.create({
      index: name,
      settings: { number_of_shards: 1, number_of_replicas: 0 },
      mappings: { dynamic: "strict", properties },
    });
    const bulk = await client.bulk({
      refresh: true,
      operations: docs.flatMap((doc, d) => [
        { index: { _index: name, _id: `d${d}` } },
        doc,
      ]),
    });
    assert.equal(bulk.errors, false);
    // the oracle's statistics, from the documents
    const checks: {
      field: string;
      term: string;
      boost: number;
      want: number;
      docFreq: number;
      docCount: number;
      sumDocFreq: number;
    }[] = [];
    const stats = new Set<string>();
    for (let f = 0; f < FIELDS; f++) {
      const field = `f${f}`;
      const df = new Map<string, number>();
      let docCount = 0, sumDocFreq = 0;
      for (const doc of docs) {
        const terms = new Set(doc[field] ?? []);
        if (terms.size === 0) continue;
        docCount++;
        sumDocFreq += terms.size;
        for (const t of terms) df.set(t, (df.get(t) ?? 0) + 1);
      }
      stats.add(`${docCount}/${sumDocFreq}`);
      for (const [term, docFreq] of df) {
        for (const boost of [1, 0.5, 2, 0.3]) {
          checks.push({
            field,
            term,
            boost,
            docFreq,
            docCount,
            sumDocFreq,
            want: keywordTermScore({ docFreq, docCount, sumDocFreq, boost }),
          });
        }
      }
    }
    assert.ok(stats.size >= 35, `only ${stats.size} distinct field statistics`);
    assert.ok(checks.length >= 2000, `only ${checks.length} checks`);
    const differ: string[] = [];
    let hits = 0;
    for (let at = 0; at < checks.length; at += 250) {
      const batch = checks.slice(at, at + 250);
      const { responses } = await client.msearch({
        index: name,
        searches: batch.flatMap((c) => [
          {},
          {
            query: { term: { [c.field]: { value: c.term, boost: c.boost } } },
            size: 100,
            track_total_hits: true,
          },
        ]),
      });
      responses.forEach((response, i) => {
        const c = batch[i];
        assert.ok(!("error" in response), JSON.stringify(response));
        const found = (response as { hits: { hits: { _score: number }[] } })
          .hits.hits;
        assert.equal(found.length, c.docFreq, `${c.field}:${c.term}`);
        for (const hit of found) {
          hits++;
          const got = Math.fround(hit._score);
          if (got !== c.want) {
            differ.push(
              `${c.field}:${c.term}^${c.boost} (df ${c.docFreq}, docCount ${c.docCount}, sumDocFreq ${c.sumDocFreq}): Lucene ${got}, embedded ${c.want}`,
            );
          }
        }
      });
    }
    assert.deepEqual(differ.slice(0, 10), [], `${differ.length} differ`);
    assert.ok(hits >= checks.length);
    // the case of the issue, as Lucene scores it
    const f0 = checks.find((c) => c.field === "f0" && c.boost === 1)!;
    assert.deepEqual([f0.docFreq, f0.docCount, f0.sumDocFreq], [1, 8, 47]);
    assert.equal(f0.want, 2.7125611305236816);
    // and the test has teeth: the old formula fails it, on this case too
    assert.equal(oldKeywordTermScore(1, 8, 47, 1), 2.7125613689422607);
    const oldDiffer =
      checks.filter((c) =>
        oldKeywordTermScore(c.docFreq, c.docCount, c.sumDocFreq, c.boost) !==
          c.want
      ).length;
    assert.ok(oldDiffer > 0, "the old formula would pass too");
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
    await indexDocuments(client, name, model(docs));
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
    // Elasticsearch's float32 scores equal the embedded ones exactly
    assert.deepEqual(
      await new EmbeddedRecommender(model(docs)).recommend(request),
      got,
    );
  },
);

esTest(
  "a model's own primary event: a `like` model answers `like` histories on Elasticsearch",
  async ({ client, index }) => {
    // the MovieLens preset's primary event is `like`: before issue 11 the
    // request {"history":{"like":["50","181"]}} queried indicators_like and
    // answered with popularity backfill, 50 and 181 included
    const events = [
      ["u1", "50"],
      ["u1", "7"],
      ["u2", "50"],
      ["u2", "7"],
      ["u3", "181"],
      ["u3", "9"],
      ["u4", "181"],
      ["u4", "9"],
      ["u5", "3"],
      ["u6", "3"],
      ["u6", "50"],
    ].map(([user, item], i) => ({ user, item, event: "like", timestamp: i }));
    const built = await buildIndicators(events, {
      primaryEvent: "like",
      minRootLlr: 0,
    });
    const name = index("like");
    await indexDocuments(client, name, built);
    const es = new ElasticsearchRecommender(client, name);
    const embedded = new EmbeddedRecommender(built);
    assert.deepEqual(await es.manifest(), built.manifest);
    for (const history of [{ like: ["50", "181"] }, ["50", "181"]]) {
      const got = await es.recommend({ history, num: 3 });
      assert.deepEqual(got, await embedded.recommend({ history, num: 3 }));
      assert.deepEqual(
        got.slice(0, 2).map((r) => [r.id, r.backfill ?? false]).sort(),
        [["7", false], ["9", false]],
      );
      assert.ok(got.slice(0, 2).every((r) => r.score > 0));
      assert.ok(!got.some((r) => r.id === "50" || r.id === "181"));
    }
    // an event type the model lacks: the caller's error, on both backends
    for (const backend of [es, embedded]) {
      await assert.rejects(
        () => backend.recommend({ history: { transaction: ["50"] } }),
        (e) => {
          assert.ok(e instanceof RequestError, String(e));
          assert.equal(e.path, "request.history.transaction");
          assert.equal(
            e.message,
            "request.history.transaction is not an event type of this model (like)",
          );
          return true;
        },
      );
    }
  },
);

Deno.test("ElasticsearchRecommender checks its settings when made", async () => {
  // no request is sent: the settings fail before any
  const client = createClient({ node: "http://127.0.0.1:9", maxRetries: 0 });
  try {
    for (const maxQueryEvents of [0, 2.5, 5000]) {
      assert.throws(
        () => new ElasticsearchRecommender(client, "x", { maxQueryEvents }),
        (e) => {
          assert.ok(e instanceof ConfigError);
          assert.equal(
            e.message,
            `maxQueryEvents must be an integer from 1 to 1024, got ${maxQueryEvents}`,
          );
          return true;
        },
      );
    }
    assert.throws(
      () =>
        new ElasticsearchRecommender(client, "x", {
          fieldBoosts: { indicators_view: 0 },
        }),
      { name: "ConfigError", path: "fieldBoosts.indicators_view" },
    );
  } finally {
    await client.close();
  }
});

esTest(
  "the index carries its manifest; an index without one is refused",
  async ({ client, index }) => {
    const built = await buildIndicators(
      readEvents(
        new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
      ),
      { primaryEvent: "transaction", minRootLlr: 0 },
    );
    const name = index("manifest");
    await indexDocuments(client, name, built);
    assert.deepEqual(await readIndexManifest(client, name), {
      index: name,
      manifest: built.manifest,
    });
    const bare = index("bare");
    await client.indices.create({ index: bare });
    await assert.rejects(() => readIndexManifest(client, bare), {
      name: "ModelError",
      message:
        `index "${bare}" has no model manifest in its _meta (built by cco-es 0.1?): rebuild it`,
    });
    await assert.rejects(
      () => new ElasticsearchRecommender(client, bare).recommend({}),
      { name: "ModelError" },
    );
    const missing = index("missing");
    await assert.rejects(() => readIndexManifest(client, missing), {
      name: "ModelError",
      message:
        `no index "${missing}": build one with build-index (alias "${missing}")`,
    });
  },
);

esTest(
  "indexing refuses to overwrite an index unless told to",
  async ({ client, index }) => {
    const name = index("replace");
    await indexDocuments(client, name, model([{ id: "a", indicators: ["b"] }]));
    await assert.rejects(
      () => indexDocuments(client, name, model([{ id: "a", indicators: [] }])),
      {
        name: "IndexingError",
        message:
          `index "${name}" already exists (pass replace to overwrite it)`,
      },
    );
    const replaced = await indexDocuments(
      client,
      name,
      model([{ id: "x", indicators: [] }, { id: "y", indicators: ["x"] }]),
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
      () => indexDocuments(client, name, model(docs)),
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
  "a document with a field the manifest lacks is refused (strict mapping)",
  async ({ client, index }) => {
    const name = index("strict");
    const documents = [{ id: "a", indicators: ["b"] }];
    const manifest = manifestFor(documents, { primaryEvent: "transaction" });
    await assert.rejects(
      () =>
        indexDocuments(client, name, {
          manifest,
          documents: [...documents, {
            id: "c",
            indicators: [],
            indicators_view: ["a"],
          }],
        }),
      (error: Error) => {
        assert.equal(error.name, "IndexingError");
        assert.match(
          error.message,
          /^1 of 2 documents were dropped while indexing .*: c: strict_dynamic_mapping_exception/,
        );
        return true;
      },
    );
    const mapping = await client.indices.getMapping({ index: name });
    assert.equal(mapping[name].mappings.properties!.indicators_view, undefined);
  },
);

esTest(
  "every indicator field is indexed (keyword or sparse_vector) and round-trips",
  async ({ client, index }) => {
    for (const weights of ["none", "llr-idf"] as const) {
      const built = await buildIndicators(
        readEvents(
          new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
        ),
        { primaryEvent: "transaction", minRootLlr: 0, weights },
      );
      const { documents, fields } = built;
      const name = index(`fields-${weights}`);
      await indexDocuments(client, name, built);
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
      assert.deepEqual(properties.popularity, { type: "double" });
      assert.equal(mapping[name].mappings.dynamic, "strict");
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
      // a similar-items query on another field
      const hits = await client.search({
        index: name,
        query: { term: { similar_view: "Y" } },
      });
      assert.deepEqual(hits.hits.hits.map((h) => h._id), ["X"]);
    }
  },
);
