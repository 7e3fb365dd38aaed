import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { CHUNK_BYTES, HEADROOM } from "./_input.ts";
import {
  EventParseError,
  parseEvents,
  readEventBatches,
  readEventColumns,
  readEvents,
} from "./read.ts";
import {
  type Event,
  type EventFormat,
  PRESETS,
  resolveFormat,
} from "./format.ts";

const all = (
  text: string | string[],
  format?: Parameters<typeof parseEvents>[1],
) => Array.fromAsync(parseEvents(text, format, "in.csv"));

const RR_HEADER = "timestamp,visitorid,event,itemid,transactionid\n";

Deno.test("RetailRocket is the default format", async () => {
  const events = await all(
    RR_HEADER +
      "1433221332117,257597,view,355908,\n" +
      "1433224214164,992329,transaction,248676,4000\r\n" +
      "1433221955914,111016,addtocart,111,",
  );
  assert.deepEqual(events, [
    { user: "257597", item: "355908", event: "view", timestamp: 1433221332117 },
    {
      user: "992329",
      item: "248676",
      event: "transaction",
      timestamp: 1433224214164,
    },
    {
      user: "111016",
      item: "111",
      event: "addtocart",
      timestamp: 1433221955914,
    },
  ]);
});

Deno.test("header columns may come in any order", async () => {
  const events = await all(
    "itemid,event,transactionid,visitorid,timestamp\n5,view,,9,1000\n",
  );
  assert.deepEqual(events, [
    { user: "9", item: "5", event: "view", timestamp: 1000 },
  ]);
});

Deno.test("presets: taobao, tianchi, movielens", async () => {
  assert.deepEqual(
    await all(
      ["543462,1715,1464116,pv,1511658000\n", "1,2,3,buy,1511658001"],
      "taobao",
    ),
    [
      { user: "543462", item: "1715", event: "view", timestamp: 1511658000000 },
      { user: "1", item: "2", event: "transaction", timestamp: 1511658001000 },
    ],
  );
  assert.deepEqual(
    await all(
      "user_id,item_id,behavior_type,user_geohash,item_category,time\n" +
        "98047837,232431562,4,,4245,2014-12-06 02\n",
      "tianchi",
    ),
    [{
      user: "98047837",
      item: "232431562",
      event: "transaction",
      timestamp: Date.UTC(2014, 11, 6, 2),
    }],
  );
  assert.deepEqual(
    await all("196\t242\t3\t881250949\n22\t377\t5\t878887116\n", "movielens"),
    [
      { user: "196", item: "242", event: "neutral", timestamp: 881250949000 },
      { user: "22", item: "377", event: "like", timestamp: 878887116000 },
    ],
  );
});

Deno.test("text chunks may split lines anywhere", async () => {
  const text = RR_HEADER + "1,2,view,3,\n4,5,transaction,6,7\n";
  const chunks = text.match(/.{1,7}/gs)!;
  assert.deepEqual(await all(chunks), await all(text));
  assert.equal((await all(chunks)).length, 2);
});

