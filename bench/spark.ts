/**
 * `deno run -A bench/spark.ts`: the Spark build (spark/cco_job.py, local
 * mode) beside the Deno engine on generated RetailRocket-shaped logs: wall
 * time, peak memory and Spark's shuffle bytes, and whether both give the
 * same documents.
 *
 * Both builds weigh indicators `llr-idf` (the Deno build's default,
 * learned, is not implemented on Spark) with the library's default
 * threshold and top-k.
 *
 * Per log:
 * - **Deno**: `buildIndicators` in a subprocess; its peak RSS (VmHWM).
 * - **Spark**: `runSparkBuild` (default master `local[2]`, driver memory
 *   4g); wall time of the whole `spark-submit` (start-up included) and of
 *   the build inside Spark; peak RSS of the process tree (the driver JVM,
 *   which in local mode also runs the executors, plus the Python driver),
 *   polled from /proc every 100 ms, and of the JVM alone; shuffle bytes
 *   written and read, summed over all tasks from Spark's event log.
 * - **Co-occurrence work**: Σ over users of row items × column items per
 *   field (the rows the co-occurrence self-join produces, which bounds its
 *   shuffle) and Σ over users of min(items, cap)² per event type.
 *
 * Prints a table and writes JSON (`--json FILE`, default
 * `bench/results/spark-<time>.json`, not committed). Figures depend on the
 * machine: measure on a quiet one.
 *
 * @module
 */

import { parseFlags, run } from "../cli/common.ts";
import { PRESETS } from "../events/format.ts";
import { readEventBatches } from "../events/read.ts";
import { indicatorDocuments } from "../indicators/build.ts";
import { InteractionsBuilder } from "../indicators/interactions.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";
import { runSparkBuild } from "../spark/mod.ts";

const HELP = `
deno run -A bench/spark.ts [options]

Builds the indicators of generated RetailRocket-shaped logs with the Deno
engine and with Spark (local mode), both with llr-idf weights, and reports
wall time, peak memory, Spark's shuffle bytes, the co-occurrence work, and
whether the documents are the same.

  --scale N          a generated log of this size (1 = 2.76M events),
                     written once to --dir; repeatable (default 1)
  --events FILE      an events file (RetailRocket format) instead; repeatable
  --dir DIR          where generated logs go (default out)
  --master URL       Spark master (default local[2])
  --conf K=V         Spark setting, repeatable (default spark.driver.memory=4g)
  --history-cap N    history cap (default 500)
  --skip-deno        measure Spark only
  --json FILE        where to write the JSON results

Make logs beforehand with: deno task generate --scale 10 --out out/rr-x10.csv
`;

/**
 * The weighting of both builds, explicit: the Deno build's default
 * (learned) is not implemented on Spark, and the comparison must be of
 * the same model.
 */
const WEIGHTS = "llr-idf";

interface DenoResult {
  totalMs: number;
  peakRssMiB: number;
  events: number;
  users: number;
  items: number;
  indicators: number;
  coOccurrences: Record<string, number>;
  squaredHistories: Record<string, number>;
}

interface Row {
  log: string;
  events: number;
  deno?: DenoResult;
  spark: {
    wallMs: number;
    buildMs: number;
    peakTreeRssMiB: number;
    peakJvmRssMiB: number;
    shuffleWriteBytes: number;
    shuffleReadBytes: number;
    spillBytes: number;
    indicators: number;
  };
  sameDocuments?: boolean;
  differences?: number;
}

function vmHwmMiB(): number {
  const status = Deno.readTextFileSync("/proc/self/status");
  return Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0) / 1024;
}

/** Child mode: the Deno build and the co-occurrence work of a log. */
async function denoChild(path: string, cap: number, ndjson: string) {
  const t0 = performance.now();
  const builder = new InteractionsBuilder({ maxHistoryPerUser: cap });
  await builder.addAll(readEventBatches(path));
  const interactions = builder.build();
  const { documents, stats } = indicatorDocuments(interactions, {
    primaryEvent: PRESETS.retailrocket.primaryEvent,
    maxHistoryPerUser: cap,
    weights: WEIGHTS,
  });
  const totalMs = performance.now() - t0;
  const peak = vmHwmMiB();
  const squared: Record<string, number> = {};
  for (const type of interactions.eventTypes) {
    const m = interactions.matrix(type)!;
    let sum = 0;
    for (let u = 0; u < m.rows; u++) sum += m.rowLength(u) ** 2;
    squared[type] = sum;
  }
  const file = await Deno.open(ndjson, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  const ids = documents.map((d) => d.id).sort();
  const byId = new Map(documents.map((d) => [d.id, d]));
  for (const id of ids) {
    await file.write(encoder.encode(JSON.stringify(byId.get(id)) + "\n"));
  }
  file.close();
  const fields = stats;
  const result: DenoResult = {
    totalMs: Math.round(totalMs),
    peakRssMiB: Math.round(peak),
    events: Object.values(interactions.eventsRead).reduce((a, b) => a + b, 0),
    users: interactions.users.size,
    items: interactions.items.size,
    indicators: Object.values(fields).reduce((a, f) => a + f.indicatorsKept, 0),
    coOccurrences: Object.fromEntries(
      Object.entries(fields).map(([f, s]) => [f, s.coOccurrences]),
    ),
    squaredHistories: squared,
  };
  console.log(JSON.stringify(result));
}

async function deno(path: string, cap: number, ndjson: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      new URL(import.meta.url).pathname,
      "--child-deno",
      path,
      "--history-cap",
      String(cap),
      "--child-out",
      ndjson,
    ],
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`the Deno build of ${path} failed`);
  return JSON.parse(new TextDecoder().decode(out.stdout)) as DenoResult;
}

