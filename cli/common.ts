/**
 * Small helpers shared by the task entry points: flag parsing with `--help`,
 * one-line failures, and progress output on long work.
 *
 * @module
 */

import { isWeighting, WEIGHTINGS } from "../indicators/weights.ts";
import type { Weighting } from "../model/manifest.ts";
import { ConfigError, messageOf } from "../errors/mod.ts";
import { parseArgs, type ParseArgsConfig } from "node:util";

/**
 * Parses `Deno.args` with `node:util` parseArgs; prints `help` and exits 0
 * on `--help`/`-h`; turns unknown or malformed flags into a one-line error.
 *
 * @param options The flag specification.
 * @param help Usage text.
 * @param args Arguments (default `Deno.args`).
 * @returns The parsed values.
 */
// deno-lint-ignore explicit-module-boundary-types
export function parseFlags<T extends NonNullable<ParseArgsConfig["options"]>>(
  options: T,
  help: string,
  args: string[] = Deno.args,
) {
  if (args.includes("--help") || args.includes("-h")) {
    console.log(help.trim());
    Deno.exit(0);
  }
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false })
      .values;
  } catch (error) {
    throw new ConfigError("", `${messageOf(error)} (see --help)`);
  }
}

/**
 * Parses a non-negative number flag.
 *
 * @param name Flag name for the error message.
 * @param value Raw value.
 * @param integer Whether it must be an integer.
 * @returns The number, or `undefined` when absent.
 */
export function numberFlag(
  name: string,
  value: string | undefined,
  integer = true,
): number | undefined {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (
    value.trim() === "" || !Number.isFinite(n) ||
    (integer && !Number.isInteger(n))
  ) {
    throw new ConfigError(
      `--${name}`,
      `must be ${integer ? "an integer" : "a number"}, got "${value}"`,
    );
  }
  return n;
}

/**
 * Parses `--tune-budget`: a positive number of plain builds, or `none`
 * (no limit: every axis is searched).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tuneBudgetFlag } from "./common.ts";
 *
 * assert.equal(tuneBudgetFlag("2.5"), 2.5);
 * assert.equal(tuneBudgetFlag("none"), Infinity);
 * assert.equal(tuneBudgetFlag(undefined), undefined);
 * assert.throws(() => tuneBudgetFlag("0"), /--tune-budget must be a positive number or none/);
 * ```
 *
 * @param value Raw value.
 * @returns The budget, or `undefined` when absent.
 * @throws {ConfigError} Unless positive or `none`.
 */
export function tuneBudgetFlag(value: string | undefined): number | undefined {
  if (value === "none") return Infinity;
  const budget = numberFlag("tune-budget", value, false);
  if (budget !== undefined && !(budget > 0)) {
    throw new ConfigError("--tune-budget", "must be a positive number or none");
  }
  return budget;
}

/**
 * Parses a size flag: bytes, or a number with K, M, G or T (powers of
 * 1024, optionally followed by "iB" or "B").
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sizeFlag } from "./common.ts";
 *
 * assert.equal(sizeFlag("memory-budget", "2G"), 2 * 2 ** 30);
 * assert.equal(sizeFlag("memory-budget", "512MiB"), 512 * 2 ** 20);
 * assert.equal(sizeFlag("memory-budget", "1000"), 1000);
 * assert.throws(() => sizeFlag("memory-budget", "lots"), /--memory-budget must be a size/);
 * ```
 *
 * @param name Flag name for messages.
 * @param value Raw value.
 * @returns Bytes, or undefined when absent.
 */
export function sizeFlag(
  name: string,
  value: string | undefined,
): number | undefined {
  if (value === undefined) return undefined;
  const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value);
  const n = m
    ? Number(m[1]) * 1024 ** " kmgt".indexOf(m[2].toLowerCase() || " ")
    : NaN;
  if (!m || !(n >= 1)) {
    throw new ConfigError(
      `--${name}`,
      `must be a size such as 4G, 512M or a number of bytes, got "${value}"`,
    );
  }
  return Math.floor(n);
}

/**
 * Parses a `--weights` flag.
 *
 * @param value The flag's value, if given.
 * @returns The weighting, or undefined when the flag is absent.
 * @throws {ConfigError} For an unknown weighting.
 */
export function weightingFlag(
  value: string | undefined,
): Weighting | undefined {
  if (value === undefined) return undefined;
  if (!isWeighting(value)) {
    throw new ConfigError(
      "--weights",
      `must be one of ${WEIGHTINGS.join(", ")}, got "${value}"`,
    );
  }
  return value;
}

/**
 * Runs a task's main function: any error becomes `error: <one line>` on
 * stderr and exit code 1.
 *
 * @param main The task body.
 */
