/**
 * The command-line tasks, run as a user runs them (subprocesses), checked
 * against the library's own results.
 */
import assert from "node:assert/strict";
import { EmbeddedRecommender } from "../embedded/recommender.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { readModel } from "../model/ndjson.ts";
import { esTest } from "./_es.ts";
import { root, runTask } from "./_cli.ts";
import type { Model } from "../model/manifest.ts";
import { mergeItems, readItems } from "../model/items.ts";

/** The same model, but for when it was built and where it came from. */
function assertSameModel(got: Model, want: Model) {
  const strip = (m: Model) => ({
    manifest: { ...m.manifest, created: "", source: undefined },
    documents: m.documents,
  });
  assert.deepEqual(strip(got), strip(want));
}

const fixture = `${root}fixtures/demo_events.csv`;

// Each task runs with the permissions deno.json gives it, as `deno task`
// would, so a missing permission fails here too (tests/_cli.ts).

Deno.test("demo: builds from the bundled log and prints recommendations", async () => {
  const { code, stdout } = await runTask("demo", []);
  assert.equal(code, 0);
  const model = await buildIndicators(readEvents(fixture), {
    primaryEvent: "transaction",
  });
  const { stats } = model;
  assert.match(
    stdout,
    new RegExp(
      `${stats.fields.indicators.pairsScored} co-purchased pairs scored, ${stats.fields.indicators.indicatorsKept} kept`,
    ),
  );
  // The first visitor shown gets exactly the embedded backend's ranking.
  const m = /visitor (\d+) bought: (.*)\n((?:\s+\d+\..*\n)+)/.exec(stdout);
  assert.ok(m, stdout);
  const history = [...m[2].matchAll(/\((\d+)\)/g)].map((x) => x[1]);
  const shown = [
    ...m[3].matchAll(/\((\d+)\)\s+(?:score ([\d.]+)|\(popular: backfill\))/g),
  ];
  const recs = await new EmbeddedRecommender(model).recommend({
    history,
    num: 5,
  });
  assert.ok(recs.length > 0);
  assert.deepEqual(shown.map((x) => x[1]), recs.map((r) => r.id));
  assert.deepEqual(
    shown.map((x) => x[2] ?? "backfill"),
    recs.map((r) => r.backfill ? "backfill" : r.score.toFixed(3)),
  );
});