Deno.test("gzip files are streamed and decompressed", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const text = RR_HEADER + "1000,u1,view,i1,\n2000,u2,transaction,i2,t\n";
    const gz = await new Response(
      new Blob([text]).stream().pipeThrough(new CompressionStream("gzip")),
    ).arrayBuffer();
    await Deno.writeFile(`${dir}/e.csv.gz`, new Uint8Array(gz));
    await Deno.writeTextFile(`${dir}/e.csv`, text);
    const fromGz = await Array.fromAsync(readEvents(`${dir}/e.csv.gz`));
    const plain = await Array.fromAsync(readEvents(`${dir}/e.csv`));
    assert.deepEqual(fromGz, plain);
    assert.deepEqual(fromGz[1], {
      user: "u2",
      item: "i2",
      event: "transaction",
      timestamp: 2000,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

async function parseError(
  text: string | string[],
  format?: Parameters<typeof parseEvents>[1],
): Promise<EventParseError> {
  try {
    await all(text, format);
  } catch (error) {
    assert.ok(error instanceof EventParseError, String(error));
    return error;
  }
  throw new Error("expected an EventParseError");
}

Deno.test("malformed input: file, line and cause", async () => {
  const cases: [string, string, Parameters<typeof parseEvents>[1]?][] = [
    [
      RR_HEADER + "1,2,view,3,\n1,2,view\n",
      "in.csv:3: expected 5 columns, got 3",
    ],
    [
      RR_HEADER + "1,2,view,3,\nabc,2,view,3,\n",
      'in.csv:3: timestamp "abc" is not a plain decimal number (unix ms)',
    ],
    [
      RR_HEADER + ",2,view,3,\n",
      'in.csv:2: timestamp "" is not a plain decimal number (unix ms)',
    ],
    [
      RR_HEADER + "1,2,click,3,\n",
      'in.csv:2: unknown event "click"; accepted: view, addtocart, transaction',
    ],
    [RR_HEADER + "1,,view,3,\n", "in.csv:2: empty user id"],
    [RR_HEADER + "1,2,view,,\n", "in.csv:2: empty item id"],
    [
      "1433221332117,257597,view,355908,\n",
      'in.csv:1: missing header: expected columns "visitorid", "itemid", "event", "timestamp", found "1433221332117,257597,view,355908,"',
    ],
    [
      "timestamp,visitorid,event,item\n",
      'in.csv:1: missing header: expected column "itemid", found "timestamp,visitorid,event,item"',
    ],
    ["", "in.csv:1: empty file: no events"],
    [
      RR_HEADER + "1,2,view,3,\n\n4,5,view,6,\n",
      "in.csv:3: blank line in the middle of the file",
    ],
    [
      "1,2,3,click,1511658000\n",
      'in.csv:1: unknown event "click"; accepted: view, addtocart, fav, transaction, pv, cart, buy',
      "taobao",
    ],
    [
      "1,2,3,pv,1511658000,9\n",
      "in.csv:1: expected 5 columns, got 6",
      "taobao",
    ],
    [
      "user_id,item_id,behavior_type,user_geohash,item_category,time\n1,2,1,,3,yesterday\n",
      'in.csv:2: timestamp "yesterday" is not a date-time',
      "tianchi",
    ],
  ];
  for (const [text, message, format] of cases) {
    const error = await parseError(text, format);
    assert.equal(error.message, message);
    assert.equal(error.file, "in.csv");
  }
  const e = await parseError(RR_HEADER + "1,2,view\n");
  assert.equal(e.line, 2);
  assert.equal(e.reason, "expected 5 columns, got 3");
});

Deno.test("a missing file names the file", async () => {
  await assert.rejects(
    () => Array.fromAsync(readEvents("/nonexistent/events.csv")),
    (error: EventParseError) => {
      assert.match(
        error.message,
        /^\/nonexistent\/events\.csv:0: cannot open: /,
      );
      return true;
    },
  );
});

Deno.test("custom formats: layout, fixed event, aliases, named columns", async () => {
  // (the CLI flags that make these formats are tested with the CLI)
  const format: EventFormat = {
    delimiter: "\t",
    header: false,
    user: 0,
    item: 1,
    timestamp: 3,
    timestampUnit: "s",
    fixedEvent: "rating",
  };
  assert.deepEqual(await all("7\t8\t5\t100\n", format), [
    { user: "7", item: "8", event: "rating", timestamp: 100000 },
  ]);
  const aliased: EventFormat = {
    ...PRESETS.taobao,
    eventAliases: { ...PRESETS.taobao.eventAliases, fav: "view" },
  };
  assert.deepEqual(
    (await all("1,2,3,fav,10\n", aliased)).map((e: Event) => e.event),
    ["view"],
  );
  const named: EventFormat = {
    user: "who",
    item: "what",
    event: "kind",
    timestamp: "when",
    events: ["buy", "look"],
  };
  assert.deepEqual(await all("when,who,what,kind\n5,u,i,buy\n", named), [
    { user: "u", item: "i", event: "buy", timestamp: 5 },
  ]);
  assert.equal(
    (await parseError("when,who,what,kind\n5,u,i,sell\n", named)).message,
    'in.csv:2: unknown event "sell"; accepted: buy, look',
  );
  assert.throws(() => resolveFormat("parquet"), {
    name: "ConfigError",
    message:
      'unknown format "parquet"; presets: retailrocket, taobao, tianchi, movielens',
  });
  assert.throws(
    () => resolveFormat({ header: false, user: "visitor", item: 1, event: 2 }),
    {
      name: "ConfigError",
      message:
        'invalid event format: "user" column "visitor" is a name but there is no header',
    },
  );
  const columns: EventFormat = {
    header: false,
    user: 1,
    item: 0,
    timestamp: 2,
    fixedEvent: "transaction",
  };
  assert.deepEqual(await all("i9,u9,42\n", columns), [
    { user: "u9", item: "i9", event: "transaction", timestamp: 42 },
  ]);
});

// The real logs (never copied into the repo), when present beside it.
const datasets = new URL("../../shared/datasets/", import.meta.url).pathname;
const haveDatasets = await Deno.stat(datasets).then(() => true, () => false);

async function census(path: string, format: string) {
  const perEvent: Record<string, number> = {};
  const users = new Set<string>();
  let rows = 0;
  for await (const e of readEvents(path, format)) {
    rows++;
    perEvent[e.event] = (perEvent[e.event] ?? 0) + 1;
    users.add(e.user);
  }
  return { rows, perEvent, users: users.size };
}

Deno.test({
  name: `real logs match their published counts${
    haveDatasets ? "" : " [skipped: ../shared/datasets absent]"
  }`,
  ignore: !haveDatasets,
  fn: async () => {
    assert.deepEqual(
      await census(
        `${datasets}taobao-userbehavior-2h/UserBehavior.csv.gz`,
        "taobao",
      ),
      {
        rows: 110_300,
        perEvent: {
          view: 98_361,
          addtocart: 6_063,
          fav: 3_383,
          transaction: 2_493,
        },
        users: 66_454,
      },
    );
    assert.deepEqual(
      await census(
        `${datasets}tianchi-mobile-sample/sample_user_behavior.csv.gz`,
        "tianchi",
      ),
      {
        rows: 1_999,
        perEvent: { view: 1_876, fav: 18, addtocart: 70, transaction: 35 },
        users: 34,
      },
    );
    const ml = await census(`${datasets}movielens-100k/u.data.gz`, "movielens");
    assert.equal(ml.rows, 100_000);
    assert.equal(ml.users, 943);
  },
});

Deno.test("preset names are their keys", () => {
  for (const [key, preset] of Object.entries(PRESETS)) {
    assert.equal(preset.name, key);
  }
});

Deno.test("onError skip: malformed data lines are counted, not fatal", async () => {
  const skipped = { count: 0, first: [] as EventParseError[] };
  const events = await Array.fromAsync(parseEvents(
    RR_HEADER +
      "1,u1,view,i1,\n" +
      "x,u2,view,i2,\n" + // bad timestamp
      "2,u3,click,i3,\n" + // unknown event
      "\n\n" + // blank lines in the middle
      "3,u4,view,i4\n" + // 4 columns
      "4,u5,transaction,i5,t\n",
    undefined,
    "in.csv",
    { onError: "skip", skipped },
  ));
  assert.deepEqual(events.map((e) => e.user), ["u1", "u5"]);
  // each blank line counts (a run of them was counted once)
  assert.equal(skipped.count, 5);
  assert.deepEqual(skipped.first.map((e) => e.message), [
    'in.csv:3: timestamp "x" is not a plain decimal number (unix ms)',
    'in.csv:4: unknown event "click"; accepted: view, addtocart, transaction',
    "in.csv:5: blank line in the middle of the file",
    "in.csv:6: blank line in the middle of the file",
    "in.csv:7: expected 5 columns, got 4",
  ]);
  // the header is never skipped: a missing header still fails
  await assert.rejects(
    () =>
      Array.fromAsync(
        parseEvents("1,2,view,3,\n", undefined, "in.csv", { onError: "skip" }),
      ),
    { message: /^in\.csv:1: missing header/ },
  );
  await assert.rejects(
    () =>
      Array.fromAsync(
        parseEvents("", undefined, "x", { onError: "ignore" as "skip" }),
      ),
    {
      name: "TypeError",
      message: 'onError must be "fail" or "skip", got "ignore"',
    },
  );
});

Deno.test("batches carry the same events as the event stream", async () => {
  const path = new URL("../fixtures/demo_events.csv", import.meta.url).pathname;
  const batches = await Array.fromAsync(readEventBatches(path));
  assert.ok(batches.length >= 1);
  assert.deepEqual(batches.flat(), await Array.fromAsync(readEvents(path)));
});

// --- the byte-level reader: compression, line breaks, limits, numbers ---

const gzip = (text: string | Uint8Array) =>
  new Response(
    new Blob([text as BlobPart]).stream().pipeThrough(
      new CompressionStream("gzip"),
    ),
  ).arrayBuffer().then((b) => new Uint8Array(b));

async function withDir(fn: (dir: string) => Promise<void>) {
  const dir = await Deno.makeTempDir();
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

const RR_ROWS =
  "1000,u1,view,i1,\n2000,u2,transaction,i2,t\n3000,u1,addtocart,i3,\n";

Deno.test("gzip: concatenated members read as one stream", async () => {
  await withDir(async (dir) => {
    const a = await gzip(RR_HEADER + "1000,u1,view,i1,\n");
    const b = await gzip("2000,u2,transaction,i2,t\n3000,u1,addtocart,i3,\n");
    const both = new Uint8Array(a.length + b.length);
    both.set(a);
    both.set(b, a.length);
    await Deno.writeFile(`${dir}/e.csv.gz`, both);
    assert.deepEqual(
      await Array.fromAsync(readEvents(`${dir}/e.csv.gz`)),
      await all(RR_HEADER + RR_ROWS),
    );
  });
});

// Issue 14 (reliability) decided gzip by content whatever the name, which
// replaces the byte reader's first rule (name and content must agree): a log
// is read as what it is; only what cannot be read is refused.
Deno.test("gzip: known by its content, whatever the name; corrupt or truncated data is an error", async () => {
  await withDir(async (dir) => {
    const gz = await gzip(RR_HEADER + RR_ROWS);
    await Deno.writeTextFile(`${dir}/plain.csv.gz`, RR_HEADER + RR_ROWS);
    await Deno.writeFile(`${dir}/packed.csv`, gz);
    await Deno.writeFile(`${dir}/packed.csv.GZ`, gz);
    const want = await all(RR_HEADER + RR_ROWS);
    for (const name of ["plain.csv.gz", "packed.csv", "packed.csv.GZ"]) {
      assert.deepEqual(
        await Array.fromAsync(readEvents(`${dir}/${name}`)),
        want,
        name,
      );
    }
    await Deno.writeFile(`${dir}/cut.csv.gz`, gz.slice(0, gz.length - 6));
    const bad = gz.slice();
    bad[20] ^= 0xff;
    await Deno.writeFile(`${dir}/bad.csv.gz`, bad);
    await Deno.writeFile(`${dir}/empty.csv.gz`, new Uint8Array(0));
    const cases: [string, RegExp][] = [
      ["cut.csv.gz", /cut\.csv\.gz:\d+: truncated gzip data/],
      ["bad.csv.gz", /bad\.csv\.gz:\d+: corrupt gzip data/],
      ["empty.csv.gz", /empty\.csv\.gz:1: empty file: no events$/],
    ];
    for (const [name, message] of cases) {
      for (const onError of ["fail", "skip"] as const) {
        await assert.rejects(
          () =>
            Array.fromAsync(
              readEvents(`${dir}/${name}`, undefined, { onError }),
            ),
          (e: EventParseError) => {
            assert.ok(e instanceof EventParseError, String(e));
            assert.match(e.message, message);
            assert.ok(!e.message.includes("\n"));
            return true;
          },
        );
      }
    }
  });
});

// Issue 14 (reliability): a carriage return anywhere but before the line
// feed is an error. The byte reader first read a lone \r as a line break;
// it is refused instead, because a stray \r then split one line into two
// (one bad line became two, and every later line number was off by one)
// and line numbers no longer matched what line tools count.
Deno.test("line breaks: \\n, \\r\\n, none at the end; a BOM is skipped; any other \\r is an error", async () => {
  const want = await all(RR_HEADER + RR_ROWS);
  const lines = (RR_HEADER + RR_ROWS).trimEnd().split("\n");
  for (
    const text of [
      lines.join("\r\n") + "\r\n",
      lines.join("\r\n"),
      lines.join("\n") + "\r", // a \r at the very end of the input
      lines.join("\n"),
      lines[0] + "\r\n" + lines[1] + "\n" + lines[2] + "\r\n" + lines[3],
      "\uFEFF" + lines.join("\n"),
    ]
  ) {
    assert.deepEqual(await all(text), want, JSON.stringify(text));
    // split anywhere, even between \r and \n
    const bytes = new TextEncoder().encode(text);
    for (const size of [1, 2, 3, 7]) {
      const chunks: string[] = [];
      const decoder = new TextDecoder();
      for (let i = 0; i < bytes.length; i += size) {
        chunks.push(
          decoder.decode(bytes.subarray(i, i + size), { stream: true }),
        );
      }
      assert.deepEqual(
        await all(chunks),
        want,
        `${JSON.stringify(text)} / ${size}`,
      );
    }
  }
  const cr =
    "carriage return inside a line (a file with old Mac line endings?)";
  // old Mac files: one line, never read as another number of events; the
  // header is never skipped
  for (const end of ["", "\r"]) {
    for (const onError of ["fail", "skip"] as const) {
      await assert.rejects(
        () =>
          Array.fromAsync(
            parseEvents(lines.join("\r") + end, undefined, "in.csv", {
              onError,
            }),
          ),
        { message: `in.csv:1: ${cr}` },
      );
    }
  }
  // an old Mac file longer than the line limit: the header, never skipped
  for (const onError of ["fail", "skip"] as const) {
    await assert.rejects(
      () =>
        Array.fromAsync(
          parseEvents(lines.join("\r"), undefined, "in.csv", {
            onError,
            maxLineBytes: 60,
          }),
        ),
      {
        message:
          "in.csv:1: line longer than 60 bytes (a file with old Mac line endings?)",
      },
    );
  }
  for (
    const [text, line] of [
      [RR_HEADER + "1,u,view,i,\r\r\n2,u,view,i,\n", 2],
      [RR_HEADER + "1,u,view,i,\n2,u\r,view,i,\n", 3],
      [RR_HEADER + "1,u,view,i,\n\r2,u,view,i,\n", 3],
      [RR_HEADER + "1,u,view,i,\n2,u,view,i,\r\r", 3],
    ] as const
  ) {
    assert.equal((await parseError(text)).message, `in.csv:${line}: ${cr}`);
    // the line skipped, counted once, the rest read
    const skipped = { count: 0, first: [] as EventParseError[] };
    const events = await Array.fromAsync(
      parseEvents(text, undefined, "in.csv", { onError: "skip", skipped }),
    );
    assert.equal(events.length, 1, text);
    assert.equal(skipped.count, 1, text);
    assert.equal(skipped.first[0].line, line);
  }
  assert.equal(
    (await parseError(
      new Uint8Array([0xff, 0xfe, 0x74, 0]) as unknown as string,
    ))
      .message,
    "in.csv:1: UTF-16 text is not supported: convert the file to UTF-8",
  );
});

Deno.test("other compressions are refused by name, whatever the file is called", async () => {
  const magics: [string, number[]][] = [
    ["bzip2", [0x42, 0x5a, 0x68, 0x39, 0x31, 0x41]],
    ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
    ["zstd", [0x28, 0xb5, 0x2f, 0xfd, 0x24, 0x04]],
    ["zip", [0x50, 0x4b, 0x03, 0x04, 0x14, 0x00]],
    ["7z", [0x37, 0x7a, 0xbc, 0xaf, 0x27, 0x1c]],
  ];
  await withDir(async (dir) => {
    for (const [kind, magic] of magics) {
      const bytes = new Uint8Array([...magic, 10, 1, 2, 3, 10]);
      const want =
        `is ${kind}-compressed: decompress it first (gzip is read as it is)`;
      await assert.rejects(
        () => Array.fromAsync(parseEvents(bytes, undefined, "in.csv")),
        { message: `in.csv:1: ${want}` },
      );
      // inside gzip too, and under "skip"
      await Deno.writeFile(`${dir}/e.csv.gz`, await gzip(bytes));
      await assert.rejects(
        () =>
          Array.fromAsync(
            readEvents(`${dir}/e.csv.gz`, undefined, { onError: "skip" }),
          ),
        { message: `${dir}/e.csv.gz:1: ${want}` },
      );
    }
  });
  // a header-less log whose first id starts "BZh" is text
  assert.deepEqual(
    await all("BZhx,2,3,pv,1\n", "taobao"),
    [{ user: "BZhx", item: "2", event: "view", timestamp: 1000 }],
  );
});

Deno.test("a line longer than the limit fails without reading the rest, or is skipped", async () => {
  let pulled = 0;
  const longLine = async function* () {
    yield RR_HEADER + "1,u1,view,i1,\n2,";
    for (let i = 0; i < 1600; i++) {
      pulled++;
      yield "x".repeat(1 << 16); // 100 MiB in all, never a line break
    }
    yield ",view,i2,\n3,u3,view,i3,\n";
  };
  await assert.rejects(
    () => Array.fromAsync(parseEvents(longLine(), undefined, "in.csv")),
    { message: "in.csv:3: line longer than 1048576 bytes" },
  );
  assert.ok(pulled < 40, `read ${pulled} chunks of the long line`);
  pulled = 0;
  const skipped = { count: 0, first: [] as EventParseError[] };
  const events = await Array.fromAsync(
    parseEvents(longLine(), undefined, "in.csv", {
      onError: "skip",
      skipped,
      maxLineBytes: 4096,
    }),
  );
  assert.deepEqual(events.map((e) => e.user), ["u1", "u3"]);
  assert.equal(skipped.count, 1);
  assert.equal(
    skipped.first[0].message,
    "in.csv:3: line longer than 4096 bytes",
  );
  await assert.rejects(
    () =>
      Array.fromAsync(
        parseEvents(RR_HEADER + "1,u,view,i,\n", undefined, "x", {
          maxLineBytes: 0,
        }),
      ),
    TypeError,
  );
});

Deno.test("unix timestamps are plain decimal numbers", async () => {
  const ok: [string, number][] = [
    ["0", 0],
    ["-0", 0],
    ["0012", 12],
    ["-5", -5],
    ["12.5", 12.5],
    ["-12.25", -12.25],
    ["1433221332117", 1433221332117],
    ["12345678901234567", 12345678901234568],
  ];
  for (const [raw, ms] of ok) {
    const [e] = await all(RR_HEADER + `${raw},u,view,i,\n`);
    assert.ok(Object.is(e.timestamp, ms), `${raw} -> ${e.timestamp}`);
  }
  const [s] = await all("1,2,3,pv,1.5\n", "taobao");
  assert.equal(s.timestamp, 1500);
  for (
    const raw of [
      "1e3",
      "0x10",
      " 12",
      "12 ",
      "12abc",
      "Infinity",
      "+5",
      "12.",
      ".5",
      "-",
      "1_000",
      "NaN",
      "",
    ]
  ) {
    // (unquoted: quotes in the timestamp column are refused on their own)
    assert.equal(
      (await parseError(RR_HEADER + `${raw},u,view,i,\n`)).message,
      `in.csv:2: timestamp "${raw}" is not a plain decimal number (unix ms)`,
    );
  }
  assert.match(
    (await parseError(RR_HEADER + "9".repeat(400) + ",u,view,i,\n")).message,
    /is out of range/,
  );
});

// RFC 4180 quotes (the byte reader's) are read in the header and in the
// columns the reader does not use; issue 14 (reliability) refuses a quote in
// the user, item, event and timestamp columns: no supported log quotes them,
// and `"2"` next to `2`, or a quote kept inside an id, would be a second id.
Deno.test("quotes (RFC 4180, within a line) outside the key columns, empty fields", async () => {
  assert.deepEqual(
    await all(
      '"timestamp","visitorid","event","itemid","transactionid"\n' +
        '1433221332117,257597,view,355908,""\n' +
        '2,u1,view,i,"t,1"\n' +
        '3,u2,view,i 3,"t ""2"""\n' +
        '4,u3,view,i,t"3\n',
    ),
    [
      {
        user: "257597",
        item: "355908",
        event: "view",
        timestamp: 1433221332117,
      },
      { user: "u1", item: "i", event: "view", timestamp: 2 },
      { user: "u2", item: "i 3", event: "view", timestamp: 3 },
      { user: "u3", item: "i", event: "view", timestamp: 4 },
    ],
  );
  const quoted = (field: string) =>
    `quoted field ${field}: quotes are not supported in the user, item, event and timestamp columns`;
  const cases: [string, string][] = [
    [
      '1,"u,view,i,\n',
      "in.csv:2: unterminated quoted field (quoted line breaks are not supported)",
    ],
    [
      '1,"u"x,view,i,\n',
      "in.csv:2: a quoted field must be followed by the delimiter or the line end",
    ],
    ['1,"u",view,i,\n', `in.csv:2: ${quoted('"\\"u\\""')}`],
    ['1,"u,1",view,i,\n', `in.csv:2: ${quoted('"\\"u,1\\""')}`],
    ['1,u"2,view,i,\n', `in.csv:2: ${quoted('"u\\"2"')}`],
    ['1,u,view,"i",t\n', `in.csv:2: ${quoted('"\\"i\\""')}`],
    ['1,u,"view",i,\n', `in.csv:2: ${quoted('"\\"view\\""')}`],
    ['"1",u,view,i,\n', `in.csv:2: ${quoted('"\\"1\\""')}`],
    ['"",u,view,i,\n', `in.csv:2: ${quoted('"\\"\\""')}`],
    ["1,u,,i,\n", "in.csv:2: empty event name"],
    ["1,,view,i,\n", "in.csv:2: empty user id"],
    ["1,u,view,,\n", "in.csv:2: empty item id"],
  ];
  for (const [line, message] of cases) {
    assert.equal((await parseError(RR_HEADER + line)).message, message);
  }
  // quotes in the key columns are malformed lines: skipped under "skip"
  const skipped = { count: 0, first: [] as EventParseError[] };
  const events = await Array.fromAsync(
    parseEvents(
      RR_HEADER + '1,"u",view,i,\n2,u,view,i,\n3,u,view,"i",\n',
      undefined,
      "in.csv",
      { onError: "skip", skipped },
    ),
  );
  assert.deepEqual(events.map((e) => e.timestamp), [2]);
  assert.deepEqual(skipped.first.map((e) => e.line), [2, 4]);
  // a multi-byte delimiter takes the same path
  assert.equal(
    (await parseError('a::b::c\n"1"::u::i\n', {
      delimiter: "::",
      user: "b",
      item: "c",
      timestamp: "a",
      fixedEvent: "view",
    })).message,
    `in.csv:2: ${quoted('"\\"1\\""')}`,
  );
});

// Issue 14 (reliability): text must be UTF-8 anywhere on a line, not only in
// the ids (a Latin-1 file is the wrong file, not a few bad lines), so it is
// an error even under "skip"; never U+FFFD, which would merge distinct ids.
Deno.test("invalid UTF-8 anywhere on a line is an error at that line, even under skip", async () => {
  const enc = new TextEncoder();
  const bad = (before: string, bytes: number[], after: string) =>
    new Uint8Array([
      ...enc.encode(RR_HEADER + "1,u,view,i,\n" + before),
      ...bytes,
      ...enc.encode(after + "\n3,u,view,i,\n"),
    ]);
  for (
    const input of [
      bad("2,u", [0xc3, 0x28], ",view,i,"), // in the user id
      bad("2,u,view,i", [0xe9], ","), // Latin-1 é in the item id
      bad("14", [0xff], "2,u,view,i,"), // in the timestamp
      bad("2,u,vi", [0x80], "ew,i,"), // in the event
      bad("2,u,view,i,", [0xed, 0xa0, 0x80], ""), // a surrogate, unused column
    ]
  ) {
    for (const onError of ["fail", "skip"] as const) {
      await assert.rejects(
        () =>
          Array.fromAsync(parseEvents(input, undefined, "in.csv", { onError })),
        {
          message: "in.csv:3: is not UTF-8 text (an invalid byte on this line)",
        },
      );
    }
  }
  // the header too
  await assert.rejects(
    () =>
      Array.fromAsync(
        parseEvents(new Uint8Array([0x74, 0xff, 10]), undefined, "in.csv"),
      ),
    { message: "in.csv:1: is not UTF-8 text (an invalid byte on this line)" },
  );
  // valid UTF-8 ids pass through
  const [e] = await all(RR_HEADER + "1,ユーザー,view,品物,\n");
  assert.deepEqual([e.user, e.item], ["ユーザー", "品物"]);
  // the check agrees with a fatal TextDecoder on random bytes
  const fatal = new TextDecoder("utf-8", { fatal: true });
  let seed = 7;
  const random = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
  const pool = [
    0x41,
    0x7f,
    0x80,
    0x8f,
    0x90,
    0x9f,
    0xa0,
    0xbf,
    0xc0,
    0xc1,
    0xc2,
    0xdf,
    0xe0,
    0xe1,
    0xec,
    0xed,
    0xee,
    0xef,
    0xf0,
    0xf1,
    0xf3,
    0xf4,
    0xf5,
    0xff,
  ];
  for (let k = 0; k < 3000; k++) {
    const id = Array.from(
      { length: 1 + Math.floor(random() * 6) },
      () => pool[Math.floor(random() * pool.length)],
    );
    let valid = true;
    try {
      fatal.decode(new Uint8Array(id));
    } catch {
      valid = false;
    }
    const input = new Uint8Array([
      ...enc.encode(RR_HEADER + "1,"),
      ...id,
      ...enc.encode(",view,i,\n"),
    ]);
    const got = await Array.fromAsync(parseEvents(input, undefined, "in.csv"))
      .then((events) => events[0].user, (error) => error as Error);
    if (valid) {
      assert.equal(got, fatal.decode(new Uint8Array(id)), String(id));
    } else {
      assert.ok(got instanceof EventParseError, `${id}: ${got}`);
      assert.match(got.message, /^in\.csv:2: is not UTF-8 text/);
    }
  }
});

Deno.test("input in messages is escaped and cut: one line, printable, short", async () => {
  const junk = "\u0000\u001b\t\\\u2028\u0085é" + "x".repeat(5000);
  assert.equal(
    (await parseError(RR_HEADER + `${junk},u,view,i,\n`)).message,
    `in.csv:2: timestamp "\\u0000\\u001b\\u0009\\\\\\u2028\\u0085é${
      "x".repeat(67)
    }..." is not a plain decimal number (unix ms)`,
  );
  assert.equal(
    (await parseError(RR_HEADER + '1,"u\n' + "\u0007" + '"'.repeat(300)))
      .message,
    "in.csv:2: unterminated quoted field (quoted line breaks are not supported)",
  );
  assert.equal(
    (await parseError(
      RR_HEADER + '1,u,view,i,\n2,u,"\u0007' + '""'.repeat(300) + '",i,\n',
    ))
      .message,
    `in.csv:3: quoted field "\\"\\u0007${
      '\\"'.repeat(46)
    }...": quotes are not supported in the user, item, event and timestamp columns`,
  );
  // a binary header (here NUL bytes) is shown cut, not whole
  const e = await parseError("\u0000".repeat(5000) + "\n");
  assert.equal(
    e.message,
    `in.csv:1: missing header: expected columns "visitorid", "itemid", "event", "timestamp", found "${
      "\\u0000".repeat(16)
    }..."`,
  );
});

Deno.test("column batches and a worker thread give the same events and errors", async () => {
  await withDir(async (dir) => {
    const path = new URL("../fixtures/demo_events.csv", import.meta.url)
      .pathname;
    const events = await Array.fromAsync(readEvents(path));
    const inThread = await Array.fromAsync(readEventColumns(path));
    const parallel = await Array.fromAsync(
      readEventColumns(path, undefined, { parallel: true }),
    );
    assert.deepEqual(inThread.flatMap((b) => b.toEvents()), events);
    assert.deepEqual(parallel.flatMap((b) => b.toEvents()), events);
    await Deno.writeTextFile(
      `${dir}/bad.csv`,
      RR_HEADER + "1,u1,view,i1,\nx,u2,view,i2,\n3,u3,view,i3,\n",
    );
    for (const parallel of [false, true]) {
      await assert.rejects(
        () =>
          Array.fromAsync(
            readEventColumns(`${dir}/bad.csv`, undefined, { parallel }),
          ),
        {
          message:
            `${dir}/bad.csv:3: timestamp "x" is not a plain decimal number (unix ms)`,
        },
      );
      const skipped = { count: 0, first: [] as EventParseError[] };
      const batches = await Array.fromAsync(
        readEventColumns(`${dir}/bad.csv`, undefined, {
          parallel,
          onError: "skip",
          skipped,
        }),
      );
      assert.deepEqual(
        batches.flatMap((b) => b.toEvents()).map((e) => e.user),
        ["u1", "u3"],
      );
      assert.equal(skipped.count, 1);
      assert.equal(skipped.first[0].line, 3);
      let last = 0;
      const size = (await Deno.stat(`${dir}/bad.csv`)).size;
      await Array.fromAsync(
        readEventColumns(`${dir}/bad.csv`, undefined, {
          parallel,
          onError: "skip",
          onProgress: (read, total) => {
            assert.equal(total, size);
            last = read;
          },
        }),
      );
      assert.equal(last, size);
    }
  });
});

Deno.test("a file of several chunks reads as one text: lines across chunk ends, short and longer than the room kept before a chunk", async () => {
  await withDir(async (dir) => {
    const random = mulberry32(1205);
    const lines: string[] = [];
    let size = RR_HEADER.length;
    let i = 0;
    // ~3.5 MiB; across the end of the 2nd chunk a line carried whole into
    // the room before the next, across the 3rd a line longer than that room
    const placed = new Set<number>();
    while (size < 3.5 * CHUNK_BYTES) {
      const k = Math.floor(size / CHUNK_BYTES) + 1,
        left = k * CHUNK_BYTES - size;
      let tx = random() < 0.1 ? String(i) : "";
      if (k === 2 && left < 2000 && !placed.has(k)) tx = "y".repeat(2500);
      if (k === 3 && left < 3 * HEADROOM && !placed.has(k)) {
        tx = "x".repeat(4 * HEADROOM);
      }
      if (tx.length > 100) placed.add(k);
      const line = `${1433221332117 + i},${Math.floor(random() * 1e6)},${
        ["view", "addtocart", "transaction"][i % 3]
      },${Math.floor(random() * 1e5)}${random() < 0.01 ? "é" : ""},${tx}`;
      lines.push(line);
      size += line.length + 1;
      i++;
    }
    const text = RR_HEADER + lines.join("\n") + "\n";
    await Deno.writeTextFile(`${dir}/big.csv`, text);
    const want = await Array.fromAsync(parseEvents(text));
    assert.equal(want.length, lines.length);
    for (const parallel of [false, true]) {
      const batches = await Array.fromAsync(
        readEventColumns(`${dir}/big.csv`, undefined, { parallel }),
      );
      assert.ok(batches.length >= 3);
      assert.equal(placed.size, 2);
      assert.deepEqual(batches.flatMap((b) => b.toEvents()), want);
    }
  });
});

Deno.test("the next chunk is read ahead: stopping early closes the file, an error comes after the batches before it", async () => {
  await withDir(async (dir) => {
    const line = "1433221332117,257597,view,355908,\n";
    const count = Math.ceil(2.5 * CHUNK_BYTES / line.length);
    const bad = count - 10; // in the third chunk
    const text = RR_HEADER +
      Array.from(
        { length: count },
        (_, i) => i === bad ? "x,1,view,2,\n" : line,
      ).join("");
    const path = `${dir}/ahead.csv`;
    await Deno.writeTextFile(path, text);
    const open = () =>
      [...Deno.readDirSync("/proc/self/fd")].filter((e) => {
        try {
          return Deno.readLinkSync(`/proc/self/fd/${e.name}`) === path;
        } catch {
          return false; // (closed meanwhile)
        }
      }).length;
    for await (const batch of readEventColumns(path)) {
      assert.ok(batch.length > 0);
      assert.ok(open() > 0);
      break;
    }
    assert.equal(open(), 0);
    let seen = 0;
    await assert.rejects(
      async () => {
        for await (const batch of readEventColumns(path)) seen += batch.length;
      },
      {
        message: `${path}:${
          bad + 2
        }: timestamp "x" is not a plain decimal number (unix ms)`,
      },
    );
    // the batches of the first two chunks came before the error
    assert.ok(seen >= 2 * Math.floor(CHUNK_BYTES / line.length) - 1);
  });
});