export async function run(main: () => Promise<void>): Promise<void> {
  try {
    await main();
  } catch (error) {
    console.error(`error: ${messageOf(error)}`);
    Deno.exit(1);
  }
}

/**
 * Wraps an async iterable and reports how many items passed (an array or
 * a batch with a `length` counts its elements) and the rate on stderr: an updating line on a
 * terminal, a line every 5 s otherwise.
 *
 * @param source Items to pass through.
 * @param label What is counted, e.g. "events".
 * @returns The same items.
 */
export async function* withProgress<T>(
  source: AsyncIterable<T> | Iterable<T>,
  label: string,
): AsyncGenerator<T> {
  const tty = Deno.stderr.isTerminal();
  const every = tty ? 250 : 5000;
  const t0 = performance.now();
  let last = t0;
  let n = 0;
  const line = () => {
    const s = (performance.now() - t0) / 1000;
    const rate = s > 0 ? Math.round(n / s) : 0;
    return `${label}: ${n.toLocaleString("en")} (${
      rate.toLocaleString("en")
    }/s, ${s.toFixed(1)} s)`;
  };
  const write = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  for await (const item of source) {
    const before = n;
    const length = (item as { length?: unknown })?.length;
    n += typeof length === "number" ? length : 1;
    if ((before ^ n) >> 14) {
      const now = performance.now();
      if (now - last >= every) {
        last = now;
        write(tty ? `\r${line()}` : `${line()}\n`);
      }
    }
    yield item;
  }
  write(tty ? `\r${line()}\n` : `${line()}\n`);
}

/** How a progress display shows its counts. */
export interface ProgressOptions {
  /** `"bytes"` shows MiB and MiB/s; default plain counts. */
  unit?: "count" | "bytes";
  /** Extra text after the counts, asked at each render (e.g. events read). */
  detail?: () => string;
}

/** No ETA before this much time has passed or this share is done. */
const ETA_AFTER_MS = 2000;
const ETA_AFTER_SHARE = 0.02;

/**
 * The ETA text of a progress display: empty until enough time has passed
 * and enough work is done for the rate to mean something (a first frame
 * never shows a wild ETA), then seconds left at the rate so far.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etaText } from "./common.ts";
 *
 * assert.equal(etaText(1, 1000, 50), ""); // too early
 * assert.equal(etaText(500, 1000, 5000), ", ETA 5.0 s");
 * assert.equal(etaText(100, 1000, 5000), ", ETA 45 s");
 * ```
 *
 * @param done Work done.
 * @param total Work in all.
 * @param millis Time spent so far.
 * @returns `", ETA N s"` or `""`.
 */
export function etaText(done: number, total: number, millis: number): string {
  if (
    millis < ETA_AFTER_MS || total <= 0 || done <= 0 ||
    done / total < ETA_AFTER_SHARE || done >= total
  ) return "";
  const eta = (total - done) / (done / millis) / 1000;
  return `, ETA ${eta < 10 ? eta.toFixed(1) : Math.round(eta)} s`;
}

/**
 * A progress display for work of known size: on a terminal an updating bar
 * with rate and ETA, otherwise a line every 5 s.
 *
 * @param label What is counted.
 * @param total How many there will be.
 * @param options Units and extra detail.
 * @returns `update(done)` and `done()`.
 */
export function progressBar(
  label: string,
  total: number,
  options: ProgressOptions = {},
): { update: (done: number) => void; done: () => void } {
  const tty = Deno.stderr.isTerminal();
  const t0 = performance.now();
  let last = t0;
  let current = 0;
  const bytes = options.unit === "bytes";
  const amount = (n: number) =>
    bytes
      ? `${(n / 2 ** 20).toFixed(n < 10 * 2 ** 20 ? 1 : 0)} MiB`
      : Math.round(n).toLocaleString("en");
  const write = (text: string) =>
    Deno.stderr.writeSync(new TextEncoder().encode(text));
  const render = () => {
    const millis = performance.now() - t0;
    const rate = millis > 0 ? current / (millis / 1000) : 0;
    const share = total > 0 ? Math.min(1, current / total) : 1;
    const bar = tty
      ? `[${"#".repeat(Math.round(share * 30)).padEnd(30)}] `
      : "";
    const detail = options.detail ? `, ${options.detail()}` : "";
    return `${bar}${label} ${amount(current)}/${amount(total)} (${
      (share * 100).toFixed(0)
    }%, ${amount(rate)}/s${detail}${etaText(current, total, millis)})`;
  };
  return {
    update(done: number) {
      current = done;
      const now = performance.now();
      if (now - last < (tty ? 200 : 5000)) return;
      last = now;
      write(tty ? `\r\x1b[K${render()}` : `${render()}\n`);
    },
    done() {
      write(tty ? `\r\x1b[K${render()}\n` : `${render()}\n`);
    },
  };
}
