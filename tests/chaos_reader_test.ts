/**
 * Chaos: seeded mutations of an events file (truncation, bit flips, line
 * endings, quotes, very long lines, number formats, encodings, compressed
 * variants) read through the reader's public API (`readEventBatches`,
 * `onError` fail and skip) in a worker, so that a hang is caught. Every
 * read must end within a time bound with the events, a counted skip, or a
 * one-line `file:line: cause` (an `EventParseError`, never another error
 * or a stack trace). Mutations that keep the meaning (CRLF, BOM, gzip
 * whatever its name, gzip in several members) must read exactly as the
 * original; mutations that make a line wrong must be refused at that line,
 * never read as something else.
 */
import assert from "node:assert/strict";
import { gzipSync } from "node:zlib";
import type { Event } from "../events/format.ts";
import { DEFAULT_MAX_LINE_BYTES as MAX_LINE_LENGTH } from "../events/read.ts";
import { mulberry32 } from "../random/mod.ts";
import type { ReadJob, ReadOutcome } from "./_chaos_reader_worker.ts";
import { report } from "./_chaos_report.ts";

const SEED = 12;
const RANDOM_FILES = 240;
const TIMEOUT_MS = 10_000;
const HEADER = "timestamp,visitorid,event,itemid,transactionid";
const enc = new TextEncoder();

/** A valid RetailRocket-format log, and its events. */
function baseLog(lines: number): { text: string; events: Event[] } {
  const random = mulberry32(SEED);
  const out = [HEADER];
  const events: Event[] = [];
  let t = 1_433_221_332_117;
  for (let i = 0; i < lines; i++) {
    t += 1 + Math.floor(random() * 5000);
    const user = String(1 + Math.floor(random() * 300));
    const item = String(1000 + Math.floor(random() * 500));
    const event = [
      "view",
      "view",
      "view",
      "addtocart",
      "transaction",
    ][Math.floor(random() * 5)];
    out.push(
      `${t},${user},${event},${item},${event === "transaction" ? i : ""}`,
    );
    events.push({ user, item, event, timestamp: t });
  }
  return { text: out.join("\n") + "\n", events };
}

/** Runs jobs in a worker, one at a time; a job over the time bound is a hang. */
class Reader {
  #worker?: Worker;
  hangs = 0;
  /** The outcome and the milliseconds the read took (not the worker's start). */
  async read(
    job: ReadJob,
  ): Promise<{ got: ReadOutcome | "hang"; millis: number }> {
    if (!this.#worker) {
      // a new worker loads (and type-checks) its module first: not timed
      const worker = new Worker(
        new URL("./_chaos_reader_worker.ts", import.meta.url),
        {
          type: "module",
        },
      );
      await new Promise((resolve) => {
        worker.onmessage = resolve;
        worker.postMessage({ path: "", onError: "fail" });
      });
      this.#worker = worker;
    }
    const worker = this.#worker;
    const t0 = performance.now();
    let timer: ReturnType<typeof setTimeout> | undefined;
    const outcome = await Promise.race([
      new Promise<ReadOutcome>((resolve) => {
        worker.onmessage = (e: MessageEvent<ReadOutcome>) => resolve(e.data);
        worker.postMessage(job);
      }),
      new Promise<"hang">((resolve) =>
        timer = setTimeout(() => resolve("hang"), TIMEOUT_MS)
      ),
    ]);
    clearTimeout(timer);
    if (outcome === "hang") {
      this.hangs++;
      worker.terminate();
      this.#worker = undefined;
    }
    return { got: outcome, millis: performance.now() - t0 };
  }
  close() {
    this.#worker?.terminate();
  }
}

interface Mutant {
  name: string;
  bytes: Uint8Array;
  suffix?: string;
  /** Reads exactly as the original. */
  same?: boolean;
  /**
   * Refused, in fail mode, with this reason at this line; in skip mode that
   * line skipped (or `skip`: so many lines skipped, so many events read).
   */
  refused?: {
    line: number;
    reason: RegExp;
    wholeFile?: boolean;
    skip?: { skipped: number; events: number };
  };
}

function gzip(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(gzipSync(bytes));
}

