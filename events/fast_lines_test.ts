// The parser's fast path (_fast_lines.ts) against its oracle, the per-line
// path: random logs of plain and malformed lines, fed in chunks of random
// sizes, must give the same events, the same skips and the same errors with
// the fast path on and off. Plus the fast loop and the event name table on
// their own, against exact values and a brute-force map.
import assert from "node:assert/strict";
import { mulberry32 } from "../random/mod.ts";
import { type EventFormat, resolveFormat } from "./format.ts";
import { ByteParser, type SkipReport } from "./_parser.ts";
import {
  byteClasses,
  EventNames,
  fastLines,
  FastRules,
  fastState,
} from "./_fast_lines.ts";

const enc = new TextEncoder();

interface Outcome {
  events: string[];
  error?: string;
  skipped: string[];
  count: number;
  lines: number;
}

// what a parser makes of `bytes` fed in the given chunk sizes (the way
// read.ts feeds it: the unconsumed rest first in the next buffer)
function parseAll(
  bytes: Uint8Array,
  sizes: number[],
  format: EventFormat,
  fast: boolean,
  onError: "fail" | "skip",
  maxLineBytes?: number,
): Outcome {
  const skipped: SkipReport = { count: 0, first: [] };
  const parser = new ByteParser(format, "t.csv", {
    fastLines: fast,
    onError,
    skipped,
    maxLineBytes,
  });
  const events: string[] = [];
  const take = (columns: ReturnType<ByteParser["parse"]>["columns"]) => {
    for (const e of columns?.toEvents() ?? []) {
      events.push(`${e.user}|${e.item}|${e.event}|${e.timestamp}`);
    }
  };
  let error: string | undefined;
  try {
    let carry = new Uint8Array(0);
    let at = 0;
    for (let i = 0; at < bytes.length; i++) {
      const size = sizes[i % sizes.length];
      const chunk = bytes.subarray(at, at + size);
      at += chunk.length;
      const buf = new Uint8Array(carry.length + chunk.length);
      buf.set(carry);
      buf.set(chunk, carry.length);
      const { columns, rest } = parser.parse(buf, false);
      take(columns);
      carry = buf.slice(rest);
    }
    take(parser.parse(carry, true).columns);
    parser.finish();
  } catch (e) {
    error = (e as Error).message;
  }
  return {
    events,
    error,
    skipped: skipped.first.map((e) => e.message),
    count: skipped.count,
    lines: parser.line,
  };
}

// a random line of a RetailRocket-like log: mostly plain, sometimes wrong
// in one of the ways the rules name
function randomLine(random: () => number, sep = ","): string {
  const pick = <T>(xs: T[]) => xs[Math.floor(random() * xs.length)];
  const digits = (n: number) => {
    let s = "";
    for (let i = 0; i < n; i++) s += String(Math.floor(random() * 10));
    return s;
  };
  const id = () =>
    random() < 0.9
      ? digits(1 + Math.floor(random() * 8))
      : pick(["é", "中文", "😀x", "a-b_c", "Ω9", "  sp  ", "x+y"]);
  let ts = random() < 0.85 ? "14" + digits(11) : pick([
    digits(1 + Math.floor(random() * 20)),
    "9" + digits(15),
    "-" + digits(3),
    "-0",
    "12.5",
    "1e3",
    " 12",
    "12 ",
    "",
    "0x10",
    "+5",
    "5.",
    "١٢",
    "00000000000000000000012",
  ]);
  if (random() < 0.02) ts = '"' + ts + '"';
  let event = random() < 0.9
    ? pick(["view", "view", "view", "addtocart", "transaction"])
    : pick(["", "click", "View", "vie", "viewx", "transactioN", '"view"']);
  if (random() < 0.01) event = "addtocart\r";
  let user = id(), item = id();
  if (random() < 0.02) user = "";
  if (random() < 0.02) item = "";
  if (random() < 0.02) item = '"' + item + '"';
  const tx = random() < 0.9 ? "" : pick([digits(4), '"a,b"', '""', '"x""y"']);
  const fields = [ts, user, event, item, tx];
  if (random() < 0.02) fields.push("extra");
  if (random() < 0.02) fields.pop();
  if (random() < 0.02) fields.length = 2;
  let line = fields.join(sep);
  const r = random();
  if (r < 0.01) line = "";
  else if (r < 0.015) line = line.slice(0, 5) + "\r" + line.slice(5);
  else if (r < 0.02) line = line + "x".repeat(80);
  return line;
}

