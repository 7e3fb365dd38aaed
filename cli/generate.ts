/**
 * `deno task generate`: write a deterministic RetailRocket-shaped event log
 * (see `bench/retailrocket_synth.ts`) and print its statistics next to
 * RetailRocket's published ones.
 *
 * @module
 */

import { RETAILROCKET, SynthLog } from "../generate/retailrocket.ts";
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
  let rows = -1;
  const perVisitor = new Map<number, number>();
  const perItem = new Map<number, number>();
  const types: Record<string, number> = {};
  async function* chunks() {
    for (const chunk of log.csv()) {
      for (const line of chunk.split("\n")) {
        if (!line || rows++ < 0) continue;
        const [, visitor, event, item] = line.split(",");
        types[event] = (types[event] ?? 0) + 1;
        perVisitor.set(+visitor, (perVisitor.get(+visitor) ?? 0) + 1);
        perItem.set(+item, (perItem.get(+item) ?? 0) + 1);
      }
      if ((rows & 0xfffff) < 50_000) {
        console.error(`generated ${rows.toLocaleString("en")} events`);
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
  const counts = [...perVisitor.values()];
  const pct = (n: number) => `${(100 * n / rows).toFixed(1)}%`;
  const max = (xs: Iterable<number>) => {
    let m = 0;
    for (const x of xs) if (x > m) m = x;
    return m;
  };
  const share = (pred: (n: number) => boolean) =>
    `${(100 * counts.filter(pred).length / counts.length).toFixed(1)}%`;
  const line = (label: string, ours: string, theirs: string) =>
    console.log(
      `${label.padEnd(28)} ${ours.padStart(14)} ${theirs.padStart(14)}`,
    );
  console.log(`wrote ${out} in ${seconds.toFixed(1)} s\n`);
  line("", "generated", "RetailRocket");
  line(
    "events",
    rows.toLocaleString("en"),
    RETAILROCKET.events.toLocaleString("en"),
  );
  for (const t of ["view", "addtocart", "transaction"] as const) {
    line(
      `  ${t}`,
      `${(types[t] ?? 0).toLocaleString("en")} ${pct(types[t] ?? 0)}`,
      `${RETAILROCKET[t].toLocaleString("en")} ${
        (100 * RETAILROCKET[t] / RETAILROCKET.events).toFixed(1)
      }%`,
    );
  }
  line(
    "visitors",
    perVisitor.size.toLocaleString("en"),
    RETAILROCKET.visitors.toLocaleString("en"),
  );
  line(
    "items",
    perItem.size.toLocaleString("en"),
    RETAILROCKET.items.toLocaleString("en"),
  );
  line("visitors with 1 event", share((n) => n === 1), "most");
  line("visitors with 1-2 events", share((n) => n <= 2), "most");
  line(
    "max events of a visitor",
    max(counts).toLocaleString("en"),
    "thousands",
  );
  line(
    "max events of an item",
    max(perItem.values()).toLocaleString("en"),
    "-",
  );
  line(
    "items with 1 event",
    `${
      (100 * [...perItem.values()].filter((n) => n === 1).length / perItem.size)
        .toFixed(1)
    }%`,
    "-",
  );
}

if (import.meta.main) await run(() => generateCommand(Deno.args));