function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The log with line `n` (1-based, data lines start at 2) replaced. */
function withLine(
  text: string,
  n: number,
  edit: (line: string) => string,
): string {
  const lines = text.split("\n");
  lines[n - 1] = edit(lines[n - 1]);
  return lines.join("\n");
}

function crafted(
  text: string,
  random: () => number,
  dataLines: number,
): Mutant[] {
  const lineNo = () => 2 + Math.floor(random() * dataLines);
  const out: Mutant[] = [
    {
      name: "CRLF line endings",
      bytes: enc.encode(text.replaceAll("\n", "\r\n")),
      same: true,
    },
    { name: "UTF-8 BOM", bytes: enc.encode("\uFEFF" + text), same: true },
    {
      name: "gzip",
      bytes: gzip(enc.encode(text)),
      suffix: ".csv.gz",
      same: true,
    },
    { name: "gzip named .csv", bytes: gzip(enc.encode(text)), same: true },
    {
      name: "gzip named .GZ",
      bytes: gzip(enc.encode(text)),
      suffix: ".csv.GZ",
      same: true,
    },
    {
      name: "plain text named .gz",
      bytes: enc.encode(text),
      suffix: ".csv.gz",
      same: true,
    },
    {
      name: "trailing blank lines",
      bytes: enc.encode(text + "\n\n"),
      same: true,
    },
    {
      name: "no final newline",
      bytes: enc.encode(text.slice(0, -1)),
      same: true,
    },
  ];
  // gzip in members (cat a.gz b.gz; pigz, bgzip, rotated logs)
  const cut = text.indexOf("\n", Math.floor(text.length / 2)) + 1;
  out.push({
    name: "gzip in two members",
    bytes: concat(
      gzip(enc.encode(text.slice(0, cut))),
      gzip(enc.encode(text.slice(cut))),
    ),
    suffix: ".csv.gz",
    same: true,
  });
  out.push({
    name: "gzip in three members, one empty",
    bytes: concat(
      gzip(enc.encode(text.slice(0, cut))),
      gzip(new Uint8Array()),
      gzip(enc.encode(text.slice(cut))),
    ),
    suffix: ".csv.gz",
    same: true,
  });
  // line endings that would make lines vanish or merge
  out.push({
    name: "CR line endings (old Mac)",
    bytes: enc.encode(text.replaceAll("\n", "\r")),
    refused: {
      line: 1,
      reason: /carriage return inside a line/,
      wholeFile: true,
    },
  });
  let n = lineNo();
  out.push({
    name: "one CR CR LF",
    bytes: enc.encode(withLine(text, n, (l) => l + "\r\r")),
    refused: { line: n, reason: /carriage return inside a line/ },
  });
  out.push({
    name: "LF CR endings",
    bytes: enc.encode(text.replaceAll("\n", "\n\r").replace(/\r$/, "")),
    refused: {
      line: 2,
      reason: /carriage return inside a line/,
      skip: { skipped: dataLines, events: 0 },
    },
  });
  n = lineNo();
  out.push({
    name: "a lone CR inside a line",
    bytes: enc.encode(withLine(text, n, (l) => l.replace(",", "\r,"))),
    refused: { line: n, reason: /carriage return inside a line/ },
  });
  // quotes
  for (
    const [name, edit] of [
      ["quoted user", (l: string) => l.replace(/^(\d+),(\d+),/, '$1,"$2",')],
      [
        "quoted item with a comma",
        (l: string) => l.replace(/,(\d+),([^,]*)$/, ',"$1,x",$2'),
      ],
      [
        "quoted event",
        (l: string) => l.replace(/,(view|addtocart|transaction),/, ',"$1",'),
      ],
      ["unbalanced quote", (l: string) => l.replace(/^(\d+),/, '$1,"')],
    ] as const
  ) {
    n = lineNo();
    out.push({
      name,
      bytes: enc.encode(withLine(text, n, edit)),
      refused: { line: n, reason: /quoted field|expected 5 columns/ },
    });
  }
  // number formats Number() reads but a log never means
  for (
    const form of [
      "0x10",
      "1e12",
      " 12",
      "12 ",
      "+5",
      "1_000",
      "١٢٣",
      "Infinity",
      "-Infinity",
      "NaN",
      "1e400",
      "",
      "0b101",
      "12abc",
      ".5",
      "5.",
    ]
  ) {
    n = lineNo();
    out.push({
      name: `timestamp ${JSON.stringify(form)}`,
      bytes: enc.encode(withLine(text, n, (l) => l.replace(/^\d+/, form))),
      // (the byte reader names the rule: "a plain decimal number")
      refused: {
        line: n,
        reason: /^timestamp ".*" is not a plain decimal number \(unix ms\)$/,
      },
    });
  }
  // very long lines (the limit is DEFAULT_MAX_LINE_BYTES: in bytes, what
  // the byte reader holds, where the old reader counted characters)
  n = lineNo();
  out.push({
    name: "a 2 MB line",
    bytes: enc.encode(
      withLine(
        text,
        n,
        (l) => l.replace(/,(\d+),([^,]*)$/, `,${"9".repeat(2_000_000)},$2`),
      ),
    ),
    refused: { line: n, reason: /line longer than \d+ bytes/ },
  });
  out.push({
    name: "24 MB without a newline",
    bytes: enc.encode(HEADER + "\n" + "1,2,view,".repeat(2_700_000)),
    refused: {
      line: 2,
      reason: /line longer than \d+ bytes/,
      skip: { skipped: 1, events: 0 },
    },
  });
  n = lineNo();
  out.push({
    name: "a line of exactly the limit",
    bytes: enc.encode(
      withLine(text, n, (l) => l + "x".repeat(MAX_LINE_LENGTH - l.length)),
    ),
    same: true,
  });
  // encodings and other compressions
  n = lineNo();
  const lines = text.split("\n");
  const before = enc.encode(
    lines.slice(0, n - 1).join("\n") + "\n" + lines[n - 1].slice(0, 5),
  );
  const after = enc.encode(
    lines[n - 1].slice(5) + "\n" + lines.slice(n).join("\n"),
  );
  out.push({
    name: "an invalid UTF-8 byte",
    bytes: concat(before, new Uint8Array([0xff]), after),
    refused: { line: n, reason: /^is not UTF-8 text/, wholeFile: true },
  });
  out.push({
    name: "Latin-1 é in an id",
    bytes: concat(before, new Uint8Array([0xe9]), after),
    refused: { line: n, reason: /^is not UTF-8 text/, wholeFile: true },
  });
  const utf16 = new Uint8Array(2 + text.length * 2);
  utf16.set([0xff, 0xfe]);
  for (let i = 0; i < text.length; i++) utf16[2 + 2 * i] = text.charCodeAt(i);
  out.push({
    name: "UTF-16LE with BOM",
    bytes: utf16,
    // (the byte reader's words: "UTF-16 text is not supported: convert...")
    refused: { line: 1, reason: /UTF-16 text/, wholeFile: true },
  });
  for (
    const [kind, magic] of [
      ["bzip2", [0x42, 0x5a, 0x68, 0x39]],
      ["xz", [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00]],
      ["zstd", [0x28, 0xb5, 0x2f, 0xfd]],
      ["zip", [0x50, 0x4b, 0x03, 0x04]],
    ] as const
  ) {
    out.push({
      name: `${kind} magic`,
      bytes: concat(
        new Uint8Array(magic),
        new Uint8Array(200).map((_, i) => (i * 37) & 255),
      ),
      suffix: ".csv",
      refused: {
        line: 1,
        reason: new RegExp(`is ${kind}-compressed`),
        wholeFile: true,
      },
    });
  }
  out.push({
    name: "gzip of gzip",
    bytes: gzip(gzip(enc.encode(text))),
    suffix: ".csv.gz",
    refused: { line: 1, reason: /is not UTF-8 text/, wholeFile: true },
  });
  out.push({
    name: "truncated gzip",
    bytes: gzip(enc.encode(text)).slice(0, 3000),
    suffix: ".csv.gz",
    // (the byte reader says what is wrong with the data, at the line reached)
    refused: { line: 0, reason: /^truncated gzip data/, wholeFile: true },
  });
  out.push({
    name: "empty file",
    bytes: new Uint8Array(),
    refused: { line: 1, reason: /empty file: no events/, wholeFile: true },
  });
  out.push({
    name: "NUL bytes",
    bytes: new Uint8Array(5000),
    refused: { line: 1, reason: /missing header/, wholeFile: true },
  });
  return out;
}