function randomLog(random: () => number, lines: number, sep = ","): string {
  const out: string[] = [];
  for (let i = 0; i < lines; i++) {
    const line = randomLine(random, sep);
    out.push(line + (random() < 0.05 ? "\r\n" : "\n"));
  }
  return out.join("");
}

function chunkSizes(random: () => number): number[] {
  const kind = random();
  if (kind < 0.2) return [1 << 20];
  if (kind < 0.4) return [1 + Math.floor(random() * 8)];
  return Array.from({ length: 16 }, () => 1 + Math.floor(random() * 300));
}

function assertSame(
  bytes: Uint8Array,
  format: EventFormat,
  random: () => number,
  what: string,
) {
  for (const onError of ["skip", "fail"] as const) {
    const sizes = chunkSizes(random);
    const maxLine = random() < 0.3 ? 64 : undefined;
    const slow = parseAll(bytes, sizes, format, false, onError, maxLine);
    const fast = parseAll(bytes, sizes, format, true, onError, maxLine);
    assert.deepEqual(fast, slow, `${what} (${onError}, chunks ${sizes})`);
  }
}

Deno.test("fast path: random RetailRocket logs read as the per-line path reads them, in any chunks", () => {
  const random = mulberry32(1201);
  const header = "timestamp,visitorid,event,itemid,transactionid\n";
  for (let run = 0; run < 150; run++) {
    let text = header + randomLog(random, 1 + Math.floor(random() * 120));
    if (random() < 0.2) text = "\ufeff" + text;
    const bytes = enc.encode(text);
    // invalid UTF-8 somewhere, now and then: fatal at its line
    if (random() < 0.1 && bytes.length > header.length + 2) {
      bytes[header.length + Math.floor(random() * (bytes.length - 50))] = 0xff;
    }
    assertSame(bytes, resolveFormat(), random, `run ${run}`);
  }
});

Deno.test("fast path: plain logs (the fast path's own) read the same in any chunks", () => {
  const random = mulberry32(1202);
  const header = "timestamp,visitorid,event,itemid,transactionid\n";
  for (let run = 0; run < 15; run++) {
    const lines: string[] = [];
    for (let i = 0; i < 300; i++) {
      const n = (x: number) => String(Math.floor(random() * x));
      lines.push(
        `${1433221332117 + i},${n(1e6)},${
          ["view", "addtocart", "transaction"][i % 3]
        },${n(1e5)},${random() < 0.1 ? n(1e4) : ""}`,
      );
    }
    const bytes = enc.encode(header + lines.join("\n") + "\n");
    assertSame(bytes, resolveFormat(), random, `run ${run}`);
  }
});

Deno.test("fast path: other layouts (no header, seconds, tab, fixed event, no timestamp, aliases, filters)", () => {
  const random = mulberry32(1203);
  const formats: EventFormat[] = [
    resolveFormat("taobao"),
    resolveFormat("movielens"),
    { delimiter: "\t", header: false, user: 1, item: 3, fixedEvent: "buy" },
    {
      header: false,
      user: 1,
      item: 3,
      event: 2,
      timestamp: 0,
      timestampUnit: "s",
      events: ["view", "transaction"],
      eventAliases: { addtocart: "", transaction: "transaction" },
    },
    // shared columns: the per-line path decides what they mean
    { header: false, user: 1, item: 1, event: 2, timestamp: 0 },
    // several bytes of delimiter: never the fast path
    { delimiter: "::", header: false, user: 1, item: 3, event: 2 },
  ];
  for (const format of formats) {
    for (let run = 0; run < 30; run++) {
      const sep = format.delimiter ?? ",";
      let text = randomLog(random, 1 + Math.floor(random() * 80), sep);
      if (format === formats[0]) {
        text = text.replaceAll("view", "pv").replaceAll("transaction", "buy");
      }
      assertSame(
        enc.encode(text),
        resolveFormat(format),
        random,
        `${JSON.stringify(format)} run ${run}`,
      );
    }
  }
});

