/**
 * `deno task bench`: speed and memory of the indicator build, as a user
 * sees it and phase by phase, against a vectorized Python reference
 * (numpy + pandas + scipy.sparse) of the same math, and optionally indexing
 * throughput into Elasticsearch.
 *
 * For each dataset it measures, each in its own process:
 * - **the whole `build-index --out` process**, exactly as `deno task
 *   build-index` runs it: wall time from spawn to exit, peak RSS (VmHWM of
 *   the process, worker threads included), events/s;
 * - **the in-process phases** (read, indicators) of the same build, and its
 *   peak RSS;
 * - **the Python reference as a whole process** (interpreter start, reading
 *   and writing included), wall and peak RSS;
 * and checks that the export, the in-process build and the reference give
 * the same indicators. The speed-up is the one a user sees: the reference
 * process's wall time over the build-index process's.
 *
 * Prints a table and writes JSON (`--json FILE`, default
 * `bench/results/bench-<time>.json`, not committed).
 *
 * @module
 */

import {
  connect,
  redactUrl,
  resolveEsUrl,
} from "../elasticsearch/connection.ts";
import { indexDocuments } from "../elasticsearch/indexing.ts";
import { readEventColumns } from "../events/read.ts";
import { buildIndicatorsLazily } from "../indicators/build.ts";
import { openModel } from "../model/ndjson.ts";
import { parseFlags, run, sizeFlag } from "../cli/common.ts";
import { CcoError } from "../errors/mod.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";

const HELP = `
deno task bench [options]

Measures the full indicator build (all fields: purchase, cross-occurrence per
secondary event, similar items) on: the bundled demo log; the real Taobao
slice and MovieLens-100k when ../shared/datasets is present; generated
RetailRocket-shaped logs at --synth-scales (1 = 2.76M events, written once to
out/); and --events FILE. For each: the whole build-index --out process
(wall, peak RSS, events/s), the in-process phases, and the Python reference
of the same math as a whole process (numpy, pandas, scipy.sparse, installed
from PyPI into bench/.venv on first use), with a check that all give the
same indicators.

  --events FILE           an extra events file to measure
  --format NAME           its format preset (default retailrocket)
  --synth-scales LIST     generated log sizes (default 0.25,0.5,1; e.g.
                          1,10,40; "" for none)
  --only-synth            skip the demo, Taobao and MovieLens logs
  --reference-max-events N
                          run the Python reference only on logs of at most
                          N events (default 6000000: its memory grows about
                          0.8 GB a million events)
  --skip-reference        never run the Python reference
  --skip-phases           skip the in-process measurement
  --memory-budget SIZE    passed to build-index (default: its own)
  --workers N             passed to build-index (default: its own)
  --index                 also measure indexing into Elasticsearch (ES_URL)
  --json FILE             where to write the JSON results
`;

interface Dataset {
  name: string;
  path: string;
  format: string;
  primary: string;
}

interface Process {
  wallMs: number;
  peakRssMiB: number;
}

interface Result {
  dataset: string;
  events: number;
  users?: number;
  items?: number;
  coOccurrences?: number;
  pairsScored?: number;
  indicators?: number;
  /** The whole `build-index --out` process. */
  process: Process & { eventsPerSecond: number };
  /** The in-process build, phase by phase. */
  phases?: {
    readMs: number;
    indicatorsMs: number;
    totalMs: number;
    eventsPerSecond: number;
    pairsPerSecond: number;
    peakRssMiB: number;
    passes: number[];
  };
  indexMs?: number;
  docsPerSecond?: number;
  reference?: Process & {
    phasesMs: Record<string, number>;
    speedup: number;
    sameIndicators: boolean;
    differences: number;
  };
  /** The export and the in-process build agree. */
  exportSame?: boolean;
}

const root = new URL("..", import.meta.url).pathname;
const PY_DEPS = ["numpy==2.4.6", "pandas==3.1.1", "scipy==1.17.1"];
/** What `deno task build-index` sets (see deno.json). */
const TASK_ENV = { MALLOC_MMAP_THRESHOLD_: "131072" };

