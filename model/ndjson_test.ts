import assert from "node:assert/strict";
import { buildIndicators } from "../indicators/build.ts";
import { readEvents } from "../events/read.ts";
import { parseIndicatorDocuments, toNdjson } from "./ndjson.ts";

Deno.test("NDJSON round-trips every indicator field and score", async () => {
  const { documents } = await buildIndicators(
    readEvents(
      new URL("../fixtures/hand_worked_cco.csv", import.meta.url).pathname,
    ),
    { minRootLlr: 0 },
  );
  const text = toNdjson(documents);
  assert.equal(text.split("\n").length, documents.length + 1);
  assert.deepEqual(parseIndicatorDocuments(text, "x.ndjson"), documents);
  assert.equal(
    text.split("\n")[0],
    '{"id":"X","indicators":[],"indicators_view":[],"similar_view":["Y"],' +
      '"scores":{"indicators":[],"indicators_view":[],"similar_view":[' +
      documents[0].scores.similar_view[0] + "]}," +
      '"weights":{"indicators":[],"indicators_view":[],"similar_view":[' +
      documents[0].weights!.similar_view[0] + ']},"metadata":{"popularity":0}}',
  );
});

Deno.test("NDJSON errors name the line", () => {
  assert.throws(
    () => parseIndicatorDocuments('{"id":"a"}\nnope\n', "f.ndjson"),
    {
      name: "SyntaxError",
      message: /^f\.ndjson:2: /,
    },
  );
  assert.throws(
    () => parseIndicatorDocuments('{"indicators":[]}', "f.ndjson"),
    {
      message: 'f.ndjson:1: expected an object with a string "id"',
    },
  );
  assert.throws(
    () =>
      parseIndicatorDocuments('{"id":"a","indicators_view":[1]}', "f.ndjson"),
    { message: 'f.ndjson:1: "indicators_view" must be an array of strings' },
  );
  assert.throws(
    () => parseIndicatorDocuments('{"id":"a","scores":[1]}', "f.ndjson"),
    { message: 'f.ndjson:1: "scores" must map fields to arrays of numbers' },
  );
});

Deno.test("NDJSON weights must be positive numbers aligned with the ids", () => {
  const ok =
    '{"id":"a","indicators":["b","c"],"weights":{"indicators":[1,2.5]}}';
  assert.deepEqual(parseIndicatorDocuments(ok, "f")[0].weights, {
    indicators: [1, 2.5],
  });
  for (
    const weights of [
      '{"indicators":[1]}',
      '{"indicators":[1,0]}',
      '{"indicators":[1,"2"]}',
      '{"indicators_view":[1,2]}',
    ]
  ) {
    assert.throws(
      () =>
        parseIndicatorDocuments(
          `{"id":"a","indicators":["b","c"],"weights":${weights}}`,
          "f",
        ),
      {
        message:
          /^f:1: "weights\.indicators(_view)?" must be positive numbers, one per id/,
      },
      weights,
    );
  }
  assert.throws(
    () => parseIndicatorDocuments('{"id":"a","weights":[1]}', "f"),
    { message: 'f:1: "weights" must be an object' },
  );
});