/** Sum of the RSS of a process and its descendants, and of the process. */
function treeRssKiB(root: number): { tree: number; self: number } {
  const children = new Map<number, number[]>();
  const rss = new Map<number, number>();
  for (const entry of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(entry.name)) continue;
    try {
      const stat = Deno.readTextFileSync(`/proc/${entry.name}/stat`);
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      const pid = Number(entry.name);
      const ppid = Number(fields[1]);
      // field 24 (rss, pages) is index 21 after the command
      rss.set(pid, Number(fields[21]) * 4);
      children.set(ppid, [...(children.get(ppid) ?? []), pid]);
    } catch {
      // the process ended meanwhile
    }
  }
  let tree = 0;
  const stack = [root];
  while (stack.length > 0) {
    const pid = stack.pop()!;
    tree += rss.get(pid) ?? 0;
    stack.push(...(children.get(pid) ?? []));
  }
  return { tree, self: rss.get(root) ?? 0 };
}

async function shuffleBytes(eventLogDir: string) {
  let write = 0, read = 0, spill = 0;
  for await (const entry of Deno.readDir(eventLogDir)) {
    if (!entry.isFile) continue;
    const text = await Deno.readTextFile(`${eventLogDir}/${entry.name}`);
    for (const line of text.split("\n")) {
      if (!line.includes('"SparkListenerTaskEnd"')) continue;
      const m = JSON.parse(line)["Task Metrics"];
      if (!m) continue;
      write += m["Shuffle Write Metrics"]?.["Shuffle Bytes Written"] ?? 0;
      const r = m["Shuffle Read Metrics"] ?? {};
      read += (r["Remote Bytes Read"] ?? 0) + (r["Local Bytes Read"] ?? 0);
      spill += m["Disk Bytes Spilled"] ?? 0;
    }
  }
  return { write, read, spill };
}

async function spark(
  path: string,
  out: string,
  cap: number,
  master: string,
  conf: string[],
) {
  const eventLog = await Deno.makeTempDir({ prefix: "cco-spark-events-" });
  let pid = 0;
  let peakTree = 0, peakSelf = 0;
  const poll = setInterval(() => {
    if (!pid) return;
    const { tree, self } = treeRssKiB(pid);
    peakTree = Math.max(peakTree, tree);
    peakSelf = Math.max(peakSelf, self);
  }, 100);
  const t0 = performance.now();
  try {
    const result = await runSparkBuild({
      events: path,
      out,
      primaryEvent: PRESETS.retailrocket.primaryEvent,
      maxHistoryPerUser: cap,
      weights: WEIGHTS,
    }, {
      master,
      conf: [
        ...conf,
        "spark.eventLog.enabled=true",
        `spark.eventLog.dir=file://${eventLog}`,
        "spark.eventLog.compress=false",
        "spark.eventLog.rolling.enabled=false",
      ],
      onStart: (child) => pid = child.pid,
    });
    const wallMs = performance.now() - t0;
    const bytes = await shuffleBytes(eventLog);
    return {
      result,
      spark: {
        wallMs: Math.round(wallMs),
        buildMs: Math.round(result.seconds * 1000),
        peakTreeRssMiB: Math.round(peakTree / 1024),
        peakJvmRssMiB: Math.round(peakSelf / 1024),
        shuffleWriteBytes: bytes.write,
        shuffleReadBytes: bytes.read,
        spillBytes: bytes.spill,
        indicators: result.manifest.fields.reduce(
          (n, f) => n + f.indicators,
          0,
        ),
      },
    };
  } finally {
    clearInterval(poll);
    await Deno.remove(eventLog, { recursive: true }).catch(() => {});
  }
}