Deno.test("eval: runs on the fixture and writes a report whose figures match", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, stderr, stdout } = await runTask("eval", [
      "--protocol",
      "last-k",
      "--min-llr",
      "3",
      "--out-dir",
      dir,
    ]);
    assert.equal(code, 0, stderr);
    assert.match(stdout, /wrote .*report\.md, .*report\.json, .*recall\.svg/);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.deepEqual(Object.keys(report.results), [
      "popularity",
      "tutorial seed",
      "0.2 defaults",
      "purchase-only LLR",
      "CCO",
      "CCO - addtocart",
      "CCO - view",
    ]);
    // recompute one figure independently: CCO recall@10 from the library
    const events = await Array.fromAsync(readEvents(fixture));
    const { lastKSplit, histories, evaluate } = await import(
      "../evaluate/evaluate.ts"
    );
    const split = lastKSplit(events, { primaryEvent: "transaction" });
    const built = await buildIndicators(split.train, {
      primaryEvent: "transaction",
      minRootLlr: 3,
    });
    const h = histories(split.train);
    const want = await evaluate(
      new EmbeddedRecommender(built),
      split,
      (u) => ({ history: h.get(u) ?? {} }),
      { catalogue: built.documents.length },
    );
    assert.equal(
      report.results.CCO.atK[10].mean.recall,
      want.atK[10].mean.recall,
    );
    // the seed model keeps the tutorial's settings whatever the flags
    const seed = await buildIndicators(split.train, {
      primaryEvent: "transaction",
      secondaryEvents: [],
      similarEvent: null,
      minRootLlr: 5,
      maxIndicatorsPerItem: 50,
      weights: "none",
    });
    const seedWant = await evaluate(
      new EmbeddedRecommender(seed),
      split,
      (u) => ({ history: { transaction: h.get(u)?.transaction ?? [] } }),
      { catalogue: seed.documents.length },
    );
    assert.deepEqual(
      report.results["tutorial seed"].atK[10].mean,
      seedWant.atK[10].mean,
    );
    assert.equal(report.testUsers, split.test.size);
    const md = await Deno.readTextFile(`${dir}/report.md`);
    assert.match(md, /\| CCO \| [\d.]+ \[/);
    assert.match(md, /## Interpretation\n\n- Recall@10: \*\*CCO\*\* leads/);
    const svg = await Deno.readTextFile(`${dir}/recall.svg`);
    // one line per model: the 0.2 defaults are a model too
    assert.equal(svg.match(/<polyline/g)!.length, 7);
    // the sweep tunes on a validation split and adds a tuned model
    const swept = await runTask("eval", [
      "--protocol",
      "last-k",
      "--sweep",
      "--out-dir",
      dir,
    ]);
    assert.equal(swept.code, 0, swept.stderr);
    const tuned = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    assert.ok("CCO (tuned)" in tuned.results);
    // the search: settings tried from the defaults, the best ten kept in
    // order, none worse than where it started
    const tried = tuned.tuning.best as { ndcg: number }[];
    assert.ok(tuned.tuning.settings >= tried.length);
    assert.equal(tried.length, Math.min(10, tuned.tuning.settings));
    for (let i = 1; i < tried.length; i++) {
      assert.ok(tried[i - 1].ndcg >= tried[i].ndcg);
    }
    assert.ok(tried[0].ndcg >= tuned.tuning.start.ndcg);
    assert.match(
      await Deno.readTextFile(`${dir}/report.md`),
      /Tuning \(`--tune`\): \d+ settings scored on a validation split/,
    );
    // --published sar: SAR's figures and our best nDCG@10 against them
    const published = await runTask("eval", [
      "--protocol",
      "last-k",
      "--min-llr",
      "3",
      "--published",
      "sar",
      "--out-dir",
      dir,
    ]);
    assert.equal(published.code, 0, published.stderr);
    const withSar = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    const [bestName, best] = Object.entries(
      withSar.results as Record<string, typeof want>,
    ).sort(([, a], [, b]) => b.atK[10].mean.ndcg - a.atK[10].mean.ndcg)[0];
    const ndcg = best.atK[10].mean.ndcg;
    const sarMd = await Deno.readTextFile(`${dir}/report.md`);
    assert.match(
      sarMd,
      /\| SAR \| 0\.1138 \| 0\.3848 \| 0\.3317 \| 0\.1826 \|/,
    );
    assert.ok(
      sarMd.includes(
        `Best nDCG@10 here: ${bestName}, ${ndcg.toFixed(4)} [${
          best.atK[10].interval.ndcg[0].toFixed(4)
        }, ${best.atK[10].interval.ndcg[1].toFixed(4)}], ${
          ndcg >= 0.3848 ? "above" : "below"
        } SAR's published 0.3848 by ${Math.abs(ndcg - 0.3848).toFixed(4)}, ${
          ndcg >= 0.442 ? "above" : "below"
        } BPR's published 0.442 by ${Math.abs(ndcg - 0.442).toFixed(4)}.`,
      ),
      sarMd,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("tasks print --help and exit 0", async () => {
  for (
    const script of [
      "build-index",
      "recommend",
      "demo",
      "es",
      "eval",
      "serve",
      "index",
      "generate",
    ]
  ) {
    const { code, stdout } = await runTask(script, ["--help"]);
    assert.equal(code, 0, script);
    assert.match(stdout, /deno task /, script);
  }
});

Deno.test("tasks fail with a one-line cause", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bad = `${dir}/bad.csv`;
    await Deno.writeTextFile(
      bad,
      "timestamp,visitorid,event,itemid,transactionid\n1,2,view,3,\n1,2,look,3,\n",
    );
    const cases: [string, string[], string][] = [
      [
        "build-index",
        [],
        "error: --events FILE (or --indicators FILE|DIR) is required (see --help)",
      ],
      [
        "build-index",
        ["--events", fixture],
        "error: nothing to write: set ES_URL (or --es-url) to index, and/or --out FILE",
      ],
      [
        "build-index",
        ["--events", bad, "--out", `${dir}/o.ndjson`],
        `error: ${bad}:3: unknown event "look"; accepted: view, addtocart, transaction`,
      ],
      [
        "build-index",
        ["--events", fixture, "--out", `${dir}/o.ndjson`, "--min-llr", "x"],
        'error: --min-llr must be a number, got "x"',
      ],
      [
        "build-index",
        ["--events", fixture, "--out", `${dir}/o.ndjson`, "--weights", "bm25"],
        'error: --weights must be one of llr-idf, llr, none, learned, got "bm25"',
      ],
      [
        "eval",
        ["--weights", "bm25"],
        'error: --weights must be one of llr-idf, llr, none, learned, got "bm25"',
      ],
      [
        "eval",
        ["--backend", "solr"],
        'error: --backend must be embedded or es, got "solr"',
      ],
      [
        "eval",
        ["--protocol", "random"],
        'error: --protocol must be time, last-k or stratified, got "random"',
      ],
      [
        "build-index",
        ["--bogus"],
        "error: Unknown option '--bogus'",
      ],
      [
        "recommend",
        ["--history", "1"],
        "error: no backend: pass --indicators FILE or --events FILE, or set ES_URL (or --es-url)",
      ],
      [
        "recommend",
        ["--history", "1", "--es-url", "http://127.0.0.1:9"],
        "error: Elasticsearch at http://127.0.0.1:9/ is unreachable: ",
      ],
      [
        "es",
        ["restart"],
        "error: expected start, stop or status, got restart (see --help)",
      ],
      [
        "es",
        ["start", "--nodes", "0"],
        "error: --nodes must be at least 1, got 0",
      ],
    ];
    for (const [script, args, message] of cases) {
      const { code, stderr } = await runTask(script, args);
      assert.equal(code, 1, `${script} ${args.join(" ")}`);
      const lines = stderr.trim().split("\n");
      const last = lines[lines.length - 1];
      assert.ok(
        last.startsWith(message),
        `${script} ${args.join(" ")}:\n  got  ${last}\n  want ${message}`,
      );
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build-index: event types, per-field options, --on-error skip", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const bad = `${dir}/bad.csv`;
    const text = await Deno.readTextFile(fixture);
    await Deno.writeTextFile(
      bad,
      text.replace("\n", "\nnot,a,valid,line\n1,2,click,3,\n"),
    );
    const out = `${dir}/o.ndjson`;
    const strict = await runTask("build-index", [
      "--events",
      bad,
      "--out",
      out,
    ]);
    assert.equal(strict.code, 1);
    assert.match(strict.stderr, /bad\.csv:2: expected 5 columns, got 4\n$/);
    const built = await runTask("build-index", [
      "--events",
      bad,
      "--out",
      out,
      "--on-error",
      "skip",
      "--secondary",
      "view",
      "--similar",
      "none",
      "--field-min-llr",
      "indicators_view=2",
      "--field-max-indicators",
      "indicators_view=2",
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.match(
      built.stderr,
      /skipped 2 malformed lines, e\.g\. .*bad\.csv:2: .*; .*bad\.csv:3: unknown event "click"/,
    );
    const model = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
      secondaryEvents: ["view"],
      similarEvent: null,
      fields: { indicators_view: { minRootLlr: 2, maxIndicatorsPerItem: 2 } },
    });
    assert.deepEqual(model.fields, ["indicators", "indicators_view"]);
    assertSameModel(await readModel(out), model);
    assert.match(
      built.stderr,
      /indicators_view +transaction × view: \d+ pairs scored/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build-index --out exports NDJSON that recommend serves", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/indicators.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      fixture,
      "--out",
      out,
      "--min-llr",
      "3",
      "--max-indicators",
      "4",
    ]);
    assert.equal(built.code, 0, built.stderr);
    const model = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
      minRootLlr: 3,
      maxIndicatorsPerItem: 4,
    });
    assertSameModel(await readModel(out), model);
    assert.match(built.stderr, /events: 10,040/);

    const history = ["1201", "1205"];
    const rec = await runTask("recommend", [
      "--indicators",
      out,
      "--history",
      history.join(","),
      "--num",
      "3",
      "--json",
    ]);
    assert.equal(rec.code, 0, rec.stderr);
    const want = await new EmbeddedRecommender(await readModel(out))
      .recommend({ history, num: 3 });
    assert.equal(want.length, 3);
    assert.deepEqual(JSON.parse(rec.stdout), want);

    // a whole request: per-type history, a filter, explain
    const request = {
      history: { transaction: ["1205"], view: ["1201"] },
      filters: [{ field: "popularity", gte: 1 }],
      num: 4,
      explain: true,
    };
    const full = await runTask("recommend", [
      "--indicators",
      out,
      "--request",
      JSON.stringify(request),
      "--json",
    ]);
    assert.equal(full.code, 0, full.stderr);
    const expected = await new EmbeddedRecommender(await readModel(out))
      .recommend(request);
    assert.ok(expected.some((r) => r.because && r.because.length === 2));
    assert.deepEqual(JSON.parse(full.stdout), expected);
    const bad = await runTask("recommend", [
      "--indicators",
      out,
      "--request",
      '{"history":["1"],"num":0}',
    ]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      "error: request.num must be >= 1, got 0\n",
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

esTest(
  "build-index indexes into Elasticsearch and recommend queries it",
  async ({ client, url, index }) => {
    const name = index("cli");
    const build = () =>
      runTask("build-index", [
        "--events",
        fixture,
        "--alias",
        name,
        "--items",
        `${root}fixtures/demo_items.csv`,
      ], { ES_URL: url });
    const built = await build();
    assert.equal(built.code, 0, built.stderr);
    const model = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
    });
    const { documents } = model;
    const published = new RegExp(
      `published ${documents.length} documents as "(${name}_\\d{17})" \\(alias "${name}"\\)`,
    );
    const first = published.exec(built.stderr)?.[1];
    assert.ok(first, built.stderr);
    assert.match(
      built.stderr,
      /merged metadata of .*demo_items\.csv: 120 items with events, 0 without/,
    );
    // item metadata is indexed for filters
    const garden = await client.search({
      index: name,
      query: { term: { category: "garden" } },
      size: 20,
      sort: ["id"],
    });
    assert.deepEqual(
      garden.hits.hits.map((h) => h._id),
      Array.from({ length: 10 }, (_, k) => String(1200 + k)),
    );
    const doc = await client.get<Record<string, unknown>>({
      index: name,
      id: "1205",
    });
    assert.equal(doc._source!.name, "garden product 6");
    // weighted by default: sparse_vector fields holding id -> weight
    const built1205 = documents.find((d) => d.id === "1205")!;
    assert.ok(built1205.indicators_view.length > 0);
    assert.deepEqual(
      doc._source!.indicators_view,
      Object.fromEntries(
        built1205.indicators_view.map((
          id,
          i,
        ) => [id, built1205.weights!.indicators_view[i]]),
      ),
    );
    const mapping = await client.indices.getMapping({ index: first });
    assert.deepEqual(mapping[first].mappings.properties!.indicators_view, {
      type: "sparse_vector",
    });
    assert.equal(
      doc._source!.popularity,
      documents.find((d) => d.id === "1205")!.metadata!.popularity,
    );
    // A rebuild publishes a new version and keeps the old one for rollback.
    const again = await build();
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stderr, new RegExp(`, was "${first}"\\)`));
    const list = await runTask("index", ["list", "--alias", name], {
      ES_URL: url,
    });
    assert.equal(list.code, 0, list.stderr);
    const lines = list.stdout.trimEnd().split("\n");
    assert.equal(lines.length, 2);
    assert.match(
      lines[0],
      new RegExp(`^  ${first} +${documents.length} docs  complete$`),
    );
    assert.match(
      lines[1],
      new RegExp(`^\\* ${name}_\\d{17} +${documents.length} docs  live$`),
    );
    const back = await runTask("index", ["rollback", "--alias", name], {
      ES_URL: url,
    });
    assert.equal(back.code, 0, back.stderr);
    assert.match(
      back.stdout,
      new RegExp(`alias "${name}" now points to ${first}`),
    );

    for (
      const history of [["1205"], ["1500", "1502"], ["1900", "1201", "1608"]]
    ) {
      const rec = await runTask("recommend", [
        "--alias",
        name,
        "--history",
        history.join(","),
        "--json",
      ], { ES_URL: url });
      assert.equal(rec.code, 0, rec.stderr);
      // the same model as the index: the items file merged
      const withItems = {
        manifest: structuredClone(model.manifest),
        documents: structuredClone(model.documents),
      };
      mergeItems(withItems, await readItems(`${root}fixtures/demo_items.csv`));
      const want = await new EmbeddedRecommender(withItems).recommend({
        history,
      });
      assert.ok(want.length > 0);
      // scores are equal to the last bit
      assert.deepEqual(JSON.parse(rec.stdout), want);
    }
  },
);

