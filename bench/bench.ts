/**
 * `deno task bench`: speed and memory of the indicator build, against a
 * vectorized Python reference (numpy + pandas + scipy.sparse) of the same
 * math, and optionally indexing throughput into Elasticsearch.
 *
 * Each measurement runs in its own subprocess so its peak RSS (VmHWM) is its
 * own. Prints a table and writes JSON (`--json FILE`, default
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
import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { parseFlags, run } from "../cli/common.ts";
import { CcoError } from "../errors/mod.ts";
import { ensureSynthLog } from "../generate/retailrocket.ts";

const HELP = `
deno task bench [options]

Measures the full indicator build (all fields: purchase, cross-occurrence per
secondary event, similar items) on: the bundled demo log; the real Taobao
slice and MovieLens-100k when ../shared/datasets is present; generated
RetailRocket-shaped logs at --synth-scales (1 = 2.76M events, written once to
out/); and --events FILE. For each it reports wall time per phase, events/s,
pairs/s and peak RSS, runs the Python reference of the same math (numpy,
pandas, scipy.sparse, installed from PyPI into bench/.venv on first use),
checks both give the same indicators, and prints the speed ratio.

  --events FILE        an extra events file to measure
  --format NAME        its format preset (default retailrocket)
  --synth-scales LIST  generated log sizes (default 0.25,0.5,1; "" for none)
  --skip-reference     do not run the Python reference
  --index              also measure indexing into Elasticsearch (needs ES_URL)
  --json FILE          where to write the JSON results
`;

interface Dataset {
  name: string;
  path: string;
  format: string;
  primary: string;
}

interface Result {
  dataset: string;
  events: number;
  users: number;
  items: number;
  fields: number;
  coOccurrences: number;
  pairsScored: number;
  indicators: number;
  readMs: number;
  indicatorsMs: number;
  totalMs: number;
  eventsPerSecond: number;
  pairsPerSecond: number;
  peakRssMiB: number;
  indexMs?: number;
  docsPerSecond?: number;
  reference?: {
    totalMs: number;
    peakRssMiB: number;
    phasesMs: Record<string, number>;
    speedup: number;
    sameIndicators: boolean;
    differences: number;
  };
}

const root = new URL("..", import.meta.url).pathname;
const PY_DEPS = ["numpy==2.4.6", "pandas==3.1.1", "scipy==1.17.1"];

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

/** Child mode: build, write our indicators as TSV, optionally index. */
async function measure(
  d: Dataset,
  index: boolean,
  tsv: string,
): Promise<Result> {
  const t0 = performance.now();
  const model = await buildIndicators(
    readEventBatches(d.path, d.format),
    { primaryEvent: d.primary },
  );
  const totalMs = performance.now() - t0;
  const { documents, fields, stats } = model;
  const rss = peakRssMiB();
  const lines: string[] = [];
  for (const field of fields) {
    for (const doc of documents) {
      const ids = (doc as unknown as Record<string, string[]>)[field];
      if (ids.length > 0) lines.push(`${field}\t${doc.id}\t${ids.join(",")}`);
    }
  }
  await Deno.writeTextFile(tsv, lines.join("\n") + "\n");
  const events = Object.values(stats.eventsRead).reduce((a, b) => a + b, 0);
  const co = Object.values(stats.fields).reduce(
    (a, f) => a + f.coOccurrences,
    0,
  );
  const result: Result = {
    dataset: d.name,
    events,
    users: stats.users,
    items: stats.items,
    fields: fields.length,
    coOccurrences: co,
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
  };
  if (index) {
    const client = await connect();
    try {
      const name = `bench-${d.name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
      const r = await indexDocuments(client, name, model, { replace: true });
      result.indexMs = Math.round(r.millis);
      result.docsPerSecond = Math.round(r.documents / (r.millis / 1000));
      await client.indices.delete({ index: name });
    } finally {
      await client.close();
    }
  }
  return result;
}

async function exists(path: string): Promise<boolean> {
  return await Deno.stat(path).then(() => true, () => false);
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
): Promise<
  { totalMs: number; peakRssMiB: number; phasesMs: Record<string, number> }
> {
  const t0 = performance.now();
  // /usr/bin/time -f %M reports the child's peak RSS in KiB
  const haveTime = await exists("/usr/bin/time");
  const args = [
    `${root}bench/reference_cco.py`,
    d.path,
    tsv,
    "--format",
    d.format,
    "--primary",
    d.primary,
  ];
  const out = await new Deno.Command(haveTime ? "/usr/bin/time" : python, {
    args: haveTime ? ["-f", "%M", python, ...args] : args,
  }).output();
  const totalMs = performance.now() - t0;
  const stderr = new TextDecoder().decode(out.stderr).trim();
  if (!out.success) {
    throw new CcoError(
      `Python reference failed on ${d.name}: ${stderr.split("\n").pop()}`,
    );
  }
  const phases = JSON.parse(new TextDecoder().decode(out.stdout)) as Record<
    string,
    number
  >;
  return {
    totalMs: Math.round(totalMs),
    peakRssMiB: haveTime
      ? Math.round(Number(stderr.split("\n").pop()) / 1024)
      : NaN,
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
    x === undefined ? "-" : x.toLocaleString("en");
  const cols: [string, (r: Result) => string][] = [
    ["dataset", (r) => r.dataset],
    ["events", (r) => n(r.events)],
    ["users", (r) => n(r.users)],
    ["items", (r) => n(r.items)],
    ["co-occurrences", (r) => n(r.coOccurrences)],
    ["pairs", (r) => n(r.pairsScored)],
    ["kept", (r) => n(r.indicators)],
    ["read ms", (r) => n(r.readMs)],
    ["llr ms", (r) => n(r.indicatorsMs)],
    ["total ms", (r) => n(r.totalMs)],
    ["events/s", (r) => n(r.eventsPerSecond)],
    ["pairs/s", (r) => n(r.pairsPerSecond)],
    ["RSS MiB", (r) => n(r.peakRssMiB)],
    ["scipy ms", (r) => n(r.reference?.totalMs)],
    ["scipy MiB", (r) => n(r.reference?.peakRssMiB)],
    [
      "speedup",
      (r) => r.reference ? `${r.reference.speedup.toFixed(1)}x` : "-",
    ],
    [
      "same",
      (r) =>
        r.reference
          ? (r.reference.sameIndicators
            ? "yes"
            : `NO (${r.reference.differences})`)
          : "-",
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
    "synth-scales": { type: "string", default: "0.25,0.5,1" },
    one: { type: "string" },
    tsv: { type: "string" },
  }, HELP);
  if (flags.one) {
    // child mode: measure one dataset, print JSON
    const d = JSON.parse(flags.one) as Dataset;
    console.log(JSON.stringify(await measure(d, flags.index!, flags.tsv!)));
    return;
  }
  if (flags.index && !resolveEsUrl()) {
    throw new CcoError("--index needs ES_URL");
  }
  const shared = `${root}../shared/datasets/`;
  const candidates: Dataset[] = [
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
  try {
    for (const d of datasets) {
      console.error(`measuring ${d.name} ...`);
      const ours = `${tmp}/ours.tsv`, theirs = `${tmp}/theirs.tsv`;
      const out = await new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          new URL(import.meta.url).pathname,
          "--one",
          JSON.stringify(d),
          "--tsv",
          ours,
          ...(flags.index ? ["--index"] : []),
        ],
        stderr: "inherit",
      }).output();
      if (!out.success) throw new CcoError(`benchmark of ${d.name} failed`);
      const result = JSON.parse(new TextDecoder().decode(out.stdout)) as Result;
      if (python) {
        console.error(`  Python reference on ${d.name} ...`);
        const ref = await reference(python, d, theirs);
        const diff = await differences(ours, theirs);
        result.reference = {
          ...ref,
          speedup: ref.totalMs / Math.max(1, result.totalMs),
          sameIndicators: diff === 0,
          differences: diff,
        };
      }
      results.push(result);
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
    python: python ? PY_DEPS : undefined,
    elasticsearch: flags.index ? redactUrl(resolveEsUrl()!) : undefined,
  };
  await Deno.writeTextFile(
    file,
    JSON.stringify({ meta, results }, null, 2) + "\n",
  );
  console.error(`wrote ${file}`);
  if (results.some((r) => r.reference && !r.reference.sameIndicators)) {
    throw new CcoError(
      "the Python reference disagrees with cco-es (see 'same')",
    );
  }
});
