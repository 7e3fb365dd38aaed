/**
 * Shared by the serving benchmarks: requests from generated users'
 * histories, and a closed-loop load generator with latency percentiles.
 *
 * @module
 */

import { readEventBatches } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import type { Model, Weighting } from "../model/manifest.ts";
import type { RecommendRequest } from "../serving/request.ts";
import { mulberry32 } from "../random/mod.ts";

/** One measurement. */
export interface Row {
  /** What was queried. */
  target: string;
  /** Concurrent clients. */
  clients: number;
  /** Queries sent. */
  queries: number;
  /** Queries per second. */
  qps: number;
  /** Median latency, ms. */
  p50Ms: number;
  /** 99th percentile latency, ms. */
  p99Ms: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))];
}

/**
 * Sends every request once, from `clients` concurrent loops.
 *
 * @param target Label.
 * @param clients Concurrent loops.
 * @param requests The requests.
 * @param call Sends one.
 * @returns Throughput and latency.
 */
export async function load(
  target: string,
  clients: number,
  requests: RecommendRequest[],
  call: (r: RecommendRequest) => Promise<unknown>,
): Promise<Row> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: clients }, async () => {
      while (next < requests.length) {
        const r = requests[next++];
        const t = performance.now();
        await call(r);
        latencies.push(performance.now() - t);
      }
    }),
  );
  const seconds = (performance.now() - t0) / 1000;
  latencies.sort((a, b) => a - b);
  return {
    target,
    clients,
    queries: requests.length,
    qps: Math.round(requests.length / seconds),
    p50Ms: +percentile(latencies, 0.5).toFixed(2),
    p99Ms: +percentile(latencies, 0.99).toFixed(2),
  };
}

/**
 * Builds the indicators of an events file and `n` requests: the 20 most
 * recent distinct items (per event type) of random users with at least 20,
 * `num` 10.
 *
 * @param path Events file.
 * @param n Requests.
 * @param weights Indicator weighting (default the build's).
 * @returns The documents, the requests, and how many users qualified.
 */
export async function modelAndRequests(
  path: string,
  n: number,
  weights?: Weighting,
): Promise<
  {
    model: Model;
    requests: RecommendRequest[];
    users: number;
  }
> {
  const byUser = new Map<string, { item: string; event: string }[]>();
  async function* remember() {
    for await (const batch of readEventBatches(path)) {
      for (const e of batch) {
        const list = byUser.get(e.user);
        if (list) list.push(e);
        else byUser.set(e.user, [e]);
      }
      yield batch;
    }
  }
  const model = await buildIndicators(remember(), {
    primaryEvent: "transaction",
    ...(weights ? { weights } : {}),
  });
  const rnd = mulberry32(5);
  const heavy = [...byUser.values()].filter((l) =>
    new Set(l.map((e) => e.item)).size >= 20
  );
  const requests: RecommendRequest[] = Array.from({ length: n }, () => {
    const events = heavy[Math.floor(rnd() * heavy.length)];
    const history: Record<string, string[]> = {};
    const seen = new Set<string>();
    for (let i = events.length - 1; i >= 0 && seen.size < 20; i--) {
      const { item, event } = events[i];
      if (seen.has(item)) continue;
      seen.add(item);
      (history[event] ??= []).push(item);
    }
    return { history, num: 10 };
  });
  return { model, requests, users: heavy.length };
}

/**
 * A Markdown table of rows.
 *
 * @param header Column names.
 * @param cells Rows of cells.
 * @returns The table.
 */
export function table(header: string[], cells: string[][]): string {
  const widths = header.map((h, i) =>
    Math.max(h.length, ...cells.map((c) => c[i].length))
  );
  const line = (c: string[]) =>
    "| " + c.map((x, i) =>
      i ? x.padStart(widths[i]) : x.padEnd(widths[i])
    ).join(" | ") + " |";
  return [
    line(header),
    "|" + widths.map((w) => "-".repeat(w + 2)).join("|") + "|",
    ...cells.map(line),
  ].join("\n");
}
