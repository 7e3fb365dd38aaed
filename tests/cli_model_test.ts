/**
 * The model travels with its manifest through the command-line tools, and
 * one settings file drives them: each test here reproduces a defect of
 * version 0.1 (issue 11) and checks the fix.
 */
import assert from "node:assert/strict";
import { readModel } from "../model/ndjson.ts";
import { esTest } from "./_es.ts";
import { root, runTask, taskPermissions } from "./_cli.ts";

const fixture = `${root}fixtures/demo_events.csv`;

/** A MovieLens-format log (tab, no header, ratings 4-5 = like). */
function movielensLog(): string {
  const lines: string[] = [];
  let t = 874965758;
  // users 1..30 like 50 and 181 together; 100 goes with them for half
  for (let u = 1; u <= 30; u++) {
    lines.push(`${u}\t50\t5\t${t++}`, `${u}\t181\t4\t${t++}`);
    if (u % 2 === 0) lines.push(`${u}\t100\t5\t${t++}`);
    lines.push(`${u}\t${200 + (u % 7)}\t2\t${t++}`);
  }
  for (let u = 31; u <= 60; u++) {
    lines.push(`${u}\t${300 + (u % 5)}\t5\t${t++}`, `${u}\t100\t3\t${t++}`);
  }
  return lines.join("\n") + "\n";
}

