import assert from "node:assert/strict";
import { buildIndicators } from "../indicators/build.ts";
import { readEvents } from "../events/read.ts";
import { openModel, readModel, writeModel } from "./ndjson.ts";
import { ModelError } from "../errors/mod.ts";

const handWorked =
  new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname;

Deno.test("NDJSON round-trips the manifest, every indicator field and score", async () => {
  const { manifest, documents } = await buildIndicators(
    readEvents(handWorked),
    { primaryEvent: "transaction", minRootLlr: 0 },
  );
  const dir = await Deno.makeTempDir();
  try {
    for (const name of ["m.ndjson", "m.ndjson.gz"]) {
      const path = `${dir}/${name}`;
      await writeModel(path, { manifest, documents });
      assert.deepEqual(await readModel(path), { manifest, documents });
    }
    const lines = (await Deno.readTextFile(`${dir}/m.ndjson`)).split("\n");
    assert.equal(lines.length, documents.length + 2);
    assert.deepEqual(JSON.parse(lines[0]), manifest);
    assert.equal(
      lines[1],
      '{"id":"X","indicators":[],"indicators_view":[],"similar_view":["Y"],' +
        '"scores":{"indicators":[],"indicators_view":[],"similar_view":[' +
        documents[0].scores.similar_view[0] + "]}," +
        '"weights":{"indicators":[],"indicators_view":[],"similar_view":[' +
        documents[0].weights!.similar_view[0] +
        ']},"metadata":{"popularity":0}}',
    );
    // a directory of parts with manifest.json, as a distributed build writes
    await Deno.mkdir(`${dir}/parts`);
    await Deno.writeTextFile(
      `${dir}/parts/manifest.json`,
      JSON.stringify(manifest),
    );
    await Deno.writeTextFile(
      `${dir}/parts/part-00001.ndjson`,
      documents.slice(2).map((d) => JSON.stringify(d) + "\n").join(""),
    );
    await Deno.writeTextFile(
      `${dir}/parts/part-00000.ndjson`,
      documents.slice(0, 2).map((d) => JSON.stringify(d) + "\n").join(""),
    );
    assert.deepEqual(await readModel(`${dir}/parts`), { manifest, documents });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeModel: nothing under the final name when writing fails", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { manifest, documents } = await buildIndicators(
      readEvents(handWorked),
      { primaryEvent: "transaction", minRootLlr: 0 },
    );
    const failing = async function* () {
      yield documents[0];
      throw new Error("the build died");
    };
    await assert.rejects(
      () => writeModel(`${dir}/m.ndjson`, { manifest, documents: failing() }),
      {
        name: "ModelError",
        message: `cannot write ${dir}/m.ndjson: the build died`,
      },
    );
    assert.deepEqual(await Array.fromAsync(Deno.readDir(dir)), []);
    await assert.rejects(
      () => writeModel(`${dir}/no/such/dir/m.ndjson`, { manifest, documents }),
      (e) =>
        e instanceof ModelError &&
        /^cannot write .*m\.ndjson: /.test(e.message),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("writeModel writes documents' own NDJSON lines, gzipped or not, and fails cleanly mid-way", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const { manifest, documents } = await buildIndicators(
      readEvents(handWorked),
      { primaryEvent: "transaction", minRootLlr: 0 },
    );
    const encoder = new TextEncoder();
    const line = (i: number) => JSON.stringify(documents[i]) + "\n";
    // the lines in chunks of 1 and 2 documents: what the objects say is
    // not what is written (proof that the lines are)
    const withLines = (fail: boolean) =>
      Object.assign([{ id: "never written" }], {
        *ndjsonLines() {
          yield { bytes: encoder.encode(line(0)), documents: 1 };
          if (fail) throw new Error("the rows are gone");
          yield { bytes: encoder.encode(line(1) + line(2)), documents: 2 };
        },
      }) as unknown as typeof documents;
    for (const name of ["m.ndjson", "m.ndjson.gz"]) {
      const seen: number[] = [];
      const written = await writeModel(
        `${dir}/${name}`,
        { manifest, documents: withLines(false) },
        { onProgress: (n) => seen.push(n) },
      );
      assert.equal(written.documents, 3);
      assert.equal(seen.at(-1), 3);
      const read = await readModel(`${dir}/${name}`);
      assert.deepEqual(read.documents, documents.slice(0, 3));
    }
    await assert.rejects(
      () =>
        writeModel(`${dir}/f.ndjson`, { manifest, documents: withLines(true) }),
      {
        name: "ModelError",
        message: `cannot write ${dir}/f.ndjson: the rows are gone`,
      },
    );
    assert.deepEqual(
      (await Array.fromAsync(Deno.readDir(dir))).map((e) => e.name).sort(),
      ["m.ndjson", "m.ndjson.gz"],
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function model(text: string) {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/f.ndjson`;
  await Deno.writeTextFile(path, text);
  return { path, done: () => Deno.remove(dir, { recursive: true }) };
}

Deno.test("NDJSON errors name the file and line", async () => {
  const manifest = JSON.stringify({
    format: "cco-es/model",
    version: 1,
    tool: { name: "cco-es", version: "0.2.0", engine: "deno" },
    created: "2026-01-01T00:00:00.000Z",
    primaryEvent: "buy",
    fields: [{
      name: "indicators",
      rows: "buy",
      columns: "buy",
      weights: "none",
      indicators: 0,
    }],
    counts: { documents: 1 },
    metadata: {},
  });
  const cases: [string, RegExp][] = [
    [`${manifest}\n{"id":"a"}\nnope\n`, /f\.ndjson:3: /],
    [
      `${manifest}\n{"indicators":[]}`,
      /f\.ndjson:2: expected an object with a string "id"$/,
    ],
    [
      `${manifest}\n\n{"id":"a","indicators_view":[1]}`,
      /f\.ndjson:3: "indicators_view" must be an array of strings$/,
    ],
    [
      `${manifest}\n{"id":"a","scores":[1]}`,
      /f\.ndjson:2: "scores" must map fields to arrays of numbers$/,
    ],
    [
      `${manifest}\n{"id":"a","weights":[1]}`,
      /f\.ndjson:2: "weights" must be an object$/,
    ],
    [
      manifest.replace('"buy",', '"b u y",'),
      /f\.ndjson:1: manifest\.primaryEvent must be an event type name$/,
    ],
    ['{"id":"a"}\n', /f\.ndjson has no manifest on its first line/],
  ];
  for (const [text, message] of cases) {
    const { path, done } = await model(text);
    try {
      await assert.rejects(() => readModel(path), (e) => {
        assert.ok(e instanceof ModelError, String(e));
        assert.match(e.message, message);
        return true;
      });
    } finally {
      await done();
    }
  }
});

Deno.test("NDJSON weights must be positive numbers aligned with the ids", async () => {
  const ok =
    '{"id":"a","indicators":["b","c"],"weights":{"indicators":[1,2.5]}}';
  const { path, done } = await model(ok);
  try {
    const { documents } = await openModel(path, { primaryEvent: "buy" });
    assert.deepEqual((await documents.next()).value?.weights, {
      indicators: [1, 2.5],
    });
  } finally {
    await done();
  }
  for (
    const weights of [
      '{"indicators":[1]}',
      '{"indicators":[1,0]}',
      '{"indicators":[1,"2"]}',
      '{"indicators_view":[1,2]}',
    ]
  ) {
    const { path, done } = await model(
      `{"id":"a","indicators":["b","c"],"weights":${weights}}`,
    );
    try {
      await assert.rejects(
        () => readModel(path, { primaryEvent: "buy" }),
        {
          message:
            /:1: "weights\.indicators(_view)?" must be positive numbers, one per id/,
        },
        weights,
      );
    } finally {
      await done();
    }
  }
});
