/**
 * `deno task generate`: write a deterministic RetailRocket-shaped event log
 * (see `generate/retailrocket.ts`) and print its statistics next to
 * RetailRocket's published ones.
 *
 * @module
 */

import { RETAILROCKET, SynthLog } from "../generate/retailrocket.ts";
import { SynthStats } from "../generate/stats.ts";
import { numberFlag, parseFlags, run } from "./common.ts";

const HELP = `
deno task generate [--out FILE] [--scale X] [--seed N]

Writes a RetailRocket-format events log (timestamp,visitorid,event,itemid,
transactionid) with RetailRocket's shape: by default exactly 2,756,101
events, 1,407,580 visitors, 235,061 items, 96.7% view / 2.5% addtocart /
0.8% transaction, heavy-tailed visitors and items, and latent item
categories. Deterministic for a given --scale and --seed.

  --out FILE     output path; .gz compresses (default out/retailrocket-synth.csv)
  --scale X      multiply every count by X (default 1)
  --seed N       PRNG seed (default 42)
  -h, --help     this text
`;

/**
 * Runs `generate` with command-line arguments.
 *
 * @param args The arguments after the command name.
 */
export async function generateCommand(args: string[]): Promise<void> {
  const flags = parseFlags(
    {
      out: { type: "string", default: "out/retailrocket-synth.csv" },
      scale: { type: "string", default: "1" },
      seed: { type: "string", default: "42" },
    },
    HELP,
    args,
  );
  const log = new SynthLog({
    scale: numberFlag("scale", flags.scale, false),
    seed: numberFlag("seed", flags.seed),
  });
  const out = flags.out!;
  const dir = out.includes("/") ? out.slice(0, out.lastIndexOf("/")) : ".";
  await Deno.mkdir(dir, { recursive: true });
  const file = await Deno.open(out, {
    write: true,
    create: true,
    truncate: true,
  });
  const encoder = new TextEncoder();
  const t0 = performance.now();
  const stats = new SynthStats(log);
  let reported = 0;
  async function* chunks() {
    for (const chunk of log.csv(50_000, (row) => stats.add(row))) {
      if (stats.events - reported >= 1_000_000) {
        reported = stats.events;
        console.error(`generated ${reported.toLocaleString("en")} events`);
      }
      yield encoder.encode(chunk);
    }
  }
  let stream: ReadableStream<Uint8Array> = ReadableStream.from(chunks());
  if (out.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new CompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  await stream.pipeTo(file.writable);
  const seconds = (performance.now() - t0) / 1000;
  const s = stats.summary();
  const pct = (n: number, of: number) => `${(100 * n / of).toFixed(1)}%`;
  const count = (n: number) => n.toLocaleString("en");
  const line = (label: string, ours: string, theirs: string) =>
    console.log(
      `${label.padEnd(28)} ${ours.padStart(14)} ${theirs.padStart(14)}`,
    );
  console.log(`wrote ${out} in ${seconds.toFixed(1)} s\n`);
  line("", "generated", "RetailRocket");
  line("events", count(s.events), count(RETAILROCKET.events));
  for (const t of ["view", "addtocart", "transaction"] as const) {
    line(
      `  ${t}`,
      `${count(s.types[t])} ${pct(s.types[t], s.events)}`,
      `${count(RETAILROCKET[t])} ${pct(RETAILROCKET[t], RETAILROCKET.events)}`,
    );
  }
  line("visitors", count(s.visitors), count(RETAILROCKET.visitors));
  line("items", count(s.items), count(RETAILROCKET.items));
  line("visitors with 1 event", pct(s.visitorsWith1, s.visitors), "most");
  line(
    "visitors with 1-2 events",
    pct(s.visitorsWith1Or2, s.visitors),
    "most",
  );
  line("max events of a visitor", count(s.maxPerVisitor), "thousands");
  line("max events of an item", count(s.maxPerItem), "-");
  line("items with 1 event", pct(s.itemsWith1, s.items), "-");
}

if (import.meta.main) await run(() => generateCommand(Deno.args));
