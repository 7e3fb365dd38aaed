/**
 * `deno task bench`: build speed and memory of the indicator pipeline, and
 * optionally indexing throughput into Elasticsearch (`ES_URL`).
 *
 * Each dataset runs in its own subprocess so its peak RSS (VmHWM) is its
 * own. Prints a table and writes JSON (`--json FILE`, default
 * `bench/results/bench-<time>.json`, not committed).
 *
 * @module
 */

import { connect, redactUrl, resolveEsUrl } from "../lib/connection.ts";
import { indexDocuments } from "../lib/elasticsearch.ts";
import { readEvents } from "../lib/events.ts";
import { buildIndicators } from "../lib/indicators.ts";
import { CliError, numberFlag, parseFlags, run } from "../tasks/_cli.ts";
import { SynthLog } from "./retailrocket_synth.ts";

const HELP = `
deno task bench [--events FILE --format NAME] [--json FILE] [--index]

Measures reading + indicator building (wall time per phase, events/s, peak
RSS) on: the bundled demo log, the real logs in ../shared/datasets when
present (Taobao, MovieLens), a generated RetailRocket-shaped log (written
once to out/, 2.76M events at --synth-scale 1), and --events FILE if given.
With --index and ES_URL set, also indexes each result into Elasticsearch and
reports docs/s.

  --events FILE   an extra events file to measure
  --format NAME   its format preset (default retailrocket)
  --json FILE     where to write the JSON results
  --index         also measure indexing into Elasticsearch (needs ES_URL)
  --synth-scale X size of the generated log (default 1; 0 skips it)
`;

interface Dataset {
  name: string;
  path: string;
  format: string;
}

interface Result {
  dataset: string;
  events: number;
  users: number;
  items: number;
  pairsScored: number;
  indicators: number;
  readMs: number;
  indicatorsMs: number;
  totalMs: number;
  eventsPerSecond: number;
  peakRssMiB: number;
  indexMs?: number;
  docsPerSecond?: number;
}

const root = new URL("..", import.meta.url).pathname;

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

async function measure(d: Dataset, index: boolean): Promise<Result> {
  const t0 = performance.now();
  const { documents, stats } = await buildIndicators(
    readEvents(d.path, d.format),
    { primaryEvent: d.format === "movielens" ? "like" : "transaction" },
  );
  const totalMs = performance.now() - t0;
  const events = Object.values(stats.eventsRead).reduce((a, b) => a + b, 0);
  const result: Result = {
    dataset: d.name,
    events,
    users: stats.users,
    items: stats.items,
    pairsScored: stats.pairsScored,
    indicators: stats.indicatorsKept,
    readMs: Math.round(stats.millis.read),
    indicatorsMs: Math.round(stats.millis.indicators),
    totalMs: Math.round(totalMs),
    eventsPerSecond: Math.round(events / (totalMs / 1000)),
    peakRssMiB: Math.round(peakRssMiB()),
  };
  if (index) {
    const client = await connect();
    try {
      const name = `bench-${d.name.toLowerCase().replace(/[^a-z0-9]+/g, "-")}`;
      const r = await indexDocuments(client, name, documents, {
        replace: true,
      });
      result.indexMs = Math.round(r.millis);
      result.docsPerSecond = Math.round(r.documents / (r.millis / 1000));
      await (client as unknown as {
        indices: { delete(p: { index: string }): Promise<unknown> };
      }).indices.delete({ index: name });
    } finally {
      await client.close();
    }
  }
  return result;
}

function table(results: Result[]): string {
  const cols: [string, (r: Result) => string][] = [
    ["dataset", (r) => r.dataset],
    ["events", (r) => r.events.toLocaleString("en")],
    ["users", (r) => r.users.toLocaleString("en")],
    ["items", (r) => r.items.toLocaleString("en")],
    ["pairs", (r) => r.pairsScored.toLocaleString("en")],
    ["kept", (r) => r.indicators.toLocaleString("en")],
    ["read ms", (r) => String(r.readMs)],
    ["llr ms", (r) => String(r.indicatorsMs)],
    ["total ms", (r) => String(r.totalMs)],
    ["events/s", (r) => r.eventsPerSecond.toLocaleString("en")],
    ["peak RSS MiB", (r) => String(r.peakRssMiB)],
    ["index docs/s", (r) => r.docsPerSecond?.toLocaleString("en") ?? "-"],
  ];
  const rows = [
    cols.map(([h]) => h),
    ...results.map((r) => cols.map(([, f]) => f(r))),
  ];
  const widths = cols.map((_, i) =>
    Math.max(...rows.map((row) => row[i].length))
  );
  const line = (row: string[]) =>
    "| " + row.map((c, i) => c.padStart(widths[i])).join(" | ") + " |";
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
    one: { type: "string" },
    "synth-scale": { type: "string", default: "1" },
  }, HELP);
  if (flags.one) {
    // child mode: measure one dataset, print JSON
    const d = JSON.parse(flags.one) as Dataset;
    console.log(JSON.stringify(await measure(d, flags.index!)));
    return;
  }
  if (flags.index && !resolveEsUrl()) {
    throw new CliError("--index needs ES_URL");
  }
  const shared = `${root}../shared/datasets/`;
  const candidates: Dataset[] = [
    {
      name: "demo fixture",
      path: `${root}fixtures/demo_events.csv`,
      format: "retailrocket",
    },
    {
      name: "Taobao 2h",
      path: `${shared}taobao-userbehavior-2h/UserBehavior.csv.gz`,
      format: "taobao",
    },
    {
      name: "MovieLens 100k",
      path: `${shared}movielens-100k/u.data.gz`,
      format: "movielens",
    },
  ];
  const scale = numberFlag("synth-scale", flags["synth-scale"], false)!;
  if (scale > 0) {
    const path = `${root}out/retailrocket-synth-x${scale}.csv`;
    if (!await Deno.stat(path).then(() => true, () => false)) {
      console.error(`generating ${path} ...`);
      await Deno.mkdir(`${root}out`, { recursive: true });
      const file = await Deno.open(path, { write: true, create: true });
      const encoder = new TextEncoder();
      for (const chunk of new SynthLog({ scale }).csv()) {
        await file.write(encoder.encode(chunk));
      }
      file.close();
    }
    candidates.push({
      name: `RetailRocket-shaped x${scale}`,
      path,
      format: "retailrocket",
    });
  }
  if (flags.events) {
    candidates.push({
      name: flags.events.split("/").pop()!,
      path: flags.events,
      format: flags.format!,
    });
  }
  const datasets: Dataset[] = [];
  for (const d of candidates) {
    if (await Deno.stat(d.path).then(() => true, () => false)) datasets.push(d);
    else console.error(`skipping ${d.name}: ${d.path} not found`);
  }
  const results: Result[] = [];
  for (const d of datasets) {
    console.error(`measuring ${d.name} ...`);
    const out = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        new URL(import.meta.url).pathname,
        "--one",
        JSON.stringify(d),
        ...(flags.index ? ["--index"] : []),
      ],
      stderr: "inherit",
    }).output();
    if (!out.success) throw new CliError(`benchmark of ${d.name} failed`);
    results.push(JSON.parse(new TextDecoder().decode(out.stdout)));
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
    elasticsearch: flags.index ? redactUrl(resolveEsUrl()!) : undefined,
  };
  await Deno.writeTextFile(
    file,
    JSON.stringify({ meta, results }, null, 2) + "\n",
  );
  console.error(`wrote ${file}`);
});
