/**
 * `recommend --batch`: one process answers a file of requests, one JSON
 * line per request in input order, with the same answers as one
 * `recommend --request` per user.
 */
import assert from "node:assert/strict";

import { root, runTask } from "./_cli.ts";

Deno.test("recommend --batch writes {user, items, scores} per line, as recommend --request answers", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = `${dir}/model.ndjson`;
    const built = await runTask("build-index", [
      "--events",
      `${root}fixtures/demo_events.csv`,
      "--out",
      model,
    ]);
    assert.equal(built.code, 0, built.stderr);
    const requests = [
      { user: "v1", history: ["1205", "1201"] },
      { user: "v2", history: { view: ["1205"] }, num: 3 },
      { user: "v3", items: ["1201"], backfill: false },
    ];
    const input = `${dir}/users.ndjson`;
    await Deno.writeTextFile(
      input,
      requests.map((r) => JSON.stringify(r)).join("\n") + "\n",
    );
    const out = `${dir}/results.ndjson`;
    const batch = await runTask("recommend", [
      "--indicators",
      model,
      "--batch",
      input,
      "--out",
      out,
    ]);
    assert.equal(batch.code, 0, batch.stderr);
    const lines = (await Deno.readTextFile(out)).trim().split("\n")
      .map((l) => JSON.parse(l));
    assert.deepEqual(lines.map((l) => l.user), ["v1", "v2", "v3"]);
    for (const [i, { user: _, ...request }] of requests.entries()) {
      const one = await runTask("recommend", [
        "--indicators",
        model,
        "--request",
        JSON.stringify(request),
        "--json",
      ]);
      assert.equal(one.code, 0, one.stderr);
      const recs = JSON.parse(one.stdout) as { id: string; score: number }[];
      assert.ok(recs.length > 0);
      assert.deepEqual(lines[i].items, recs.map((r) => r.id));
      assert.deepEqual(lines[i].scores, recs.map((r) => r.score));
    }
    // to stdout; a refused request is an error line, the rest answered, exit 1
    await Deno.writeTextFile(
      input,
      '{"user":"bad","num":0}\n{"user":"v1","history":["1205"]}\n',
    );
    const mixed = await runTask("recommend", [
      "--indicators",
      model,
      "--batch",
      input,
    ]);
    assert.equal(mixed.code, 1);
    const [bad, good] = mixed.stdout.trim().split("\n").map((l) =>
      JSON.parse(l)
    );
    assert.match(bad.error, /^request\.num must be >= 1, got 0/);
    assert.equal(good.user, "v1");
    assert.match(mixed.stderr, /1 request\(s\) of .* were refused/);
    // a line without a user stops the batch with file:line
    await Deno.writeTextFile(input, '{"user":"a"}\n{"history":[]}\n');
    const broken = await runTask("recommend", [
      "--indicators",
      model,
      "--batch",
      input,
      "--out",
      `${dir}/broken.ndjson`,
    ]);
    assert.equal(broken.code, 1);
    assert.match(
      broken.stderr,
      /users\.ndjson:2: user must be a non-empty string/,
    );
    await assert.rejects(() => Deno.stat(`${dir}/broken.ndjson`));
    const both = await runTask("recommend", [
      "--indicators",
      model,
      "--batch",
      input,
      "--history",
      "1",
    ]);
    assert.match(both.stderr, /^error: --history and --batch are exclusive/);
    // more than one chunk (256 KiB) of requests: the same bytes with 1 and
    // 2 worker threads
    const many = Array.from({ length: 4000 }, (_, i) =>
      JSON.stringify({
        user: `u${i}`,
        history: ["1205", "1201", "1203", "1207"].slice(i % 4),
        ...(i % 7 === 0 ? { num: 3 } : {}),
      }) + " ".repeat(60)).join("\n") + "\n";
    await Deno.writeTextFile(input, many);
    const outputs: string[] = [];
    for (const workers of ["1", "2"]) {
      const run = await runTask("recommend", [
        "--indicators",
        model,
        "--batch",
        input,
        "--workers",
        workers,
        "--out",
        `${dir}/w${workers}.ndjson`,
      ]);
      assert.equal(run.code, 0, run.stderr);
      outputs.push(await Deno.readTextFile(`${dir}/w${workers}.ndjson`));
    }
    assert.equal(outputs[0].split("\n").length, 4001);
    assert.equal(outputs[1], outputs[0]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