function peakRssMiB(): number {
  try {
    const status = Deno.readTextFileSync("/proc/self/status");
    const kb = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1]);
    if (kb) return kb / 1024;
  } catch {
    // not Linux
  }
  return Deno.memoryUsage().rss / 2 ** 20;
}

/** Indicators as sorted lines `field<TAB>item<TAB>id,id,...`, streamed to a file. */
async function writeTsv(
  path: string,
  fields: string[],
  documents: () =>
    | AsyncIterable<Record<string, unknown>>
    | Promise<AsyncIterable<Record<string, unknown>>>,
): Promise<void> {
  const file = await Deno.open(path, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  try {
    let buffer = "";
    for (const field of fields) {
      for await (const doc of await documents()) {
        const ids = doc[field] as string[] | undefined;
        if (ids && ids.length > 0) {
          buffer += `${field}\t${doc.id}\t${ids.join(",")}\n`;
        }
        if (buffer.length > 1 << 20) {
          await file.write(encoder.encode(buffer));
          buffer = "";
        }
      }
    }
    await file.write(encoder.encode(buffer));
  } finally {
    file.close();
  }
}

/**
 * The math the Python reference implements (its defaults: root LLR >= 5, top
 * 50, scores = root LLR): every build here uses it, so that all three give
 * the same indicators. The library's defaults (significance 0.01, top 100,
 * learned weights) cost more: measure them with `--events` and
 * `build-index` directly.
 */
const REFERENCE_MATH = {
  minRootLlr: 5,
  maxIndicatorsPerItem: 50,
  weights: "llr-idf",
} as const;

/** Child mode: the in-process build, its indicators as TSV, optionally index. */
async function measure(
  d: Dataset,
  index: boolean,
  tsv: string | undefined,
  budget: number | undefined,
  workers: number | undefined,
): Promise<NonNullable<Result["phases"]> & Partial<Result>> {
  const t0 = performance.now();
  const model = await buildIndicatorsLazily(
    readEventColumns(d.path, d.format),
    {
      primaryEvent: d.primary,
      ...REFERENCE_MATH,
      ...(budget !== undefined ? { memoryBudget: budget } : {}),
      ...(workers !== undefined ? { workers } : {}),
    },
  );
  const totalMs = performance.now() - t0;
  const { fields, stats } = model;
  const rss = peakRssMiB();
  try {
    if (tsv) {
      await writeTsv(tsv, fields, async function* () {
        yield* model.documents as Iterable<never>;
      });
    }
    const events = Object.values(stats.eventsRead).reduce((a, b) => a + b, 0);
    const result = {
      dataset: d.name,
      events,
      users: stats.users,
      items: stats.items,
      coOccurrences: Object.values(stats.fields).reduce(
        (a, f) => a + f.coOccurrences,
        0,
      ),
      pairsScored: stats.pairsScored,
      indicators: stats.indicatorsKept,
      readMs: Math.round(stats.millis.read),
      indicatorsMs: Math.round(stats.millis.indicators),
      totalMs: Math.round(totalMs),
      eventsPerSecond: Math.round(events / (totalMs / 1000)),
      pairsPerSecond: Math.round(
        stats.pairsScored / (Math.max(1, stats.millis.indicators) / 1000),
      ),
      peakRssMiB: Math.round(rss),
      passes: Object.values(stats.fields).map((f) => f.passes),
    };
    if (index) {
      const client = await connect();
      try {
        const name = `bench-${
          d.name.toLowerCase().replace(/[^a-z0-9]+/g, "-")
        }`;
        const r = await indexDocuments(client, name, model, {
          replace: true,
        });
        Object.assign(result, {
          indexMs: Math.round(r.millis),
          docsPerSecond: Math.round(r.documents / (r.millis / 1000)),
        });
        await client.indices.delete({ index: name });
      } finally {
        await client.close();
      }
    }
    return result;
  } finally {
    model.release();
  }
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
}

/**
 * Runs a command as a whole process: wall time from spawn to exit, and its
 * peak RSS by `/usr/bin/time -f %M` (or VmHWM polled from /proc otherwise).
 */
async function timed(
  cmd: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<Process & { stdout: string; stderr: string }> {
  const haveTime = await exists("/usr/bin/time");
  const t0 = performance.now();
  const out = await new Deno.Command(haveTime ? "/usr/bin/time" : cmd, {
    args: haveTime ? ["-f", "%M", cmd, ...args] : args,
    env,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallMs = performance.now() - t0;
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new CcoError(
      `${cmd.split("/").pop()} ${args.slice(0, 3).join(" ")} ... failed: ${
        stderr.split("\n").filter((l) => !/^\d+$/.test(l)).pop()
      }`,
    );
  }
  return {
    wallMs: Math.round(wallMs),
    peakRssMiB: haveTime
      ? Math.round(Number(stderr.split("\n").pop()) / 1024)
      : NaN,
    stdout: new TextDecoder().decode(out.stdout),
    stderr,
  };
}

async function pythonVenv(): Promise<string> {
  const venv = `${root}bench/.venv`;
  const python = `${venv}/bin/python`;
  if (await exists(python)) return python;
  console.error(`installing ${PY_DEPS.join(" ")} into ${venv} ...`);
  for (
    const [cmd, args] of [
      ["python3", ["-m", "venv", venv]],
      [python, ["-m", "pip", "install", "-q", ...PY_DEPS]],
    ] as const
  ) {
    const out = await new Deno.Command(cmd, {
      args: [...args],
      stderr: "inherit",
    })
      .output();
    if (!out.success) {
      await Deno.remove(venv, { recursive: true }).catch(() => {});
      throw new CcoError(`cannot set up the Python reference (${cmd} failed)`);
    }
  }
  return python;
}

async function reference(
  python: string,
  d: Dataset,
  tsv: string,
): Promise<Process & { phasesMs: Record<string, number> }> {
  const { stdout, ...process } = await timed(python, [
    `${root}bench/reference_cco.py`,
    d.path,
    tsv,
    "--format",
    d.format,
    "--primary",
    d.primary,
  ]);
  const phases = JSON.parse(stdout) as Record<string, number>;
  return {
    wallMs: process.wallMs,
    peakRssMiB: process.peakRssMiB,
    phasesMs: Object.fromEntries(
      Object.entries(phases).map(([k, v]) => [k, Math.round(v * 1000)]),
    ),
  };
}

async function differences(ours: string, theirs: string): Promise<number> {
  const load = async (path: string) =>
    new Set((await Deno.readTextFile(path)).split("\n").filter(Boolean));
  const a = await load(ours), b = await load(theirs);
  let diff = 0;
  for (const line of a) if (!b.has(line)) diff++;
  for (const line of b) if (!a.has(line)) diff++;
  return diff;
}

function table(results: Result[]): string {
  const n = (x: number | undefined) =>
    x === undefined || Number.isNaN(x) ? "-" : x.toLocaleString("en");
  const s = (ms: number | undefined) =>
    ms === undefined ? "-" : (ms / 1000).toFixed(2);
  const cols: [string, (r: Result) => string][] = [
    ["dataset", (r) => r.dataset],
    ["events", (r) => n(r.events)],
    ["process s", (r) => s(r.process.wallMs)],
    ["process MiB", (r) => n(r.process.peakRssMiB)],
    ["events/s", (r) => n(r.process.eventsPerSecond)],
    ["read s", (r) => s(r.phases?.readMs)],
    ["llr s", (r) => s(r.phases?.indicatorsMs)],
    ["build s", (r) => s(r.phases?.totalMs)],
    ["build MiB", (r) => n(r.phases?.peakRssMiB)],
    ["pairs/s", (r) => n(r.phases?.pairsPerSecond)],
    ["python s", (r) => s(r.reference?.wallMs)],
    ["python MiB", (r) => n(r.reference?.peakRssMiB)],
    [
      "speedup",
      (r) => r.reference ? `${r.reference.speedup.toFixed(1)}x` : "-",
    ],
    [
      "same",
      (r) =>
        r.reference
          ? (r.reference.sameIndicators && r.exportSame !== false
            ? "yes"
            : `NO (${r.reference.differences})`)
          : r.exportSame === undefined
          ? "-"
          : r.exportSame
          ? "yes"
          : "NO",
    ],
    ["index docs/s", (r) => n(r.docsPerSecond)],
  ];
  const rows = [
    cols.map(([h]) => h),
    ...results.map((r) => cols.map(([, f]) => f(r))),
  ];
  const widths = cols.map((_, i) =>
    Math.max(...rows.map((row) => row[i].length))
  );
  const line = (row: string[]) =>
    "| " + row.map((c, i) =>
      i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i])
    )
      .join(" | ") +
    " |";
  return [
    line(rows[0]),
    "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...rows.slice(1).map(line),
  ].join("\n");
}

await run(async () => {
  const flags = parseFlags({
    events: { type: "string" },
    format: { type: "string", default: "retailrocket" },
    json: { type: "string" },
    index: { type: "boolean", default: false },
    "skip-reference": { type: "boolean", default: false },
    "skip-phases": { type: "boolean", default: false },
    "only-synth": { type: "boolean", default: false },
    "reference-max-events": { type: "string", default: "6000000" },
    "synth-scales": { type: "string", default: "0.25,0.5,1" },
    "memory-budget": { type: "string" },
    workers: { type: "string" },
    one: { type: "string" },
    tsv: { type: "string" },
  }, HELP);
  const budget = sizeFlag("memory-budget", flags["memory-budget"]);
  const workers = flags.workers === undefined
    ? undefined
    : Number(flags.workers);
  if (workers !== undefined && !(Number.isInteger(workers) && workers >= 0)) {
    throw new CcoError(`--workers: must be an integer >= 0`);
  }
  if (flags.one) {
    // child mode: measure one dataset in process, print JSON
    const d = JSON.parse(flags.one) as Dataset;
    console.log(
      JSON.stringify(
        await measure(d, flags.index!, flags.tsv, budget, workers),
      ),
    );
    return;
  }
  if (flags.index && !resolveEsUrl()) {
    throw new CcoError("--index needs ES_URL");
  }
  const maxReference = Number(flags["reference-max-events"]);
  const shared = `${root}../shared/datasets/`;
  const candidates: Dataset[] = flags["only-synth"] ? [] : [
    {
      name: "demo fixture",
      path: `${root}fixtures/demo_events.csv`,
      format: "retailrocket",
      primary: "transaction",
    },
    {
      name: "Taobao 2h",
      path: `${shared}taobao-userbehavior-2h/UserBehavior.csv.gz`,
      format: "taobao",
      primary: "transaction",
    },
    {
      name: "MovieLens 100k",
      path: `${shared}movielens-100k/u.data.gz`,
      format: "movielens",
      primary: "like",
    },
  ];
  const scales = flags["synth-scales"]!.split(",").map((s) => s.trim())
    .filter(Boolean).map(Number);
  for (const scale of scales) {
    if (!(scale > 0)) throw new CcoError(`--synth-scales: bad scale ${scale}`);
    const path = await ensureSynthLog(`${root}out`, scale);
    candidates.push({
      name: `RetailRocket-shaped x${scale}`,
      path,
      format: "retailrocket",
      primary: "transaction",
    });
  }
  if (flags.events) {
    candidates.push({
      name: flags.events.split("/").pop()!,
      path: flags.events,
      format: flags.format!,
      primary: flags.format === "movielens" ? "like" : "transaction",
    });
  }
  const datasets: Dataset[] = [];
  for (const d of candidates) {
    if (await exists(d.path)) datasets.push(d);
    else console.error(`skipping ${d.name}: ${d.path} not found`);
  }
  const python = flags["skip-reference"] ? undefined : await pythonVenv();
  const tmp = await Deno.makeTempDir({ prefix: "cco-bench-" });
  const results: Result[] = [];
  const passOn = [
    ...(flags["memory-budget"]
      ? ["--memory-budget", flags["memory-budget"]]
      : []),
    ...(flags.workers !== undefined ? ["--workers", flags.workers] : []),
  ];
  try {
    for (const d of datasets) {
      console.error(`measuring ${d.name} ...`);
      const exported = `${tmp}/model.ndjson`;
      const exportTsv = `${tmp}/export.tsv`;
      const ours = `${tmp}/ours.tsv`, theirs = `${tmp}/theirs.tsv`;
      // 1. the whole process, as `deno task build-index` runs it
      console.error(`  build-index --out (whole process) ...`);
      const proc = await timed(Deno.execPath(), [
        "run",
        "--allow-read",
        "--allow-write",
        "--allow-env",
        "--allow-net",
        "--allow-sys",
        `${root}cli/build_index.ts`,
        "--events",
        d.path,
        "--format",
        d.format,
        "--primary",
        d.primary,
        "--out",
        exported,
        "--min-llr",
        String(REFERENCE_MATH.minRootLlr),
        "--max-indicators",
        String(REFERENCE_MATH.maxIndicatorsPerItem),
        "--weights",
        REFERENCE_MATH.weights,
        ...passOn,
      ], TASK_ENV);
      const opened = await openModel(exported);
      const events = Object.values(opened.manifest!.counts.events ?? {})
        .reduce((a, b) => a + b, 0);
      await opened.documents.return(undefined);
      const result: Result = {
        dataset: d.name,
        events,
        process: {
          wallMs: proc.wallMs,
          peakRssMiB: proc.peakRssMiB,
          eventsPerSecond: Math.round(events / (proc.wallMs / 1000)),
        },
      };
      const withReference = python !== undefined && events <= maxReference;
      // 2. the phases, in process
      if (!flags["skip-phases"] || flags.index) {
        console.error(`  in-process phases ...`);
        const out = await new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            new URL(import.meta.url).pathname,
            "--one",
            JSON.stringify(d),
            ...(withReference ? ["--tsv", ours] : []),
            ...(flags.index ? ["--index"] : []),
            ...passOn,
          ],
          env: TASK_ENV,
          stderr: "inherit",
        }).output();
        if (!out.success) throw new CcoError(`benchmark of ${d.name} failed`);
        const { readMs, indicatorsMs, totalMs, eventsPerSecond, ...rest } = JSON
          .parse(new TextDecoder().decode(out.stdout));
        result.phases = {
          readMs,
          indicatorsMs,
          totalMs,
          eventsPerSecond,
          pairsPerSecond: rest.pairsPerSecond,
          peakRssMiB: rest.peakRssMiB,
          passes: rest.passes,
        };
        for (
          const key of [
            "users",
            "items",
            "coOccurrences",
            "pairsScored",
            "indicators",
            "indexMs",
            "docsPerSecond",
          ] as const
        ) {
          if (rest[key] !== undefined) result[key] = rest[key];
        }
      }
      // 3. the reference, as a whole process
      if (withReference) {
        console.error(`  Python reference (whole process) ...`);
        const ref = await reference(python!, d, theirs);
        await writeTsv(
          exportTsv,
          opened.manifest!.fields.map((f) => f.name),
          async () =>
            (await openModel(exported)).documents as AsyncIterable<
              Record<string, unknown>
            >,
        );
        const diff = await differences(exportTsv, theirs);
        result.reference = {
          ...ref,
          speedup: ref.wallMs / Math.max(1, result.process.wallMs),
          sameIndicators: diff === 0,
          differences: diff,
        };
        if (result.phases) {
          result.exportSame = await differences(exportTsv, ours) === 0;
        }
      }
      await Deno.remove(exported).catch(() => {});
      results.push(result);
      console.error(table([result]).split("\n").slice(2).join("\n"));
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
  console.log(table(results));
  const file = flags.json ??
    `${root}bench/results/bench-${
      new Date().toISOString().replace(/[:.]/g, "-")
    }.json`;
  await Deno.mkdir(file.split("/").slice(0, -1).join("/") || ".", {
    recursive: true,
  });
  const meta = {
    date: new Date().toISOString(),
    deno: Deno.version.deno,
    cpus: navigator.hardwareConcurrency,
    loadAverage: Deno.loadavg(),
    memoryBudget: flags["memory-budget"],
    workers: flags.workers,
    python: python ? PY_DEPS : undefined,
    elasticsearch: flags.index ? redactUrl(resolveEsUrl()!) : undefined,
  };
  await Deno.writeTextFile(
    file,
    JSON.stringify({ meta, results }, null, 2) + "\n",
  );
  console.error(`wrote ${file}`);
  if (
    results.some((r) =>
      (r.reference && !r.reference.sameIndicators) || r.exportSame === false
    )
  ) {
    throw new CcoError(
      "the Python reference, the export and the in-process build disagree (see 'same')",
    );
  }
});
