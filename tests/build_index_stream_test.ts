/**
 * build-index as a user runs it (subprocesses): the streamed build gives
 * the library's model whatever the memory budget, items are merged as the
 * documents pass, every flag that cannot work is refused before reading,
 * and the progress never shows a wild ETA.
 */
import assert from "node:assert/strict";
import { buildIndicators } from "../indicators/build.ts";
import { readEvents } from "../events/read.ts";
import { readModel } from "../model/ndjson.ts";
import { mergeItems, readItems } from "../model/items.ts";
import type { Model } from "../model/manifest.ts";

import { root, runTask } from "./_cli.ts";

const fixture = `${root}fixtures/demo_events.csv`;
const itemsFile = `${root}fixtures/demo_items.csv`;

const strip = (m: Model) => ({
  manifest: { ...m.manifest, created: "", source: undefined },
  documents: m.documents,
});

Deno.test("build-index --out: the library's model at any memory budget, with items merged as documents stream", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const want = await buildIndicators(readEvents(fixture), {
      primaryEvent: "transaction",
    });
    const merged = {
      manifest: structuredClone(want.manifest),
      documents: structuredClone(want.documents),
    };
    mergeItems(merged, await readItems(itemsFile));
    for (const args of [[], ["--memory-budget", "1"], ["--workers", "2"]]) {
      const out = `${dir}/m.ndjson.gz`;
      const run = await runTask("build-index", [
        "--events",
        fixture,
        "--out",
        out,
        "--items",
        itemsFile,
        "--temp-dir",
        dir,
        ...args,
      ]);
      assert.equal(run.code, 0, run.stderr);
      assert.deepEqual(
        strip(await readModel(out)),
        strip(merged),
        args.join(" "),
      );
      if (args[0] === "--memory-budget") {
        assert.match(run.stderr, /similar_view +view × view: .* in \d+ passes/);
      }
      // no ETA before it means something, never a wild one
      for (const eta of run.stderr.matchAll(/ETA ([\d.]+) s/g)) {
        assert.ok(Number(eta[1]) < 3600, run.stderr);
      }
      // nothing left behind
      assert.deepEqual(
        [...Deno.readDirSync(dir)].map((e) => e.name),
        ["m.ndjson.gz"],
      );
      await Deno.remove(out);
    }
    // an export published again, with items: the same merge
    const plain = `${dir}/plain.ndjson`;
    assert.equal(
      (await runTask("build-index", ["--events", fixture, "--out", plain]))
        .code,
      0,
    );
    const again = `${dir}/again.ndjson`;
    const republished = await runTask("build-index", [
      "--indicators",
      plain,
      "--items",
      itemsFile,
      "--out",
      again,
    ]);
    assert.equal(republished.code, 0, republished.stderr);
    assert.deepEqual(strip(await readModel(again)), strip(merged));
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build-index refuses every flag that cannot work before reading anything", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/m.ndjson`;
    const cases: [string[], string][] = [
      [
        ["--events", fixture, "--out", fixture],
        `error: --out is the input ${fixture}: writing it would destroy it`,
      ],
      [
        ["--events", fixture, "--out", out, "--items", `${dir}/nope.csv`],
        `error: --items cannot read ${dir}/nope.csv: `,
      ],
      [
        ["--events", `${dir}/nope.csv`, "--out", out],
        `error: --events cannot read ${dir}/nope.csv: `,
      ],
      [
        ["--events", fixture, "--out", `${dir}/no/such/dir/m.ndjson`],
        `error: --out directory ${dir}/no/such/dir does not exist`,
      ],
      [
        ["--events", fixture, "--out", `${fixture}/m.ndjson`],
        `error: --out directory ${fixture} does not exist`,
      ],
      [
        ["--events", fixture, "--out", out, "--memory-budget", "lots"],
        'error: --memory-budget must be a size such as 4G, 512M or a number of bytes, got "lots"',
      ],
      [
        ["--events", fixture, "--out", out, "--workers=-1"],
        "error: --workers must be >= 0, got -1",
      ],
      [
        ["--events", fixture, "--out", out, "--temp-dir", `${dir}/none`],
        `error: --temp-dir cannot write in ${dir}/none: `,
      ],
      [
        ["--events", fixture, "--out", out, "--on-error", "ignore"],
        'error: --on-error must be fail or skip, got "ignore"',
      ],
    ];
    for (const [args, message] of cases) {
      const { code, stderr } = await runTask("build-index", args);
      assert.equal(code, 1, args.join(" "));
      assert.ok(!/reading|memory budget/.test(stderr), stderr);
      const lines = stderr.trim().split("\n");
      assert.equal(lines.length, 1, stderr);
      assert.ok(
        lines[0].startsWith(message),
        `${args.join(" ")}:\n  got  ${lines[0]}\n  want ${message}`,
      );
    }
    assert.deepEqual([...Deno.readDirSync(dir)], []);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("build-index --tune: searches on a validation split, records it in the manifest and builds with the best", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const tuned = `${dir}/tuned.ndjson`;
    const run = await runTask("build-index", [
      "--events",
      fixture,
      "--out",
      tuned,
      "--tune",
      "--tune-budget",
      "none",
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(
      run.stderr,
      /^reading .* \(tuning holds it in typed columns\)/m,
    );
    assert.match(run.stderr, /^tuned: \{"protocol":"last-k"/m);
    const model = await readModel(tuned);
    const tuning = model.manifest.tuning as {
      complete: boolean;
      settings: number;
      best: Record<string, unknown>;
    };
    assert.equal(tuning.complete, true);
    assert.ok(tuning.settings > 1);
    // the build used what the search chose
    const best = tuning.best;
    for (const f of model.manifest.fields) {
      if (f.rows !== model.manifest.primaryEvent) continue;
      assert.equal(f.maxIndicatorsPerItem, best.maxIndicatorsPerItem, f.name);
      assert.equal(f.weights, best.weights, f.name);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