function randomMutants(
  text: string,
  random: () => number,
  count: number,
): Mutant[] {
  const bytes = enc.encode(text);
  const gz = gzip(bytes);
  const out: Mutant[] = [];
  for (let i = 0; i < count; i++) {
    const compressed = random() < 0.2;
    const src = compressed ? gz : bytes;
    const kind = Math.floor(random() * 6);
    let b: Uint8Array;
    let name: string;
    if (kind === 0) {
      b = src.slice(0, Math.floor(random() * src.length));
      name = `truncated at ${b.length}`;
    } else if (kind === 1) {
      b = src.slice();
      const flips = 1 + Math.floor(random() * 8);
      for (let f = 0; f < flips; f++) {
        b[Math.floor(random() * b.length)] ^= 1 << Math.floor(random() * 8);
      }
      name = `${flips} bit flips`;
    } else if (kind === 2) {
      // a run of random bytes inserted
      const at = Math.floor(random() * src.length);
      b = concat(
        src.slice(0, at),
        new Uint8Array(1 + Math.floor(random() * 64)).map(() =>
          Math.floor(random() * 256)
        ),
        src.slice(at),
      );
      name = `junk at ${at}`;
    } else if (kind === 3) {
      // lines shuffled, duplicated, deleted, emptied
      const lines = text.split("\n");
      for (let k = 0; k < 5; k++) {
        const at = 1 + Math.floor(random() * (lines.length - 2));
        const op = Math.floor(random() * 4);
        if (op === 0) lines.splice(at, 1);
        else if (op === 1) lines.splice(at, 0, lines[at]);
        else if (op === 2) lines[at] = "";
        else {lines[at] = lines[at].split(",").slice(
            0,
            1 + Math.floor(random() * 6),
          ).join(",");}
      }
      b = enc.encode(lines.join("\n"));
      name = "lines edited";
    } else if (kind === 4) {
      // delimiters and quotes sprinkled
      const chars = [...text];
      for (let k = 0; k < 6; k++) {
        chars[Math.floor(random() * chars.length)] =
          [",", '"', "\t", ";", "\r", "\n", " "][Math.floor(random() * 7)];
      }
      b = enc.encode(chars.join(""));
      name = "delimiters sprinkled";
    } else {
      // a long run without a newline somewhere
      const at = text.indexOf("\n", Math.floor(random() * text.length));
      b = enc.encode(
        text.slice(0, at) +
          "7".repeat(Math.floor(random() * 3 * MAX_LINE_LENGTH)) +
          text.slice(at),
      );
      name = "a long run";
    }
    out.push({
      name: `${compressed && kind < 3 ? "gzip, " : ""}${name}`,
      bytes: compressed && kind >= 3 ? gzip(b) : b,
      suffix: compressed ? ".csv.gz" : ".csv",
    });
  }
  return out;
}