Deno.test("a model built with another primary event serves it: recommend takes it from the manifest", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events = `${dir}/u.data`;
    await Deno.writeTextFile(events, movielensLog());
    const out = `${dir}/ml.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      events,
      "--format",
      "movielens",
      "--min-llr",
      "0",
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const model = await readModel(out);
    assert.equal(model.manifest.primaryEvent, "like");
    assert.equal(model.manifest.source?.format, "movielens");
    const rec = await runTask("recommend", [
      "--indicators",
      out,
      "--request",
      '{"history":{"like":["50","181"]}}',
      "--json",
    ]);
    assert.equal(rec.code, 0, rec.stderr);
    const recs = JSON.parse(rec.stdout) as { id: string; backfill?: true }[];
    // before: only popularity backfill, 50 and 181 among it
    assert.equal(recs[0].id, "100");
    assert.equal(recs[0].backfill, undefined);
    assert.ok(!recs.some((r) => r.id === "50" || r.id === "181"), rec.stdout);
    // a plain history is the model's primary event too
    const plain = await runTask("recommend", [
      "--indicators",
      out,
      "--history",
      "50,181",
      "--json",
    ]);
    assert.deepEqual(JSON.parse(plain.stdout), recs);
    // an event type the model lacks is a clear error listing the known ones
    const wrong = await runTask("recommend", [
      "--indicators",
      out,
      "--request",
      '{"history":{"transaction":["50"]}}',
    ]);
    assert.equal(wrong.code, 1);
    assert.match(
      wrong.stderr,
      /^error: request\.history\.transaction is not an event type of this model \(like, dislike, neutral\)\n$/,
    );
    const mismatch = await runTask("recommend", [
      "--indicators",
      out,
      "--primary",
      "transaction",
      "--history",
      "50",
    ]);
    assert.equal(mismatch.code, 1);
    assert.match(
      mismatch.stderr,
      /--primary is "transaction" but the model .* predicts "like"/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("--format-config reads the JSON file it names", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events = `${dir}/log.tsv`;
    await Deno.writeTextFile(events, movielensLog());
    const format = `${dir}/format.json`;
    await Deno.writeTextFile(
      format,
      JSON.stringify({
        delimiter: "\t",
        header: false,
        user: 0,
        item: 1,
        event: 2,
        timestamp: 3,
        timestampUnit: "s",
        eventAliases: { "4": "like", "5": "like", "3": "meh", "2": "meh" },
      }),
    );
    const out = `${dir}/m.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      events,
      "--format-config",
      format,
      "--primary",
      "like",
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.deepEqual(
      (await readModel(out)).manifest.fields.map((f) => f.name),
      ["indicators", "indicators_meh", "similar_meh"],
    );
    // a custom format names no primary event: say so, before any reading
    const unnamed = await runTask("build-index", [
      "--events",
      events,
      "--format-config",
      format,
      "--out",
      out,
    ]);
    assert.equal(unnamed.code, 1);
    assert.match(unnamed.stderr, /^error: --primary is needed/);
    const missing = await runTask("build-index", [
      "--events",
      events,
      "--format-config",
      `${dir}/nope.json`,
      "--out",
      out,
    ]);
    assert.equal(missing.code, 1);
    assert.match(
      missing.stderr,
      /^error: --format-config cannot read .*nope\.json/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("a log without a timestamp column: file order is time", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events = `${dir}/log.csv`;
    // one user, three distinct items bought; cap 2 keeps the last two lines
    await Deno.writeTextFile(
      events,
      "u1,a,buy\nu1,b,buy\nu1,c,buy\nu2,b,buy\nu2,c,buy\nu3,d,buy\n",
    );
    const out = `${dir}/m.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      events,
      "--no-header",
      "--user-col",
      "0",
      "--item-col",
      "1",
      "--event-col",
      "2",
      "--primary",
      "buy",
      "--history-cap",
      "2",
      "--min-llr",
      "0",
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const docs = new Map(
      (await readModel(out)).documents.map((d) => [d.id, d]),
    );
    // u1 keeps b and c (the last two lines), so a co-occurs with nothing
    assert.deepEqual(docs.get("a")!.indicators, []);
    assert.deepEqual(docs.get("b")!.indicators, ["c"]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("event types named by --secondary are accepted without --accept-events", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events = `${dir}/log.csv`;
    const text = await Deno.readTextFile(fixture);
    const lines = text.trimEnd().split("\n");
    // turn some views into a custom "wishlist" event
    const changed = lines.map((l, i) =>
      i > 0 && i % 7 === 0 ? l.replace(",view,", ",wishlist,") : l
    );
    await Deno.writeTextFile(events, changed.join("\n") + "\n");
    const out = `${dir}/m.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      events,
      "--secondary",
      "view,wishlist",
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    assert.deepEqual(
      (await readModel(out)).manifest.fields.map((f) => f.name),
      ["indicators", "indicators_view", "indicators_wishlist", "similar_view"],
    );
    // an event nobody named is still an error
    const plain = await runTask("build-index", [
      "--events",
      events,
      "--out",
      out,
    ]);
    assert.equal(plain.code, 1);
    assert.match(plain.stderr, /unknown event "wishlist"/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("recommend --events uses the file even when ES_URL is exported; --alias, not --index", async () => {
  const rec = await runTask("recommend", [
    "--events",
    fixture,
    "--history",
    "1205",
    "--json",
  ], { ES_URL: "http://127.0.0.1:9" });
  assert.equal(rec.code, 0, rec.stderr);
  assert.ok(JSON.parse(rec.stdout).length > 0);
  const old = await runTask("recommend", ["--index", "x", "--history", "1"]);
  assert.equal(old.code, 1);
  assert.match(old.stderr, /Unknown option '--index'/);
});

Deno.test("--out equal to --events is refused before anything is read", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const events = `${dir}/log.csv`;
    await Deno.copyFile(fixture, events);
    const before = await Deno.readTextFile(events);
    const r = await runTask("build-index", [
      "--events",
      events,
      "--out",
      events,
    ]);
    assert.equal(r.code, 1);
    assert.match(
      r.stderr,
      /^error: --out is the input .*log\.csv: writing it would destroy it\n$/,
    );
    assert.equal(await Deno.readTextFile(events), before);
    const noDir = await runTask("build-index", [
      "--events",
      events,
      "--out",
      `${dir}/missing/m.ndjson`,
    ]);
    assert.equal(noDir.code, 1);
    assert.match(
      noDir.stderr,
      /^error: --out directory .*missing does not exist\n$/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("one settings file drives every task; flags override it; errors name the key", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const settings = `${dir}/cco.json`;
    await Deno.writeTextFile(
      settings,
      JSON.stringify({
        events: { path: fixture, format: "retailrocket" },
        indicators: [
          { name: "transaction", maxIndicatorsPerItem: 3 },
          { name: "view", minRootLlr: 2 },
        ],
        similar: null,
        serving: { num: 2 },
      }),
    );
    const out = `${dir}/m.ndjson`;
    const built = await runTask("build-index", [
      "--config",
      settings,
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const { manifest, documents } = await readModel(out);
    assert.deepEqual(
      manifest.fields.map((
        f,
      ) => [f.name, f.maxIndicatorsPerItem, f.minRootLlr]),
      // what the file does not set is the build's default: significance
      // 0.01 (root LLR 2.5758...), 100 per item
      [["indicators", 3, 2.575829288381044], ["indicators_view", 100, 2]],
    );
    assert.ok(documents.every((d) => d.indicators.length <= 3));
    // the serving default comes from the same file ($CCO_CONFIG), a flag wins
    const viaEnv = await runTask("recommend", [
      "--indicators",
      out,
      "--history",
      "1205",
      "--json",
    ], { CCO_CONFIG: settings });
    assert.equal(viaEnv.code, 0, viaEnv.stderr);
    assert.equal(JSON.parse(viaEnv.stdout).length, 2);
    const flag = await runTask("recommend", [
      "--config",
      settings,
      "--indicators",
      out,
      "--history",
      "1205",
      "--num",
      "4",
      "--json",
    ]);
    assert.equal(JSON.parse(flag.stdout).length, 4);
    // invalid settings: one line naming the file and the key
    await Deno.writeTextFile(
      settings,
      JSON.stringify({
        indicators: [{ name: "buy", maxIndicatorsPerItem: -1 }],
      }),
    );
    const bad = await runTask("build-index", [
      "--config",
      settings,
      "--out",
      out,
    ]);
    assert.equal(bad.code, 1);
    assert.equal(
      bad.stderr,
      `error: ${settings}: indicators[0].maxIndicatorsPerItem must be >= 0, got -1\n`,
    );
    await Deno.writeTextFile(
      settings,
      JSON.stringify({ serving: { nums: 3 } }),
    );
    const unknown = await runTask("serve", [
      "--config",
      settings,
      "--events",
      fixture,
    ]);
    assert.equal(unknown.code, 1);
    assert.match(
      unknown.stderr,
      /^error: .*cco\.json: serving has an unknown key "nums" \(known: num, /,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

esTest(
  'serve --event-store elasticsearch works (it always failed with "needs ES_URL")',
  async ({ url, index }) => {
    const alias = index("serve-es");
    const eventsIndex = index("serve-events");
    const built = await runTask("build-index", [
      "--events",
      fixture,
      "--alias",
      alias,
    ], { ES_URL: url });
    assert.equal(built.code, 0, built.stderr);
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        ...taskPermissions("serve"),
        `${root}cli/main.ts`,
        "serve",
        "--port",
        "0",
        "--alias",
        alias,
        "--event-store",
        "elasticsearch",
        "--events-index",
        eventsIndex,
      ],
      env: { ES_URL: url, NO_COLOR: "1" },
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    try {
      const reader = child.stdout.pipeThrough(new TextDecoderStream())
        .getReader();
      let text = "";
      while (!/ on http:\/\/[\d.]+:\d+/.test(text)) {
        const { value, done } = await reader.read();
        if (done) break;
        text += value;
      }
      const base = / on (http:\/\/[\d.]+:\d+)/.exec(text)?.[1];
      assert.ok(base, `serve did not start: ${text}`);
      reader.releaseLock();
      const post = await fetch(`${base}/events`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          user: "u1",
          item: "1205",
          event: "transaction",
        }),
      });
      assert.equal(post.status, 202, await post.text());
    } finally {
      child.kill("SIGTERM");
      await child.status;
      await child.stdout.cancel().catch(() => {});
      await child.stderr.cancel().catch(() => {});
    }
  },
);

Deno.test("build-index reads the event types its rankings name (a custom type named only there is not refused as unknown)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const log = `${dir}/events.csv`;
    const text = await Deno.readTextFile(fixture);
    // a few wishlist events: a type only the ranking names
    await Deno.writeTextFile(
      log,
      text + "1433122190000,6540,wishlist,2000,\n" +
        "1433122191000,6541,wishlist,2000,\n",
    );
    const settings = `${dir}/cco.json`;
    await Deno.writeTextFile(
      settings,
      JSON.stringify({
        rankings: [{
          name: "wished",
          type: "popular",
          count: "events",
          eventNames: ["wishlist"],
        }],
      }),
    );
    const out = `${dir}/m.ndjson`;
    const built = await runTask("build-index", [
      "--config",
      settings,
      "--events",
      log,
      "--secondary",
      "view,addtocart",
      "--out",
      out,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const model = await readModel(out);
    assert.equal(model.manifest.metadata.wished, "number");
    const item = model.documents.find((d) => d.id === "2000")!;
    assert.equal(item.metadata?.wished, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