Deno.test("fastLines: writes the columns of plain lines and stops before the first it cannot take", () => {
  const names = new EventNames();
  names.add(enc.encode("view"), 0);
  names.add(enc.encode("transaction"), 1);
  names.add(enc.encode("click"), -1); // refused: left to the per-line path
  const text = "1000,u1,view,i1,\n" +
    "2000000000000,u22,transaction,i2,77\r\n" +
    "3,é,view,ü,\n" +
    '4,u4,view,i4,"q"\n' + // a quote: the per-line path
    "5,u5,view,i5,\n";
  const buf = enc.encode(text);
  const rules = new FastRules(
    byteClasses(44),
    44,
    1,
    3,
    2,
    0,
    5,
    1 << 20,
    1,
    0,
  );
  const out = {
    userStart: new Uint32Array(8),
    userEnd: new Uint32Array(8),
    itemStart: new Uint32Array(8),
    itemEnd: new Uint32Array(8),
    type: new Uint8Array(8),
    time: new Float64Array(8),
  };
  const view = new DataView(buf.buffer);
  const n = fastLines(buf, view, 0, buf.length, rules, names, out, 0, 10);
  assert.equal(n, 3);
  assert.equal(fastState[1], 3);
  assert.equal(
    fastState[0],
    enc.encode(text.slice(0, text.indexOf("4,u4"))).length,
  );
  const dec = new TextDecoder();
  const at = (s: Uint32Array, e: Uint32Array, i: number) =>
    dec.decode(buf.subarray(s[i], e[i]));
  assert.deepEqual(
    [0, 1, 2].map((i) => [
      at(out.userStart, out.userEnd, i),
      at(out.itemStart, out.itemEnd, i),
      out.type[i],
      out.time[i],
    ]),
    [["u1", "i1", 0, 1000], ["u22", "i2", 1, 2000000000000], [
      "é",
      "ü",
      0,
      3,
    ]],
  );
  // a refused name, an unknown one, an empty id, a long line, a decimal
  // timestamp, no room: nothing taken
  for (
    const line of [
      "1,u,click,i,\n",
      "1,u,buy,i,\n",
      "1,,view,i,\n",
      "1.5,u,view,i,\n",
      "1234567890123456,u,view,i,\n",
      "1,u,view,i\n",
      "1,u,view,i,,\n",
      "1,u,view,i,\r\r\n",
    ]
  ) {
    const b = enc.encode(line);
    assert.equal(
      fastLines(
        b,
        new DataView(b.buffer),
        0,
        b.length,
        rules,
        names,
        out,
        0,
        0,
      ),
      0,
      line,
    );
    assert.deepEqual([...fastState], [0, 0], line);
  }
  const long = enc.encode("1,u,view,i,\n");
  const short = new FastRules(byteClasses(44), 44, 1, 3, 2, 0, 5, 10, 1, 0);
  assert.equal(
    fastLines(
      long,
      new DataView(long.buffer),
      0,
      long.length,
      short,
      names,
      out,
      0,
      0,
    ),
    0,
  );
  assert.equal(
    fastLines(
      long,
      new DataView(long.buffer),
      0,
      long.length,
      rules,
      names,
      out,
      8,
      0,
    ),
    8,
  );
  assert.equal(fastState[1], 0);
});

Deno.test("EventNames finds what a map finds: same first four bytes, non-ASCII, short names", () => {
  const random = mulberry32(1204);
  const alphabet = ["a", "b", "v", "é", "中", "\u0000", "😀", "1"];
  for (let run = 0; run < 50; run++) {
    const names = new EventNames(64);
    const oracle = new Map<string, number>();
    const word = () => {
      let s = "";
      const n = Math.floor(random() * 7);
      for (let i = 0; i < n; i++) {
        s += alphabet[Math.floor(random() * alphabet.length)];
      }
      return s;
    };
    for (let i = 0; i < 80; i++) {
      const name = random() < 0.5 ? "abcd" + word() : word();
      if (!oracle.has(name) && oracle.size < 64) {
        const code = Math.floor(random() * 300) - 2;
        oracle.set(name, code);
        names.add(enc.encode(name), code);
      }
    }
    for (let i = 0; i < 200; i++) {
      const name = random() < 0.5 ? "abcd" + word() : word();
      // the name inside other bytes, as in a line
      const bytes = enc.encode(`x,${name},y`);
      const j = names.find(bytes, 2, bytes.length - 2);
      const want = oracle.get(name);
      assert.equal(j < 0 ? undefined : names.codes[j], want, name);
    }
  }
  const full = new EventNames(2);
  full.add(enc.encode("a"), 1);
  full.add(enc.encode("b"), 2);
  full.add(enc.encode("c"), 3);
  assert.equal(full.size, 2);
  assert.equal(full.find(enc.encode("c"), 0, 1), -1);
});
