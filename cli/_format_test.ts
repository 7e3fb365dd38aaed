import assert from "node:assert/strict";
import { acceptNamed, eventFormat, primaryEvent } from "./_format.ts";
import { ConfigError } from "../errors/mod.ts";

Deno.test("format flags override the preset; a header name cannot survive --no-header", async () => {
  const r = await eventFormat({
    "no-header": true,
    delimiter: "\\t",
    "user-col": "0",
    "item-col": "1",
    "timestamp-col": "3",
    "timestamp-unit": "s",
    event: "rating",
  });
  const {
    delimiter,
    header,
    user,
    item,
    timestamp,
    timestampUnit,
    fixedEvent,
  } = r.format;
  assert.deepEqual(
    { delimiter, header, user, item, timestamp, timestampUnit, fixedEvent },
    {
      delimiter: "\t",
      header: false,
      user: 0,
      item: 1,
      timestamp: 3,
      timestampUnit: "s",
      fixedEvent: "rating",
    },
  );
  assert.equal(r.format.event, undefined);
  assert.equal(r.format.events, undefined);
  assert.equal(r.name, "retailrocket (modified)");
  // no timestamp column named again: none (file order is time)
  const noTime = await eventFormat({
    "no-header": true,
    "user-col": "0",
    "item-col": "1",
    "event-col": "2",
  });
  assert.equal(noTime.format.timestamp, undefined);
  assert.equal(noTime.format.event, 2);
});

Deno.test("format flags that cannot work are one-line ConfigErrors", async () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { "event-alias": ["pv"] },
      '--event-alias must look like raw=name, got "pv"',
    ],
    [
      { "event-alias": ["=view"] },
      '--event-alias must look like raw=name, got "=view"',
    ],
    [
      { "timestamp-unit": "us" },
      '--timestamp-unit must be ms, s or datetime, got "us"',
    ],
    [
      { format: "taobao", "format-config": "f.json" },
      "--format and --format-config are exclusive",
    ],
    [
      { format: "parquet" },
      'unknown format "parquet"; presets: retailrocket, taobao, tianchi, movielens',
    ],
  ];
  for (const [flags, message] of cases) {
    await assert.rejects(() => eventFormat(flags), (e) => {
      assert.ok(e instanceof ConfigError, String(e));
      assert.equal(e.message, message);
      return true;
    });
  }
});

Deno.test("the primary event: --primary, then the settings' first indicator, then the preset", async () => {
  const movielens = await eventFormat({ format: "movielens" });
  assert.equal(primaryEvent(undefined, {}, movielens), "like");
  assert.equal(
    primaryEvent(undefined, { indicators: [{ name: "rating" }] }, movielens),
    "rating",
  );
  assert.equal(primaryEvent("neutral", {}, movielens), "neutral");
  // a log of one fixed event predicts it
  const fixed = await eventFormat({
    "no-header": true,
    "user-col": "0",
    "item-col": "1",
    event: "x",
  });
  assert.equal(primaryEvent(undefined, {}, fixed), "x");
  // other event names than the preset's: nothing names the primary event
  const custom = await eventFormat({
    "no-header": true,
    "user-col": "0",
    "item-col": "1",
    "event-col": "2",
  });
  assert.throws(
    () => primaryEvent(undefined, {}, custom),
    /--primary is needed/,
  );
});

Deno.test("acceptNamed adds the event types a build names to a preset's list", () => {
  const f = { user: 0, item: 1, events: ["view", "transaction"] };
  assert.deepEqual(
    acceptNamed(f, ["transaction", "wishlist", null, undefined]).events,
    ["view", "transaction", "wishlist"],
  );
  const open = { user: 0, item: 1 };
  assert.equal(acceptNamed(open, ["x"]), open);
});