Deno.test("eval: the stratified protocol excludes every training item, whatever its event", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { code, stderr } = await runTask("eval", [
      "--protocol",
      "stratified",
      "--min-llr",
      "3",
      "--out-dir",
      dir,
    ]);
    assert.equal(code, 0, stderr);
    const report = JSON.parse(await Deno.readTextFile(`${dir}/report.json`));
    const events = await Array.fromAsync(readEvents(fixture));
    const { stratifiedSplit, histories, evaluate } = await import(
      "../evaluate/evaluate.ts"
    );
    const split = stratifiedSplit(events);
    const built = await buildIndicators(split.train, {
      primaryEvent: "transaction",
      minRootLlr: 3,
    });
    const h = histories(split.train);
    const recommender = new EmbeddedRecommender(built);
    const run = (exclude: boolean) =>
      evaluate(recommender, split, (u) => {
        const history = h.get(u) ?? {};
        return {
          history,
          ...(exclude
            ? { exclude: [...new Set(Object.values(history).flat())] }
            : {}),
        };
      }, { catalogue: built.documents.length });
    const want = await run(true);
    assert.deepEqual(report.results.CCO.atK[10].mean, want.atK[10].mean);
    // and the exclusion matters on this log: viewed items would take slots
    const without = await run(false);
    assert.notDeepEqual(without.atK[10].mean, want.atK[10].mean);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

esTest(
  "eval --backend es: the same figures through Elasticsearch, indices removed",
  async ({ client, url }) => {
    const dir = await Deno.makeTempDir();
    try {
      const args = ["--protocol", "last-k", "--min-llr", "3"];
      const es = await runTask("eval", [
        ...args,
        "--backend",
        "es",
        "--out-dir",
        `${dir}/es`,
      ], { ES_URL: url });
      assert.equal(es.code, 0, es.stderr);
      assert.match(es.stderr, /indexing \d+ documents into cco-eval-/);
      const embedded = await runTask("eval", [
        ...args,
        "--out-dir",
        `${dir}/embedded`,
      ]);
      assert.equal(embedded.code, 0, embedded.stderr);
      const read = async (d: string) =>
        JSON.parse(await Deno.readTextFile(`${dir}/${d}/report.json`));
      const [a, b] = [await read("es"), await read("embedded")];
      assert.deepEqual(Object.keys(a.results), Object.keys(b.results));
      for (const model of Object.keys(a.results)) {
        assert.deepEqual(a.results[model].atK, b.results[model].atK, model);
      }
      assert.match(a.protocol, /served by Elasticsearch/);
      const left = await client.cat.indices({
        index: "cco-eval-*",
        format: "json",
      });
      assert.deepEqual(left, []);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
);