// a message a person can read: one line, printable, short, file:line: cause
function checkMessage(path: string, message: string, where: string) {
  assert.ok(
    message.startsWith(`${path}:`),
    `${where}: ${message.slice(0, 200)}`,
  );
  assert.match(message.slice(path.length), /^:\d+: \S/, where);
  assert.ok(
    message.length < 400,
    `${where}: a ${message.length}-character message`,
  );
  assert.doesNotMatch(
    message,
    // deno-lint-ignore no-control-regex
    /[\x00-\x1f\x7f\ufffd]/,
    `${where}: ${JSON.stringify(message.slice(0, 200))}`,
  );
}

/** Lines after the header, as the reader counts them (trailing empty lines are not lines). */
function dataLines(text: string): number {
  const lines = text.split("\n");
  while (
    lines.length > 1 && lines[lines.length - 1].replace(/\r$/, "") === ""
  ) lines.pop();
  return lines.length - 1;
}

Deno.test(`chaos: mutated events files (seed ${SEED}) read to the events, a counted skip, or a one-line file:line: cause, in time`, async () => {
  const { text, events } = baseLog(3000);
  const random = mulberry32(SEED);
  const mutants = [
    ...crafted(text, random, 3000),
    ...randomMutants(text, random, RANDOM_FILES),
  ];
  const dir = await Deno.makeTempDir();
  const reader = new Reader();
  const failures: string[] = [];
  let reads = 0, errors = 0, skips = 0;
  try {
    for (const [i, m] of mutants.entries()) {
      const path = `${dir}/m${i}${m.suffix ?? ".csv"}`;
      await Deno.writeFile(path, m.bytes);
      for (const onError of ["fail", "skip"] as const) {
        const where = `${m.name} (${onError})`;
        reads++;
        const { got, millis } = await reader.read({ path, onError });
        try {
          assert.notEqual(
            got,
            "hang",
            `${where}: no answer in ${TIMEOUT_MS} ms`,
          );
          const outcome = got as ReadOutcome;
          if (!outcome.ok) {
            errors++;
            assert.equal(
              outcome.name,
              "EventParseError",
              `${where}: ${outcome.name}: ${outcome.message}\n${outcome.stack}`,
            );
            checkMessage(path, outcome.message, where);
          } else {
            skips += outcome.skipped;
            for (const e of outcome.events) {
              assert.ok(
                Number.isFinite(e.timestamp),
                `${where}: timestamp ${e.timestamp}`,
              );
              for (const v of [e.user, e.item, e.event]) {
                assert.ok(
                  v !== "" && !/["\r\n\ufffd]/.test(v),
                  `${where}: ${JSON.stringify(e).slice(0, 200)}`,
                );
              }
            }
            outcome.firstSkipped.forEach((message) =>
              checkMessage(path, message, where)
            );
            // nothing silently dropped: every data line is an event or a skip
            const plain = !(m.suffix ?? "").toLowerCase().endsWith(".gz") &&
              m.bytes[0] !== 0x1f;
            if (plain) {
              const lines = dataLines(
                new TextDecoder().decode(m.bytes).replace(/^\uFEFF/, ""),
              );
              assert.equal(
                outcome.events.length + outcome.skipped,
                lines,
                `${where}: ${outcome.events.length} events + ${outcome.skipped} skipped for ${lines} lines`,
              );
            }
          }
          if (m.same) {
            assert.ok(
              got !== "hang" && got.ok,
              `${where}: ${JSON.stringify(got).slice(0, 300)}`,
            );
            assert.equal(got.skipped, 0, where);
            assert.deepEqual(got.events, events, where);
          }
          if (m.refused) {
            const { line, reason, wholeFile } = m.refused;
            if (onError === "fail" || wholeFile) {
              assert.ok(
                got !== "hang" && !got.ok,
                `${where}: read without an error`,
              );
              const m2 = got.message.slice(path.length + 1).match(
                /^(\d+): (.*)$/,
              );
              assert.ok(m2, got.message);
              if (line > 0) {
                assert.equal(Number(m2[1]), line, `${where}: ${got.message}`);
              }
              assert.match(m2[2], reason, where);
            } else {
              assert.ok(
                got !== "hang" && got.ok,
                `${where}: ${JSON.stringify(got).slice(0, 300)}`,
              );
              const want = m.refused.skip ??
                { skipped: 1, events: events.length - 1 };
              assert.equal(
                got.skipped,
                want.skipped,
                `${where}: ${got.firstSkipped.join("; ")}`,
              );
              assert.ok(
                got.firstSkipped[0].startsWith(`${path}:${line}: `),
                `${where}: ${got.firstSkipped[0]}`,
              );
              assert.equal(got.events.length, want.events, where);
            }
          }
          assert.ok(millis < TIMEOUT_MS, `${where}: ${millis} ms`);
        } catch (error) {
          failures.push(
            (error as Error).message.split("\n").slice(0, 3).join(" | "),
          );
        }
      }
      await Deno.remove(path);
    }
  } finally {
    reader.close();
    await Deno.remove(dir, { recursive: true });
  }
  report(
    "files mutated",
    mutants.length,
    `${reads} reads (fail and skip): ${errors} one-line errors, ${skips} lines skipped and counted, ${reader.hangs} hangs; seed ${SEED}`,
  );
  for (const f of failures) console.log(`[reader failure] ${f.slice(0, 500)}`);
  assert.deepEqual(failures, []);
});