async function differences(denoNdjson: string, parts: string[]) {
  const ours = (await Deno.readTextFile(denoNdjson)).split("\n").filter(
    Boolean,
  );
  let i = 0, diff = 0;
  for (const part of parts) {
    for (const line of (await Deno.readTextFile(part)).split("\n")) {
      if (line === "") continue;
      // parse both: number spelling differs (5.0 vs 5), values must not
      const theirs = JSON.stringify(JSON.parse(line));
      if (theirs !== ours[i++]) {
        if (diff++ === 0) {
          console.error(
            `first difference:\n  deno  ${ours[i - 1]}\n  spark ${theirs}`,
          );
        }
      }
    }
  }
  return diff + Math.abs(ours.length - i);
}

function table(rows: Row[]): string {
  const n = (x: number | undefined) =>
    x === undefined ? "-" : Math.round(x).toLocaleString("en");
  const mib = (b: number) => n(b / 2 ** 20);
  const s = (ms: number | undefined) =>
    ms === undefined ? "-" : (ms / 1000).toFixed(1);
  const lines = [
    "| log | events | Deno s | Deno RSS MiB | Spark wall s | Spark build s | Spark tree RSS MiB | JVM RSS MiB | shuffle write MiB | shuffle read MiB | spill MiB | Σ row×col items | same documents |",
    "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
  ];
  for (const r of rows) {
    const co = r.deno
      ? Object.values(r.deno.coOccurrences).reduce((a, b) => a + b, 0)
      : undefined;
    lines.push(
      `| ${r.log} | ${n(r.events)} | ${s(r.deno?.totalMs)} | ${
        n(r.deno?.peakRssMiB)
      } | ${s(r.spark.wallMs)} | ${s(r.spark.buildMs)} | ${
        n(r.spark.peakTreeRssMiB)
      } | ${n(r.spark.peakJvmRssMiB)} | ${mib(r.spark.shuffleWriteBytes)} | ${
        mib(r.spark.shuffleReadBytes)
      } | ${mib(r.spark.spillBytes)} | ${n(co)} | ${
        r.sameDocuments === undefined
          ? "-"
          : r.sameDocuments
          ? "yes"
          : `no (${r.differences})`
      } |`,
    );
  }
  return lines.join("\n");
}

if (import.meta.main) {
  await run(async () => {
    const flags = parseFlags({
      scale: { type: "string", multiple: true },
      events: { type: "string", multiple: true },
      dir: { type: "string", default: "out" },
      master: { type: "string", default: "local[2]" },
      conf: { type: "string", multiple: true },
      "history-cap": { type: "string", default: "500" },
      "skip-deno": { type: "boolean" },
      json: { type: "string" },
      "child-deno": { type: "string" },
      "child-out": { type: "string" },
    }, HELP);
    const cap = Number(flags["history-cap"]);
    if (flags["child-deno"]) {
      await denoChild(flags["child-deno"], cap, flags["child-out"]!);
      return;
    }
    const logs = [...(flags.events ?? [])];
    for (const scale of flags.scale ?? (logs.length ? [] : ["1"])) {
      logs.push(await ensureSynthLog(flags.dir, Number(scale)));
    }
    const conf = flags.conf ?? ["spark.driver.memory=4g"];
    const work = await Deno.makeTempDir({ prefix: "cco-bench-spark-" });
    const rows: Row[] = [];
    try {
      for (const [i, log] of logs.entries()) {
        console.error(`\n== ${log}`);
        const ndjson = `${work}/deno-${i}.ndjson`;
        const d = flags["skip-deno"] ? undefined : await deno(log, cap, ndjson);
        if (d) {
          console.error(
            `deno: ${(d.totalMs / 1000).toFixed(1)} s, ${d.peakRssMiB} MiB`,
          );
        }
        const s = await spark(
          log,
          `${work}/spark-${i}`,
          cap,
          flags.master,
          conf,
        );
        const row: Row = {
          log,
          events: Object.values(s.result.manifest.counts.events ?? {})
            .reduce((a, b) => a + b, 0),
          deno: d,
          spark: s.spark,
        };
        if (d) {
          row.differences = await differences(ndjson, s.result.parts);
          row.sameDocuments = row.differences === 0;
        }
        rows.push(row);
        console.error(table([row]).split("\n").pop());
      }
    } finally {
      await Deno.remove(work, { recursive: true }).catch(() => {});
    }
    console.log(table(rows));
    const json = flags.json ??
      `bench/results/spark-${
        new Date().toISOString().replace(/[:.]/g, "-")
      }.json`;
    await Deno.mkdir(json.replace(/\/[^/]*$/, ""), { recursive: true });
    await Deno.writeTextFile(
      json,
      JSON.stringify({ machine: Deno.hostname(), rows }, null, 2),
    );
    console.error(`wrote ${json}`);
  });
}
