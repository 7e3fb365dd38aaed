/**
 * `cco`: every cco-es command in one program, from a clone
 * (`deno task <command>`), from the published package without one
 * (`deno run -A jsr:@cco/recommender/cli <command>`), or as one binary
 * (`deno compile -A -o cco cli/main.ts`).
 *
 * ```sh
 * cco build-index --events events.csv.gz --out model.ndjson.gz --json
 * cco serve --indicators model.ndjson.gz --port 8000
 * cco recommend --indicators model.ndjson.gz --history 355908 --json
 * cco eval --events events.csv.gz --protocol last-k
 * cco index list --alias shop --json
 * cco es start
 * cco --version
 * ```
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { COMMANDS, usage } from "./main.ts";
 *
 * assert.deepEqual(Object.keys(COMMANDS), [
 *   "build-index", "serve", "recommend", "eval", "index", "es", "demo", "generate",
 * ]);
 * assert.match(usage(), /^cco-es \d+\.\d+\.\d+/);
 * ```
 *
 * @module
 */

import { TOOL_VERSION } from "../model/manifest.ts";
import { ConfigError } from "../errors/mod.ts";
import { run } from "./common.ts";

/** One subcommand: what it does, and how to run it (loaded on demand). */
export interface Command {
  /** One line for the usage text. */
  summary: string;
  /** Runs the command with the arguments after its name. */
  run: (args: string[]) => Promise<void>;
}

/** The subcommands of `cco`, in the order the usage lists them. */
export const COMMANDS: Readonly<Record<string, Command>> = {
  "build-index": {
    summary:
      "read events, build the indicators, publish to Elasticsearch and/or write NDJSON",
    run: async (args) =>
      (await import("./build_index.ts")).buildIndexCommand(args),
  },
  serve: {
    summary: "the HTTP service over Elasticsearch or an exported model",
    run: async (args) => (await import("./serve.ts")).serveCommand(args),
  },
  recommend: {
    summary: "recommendations for one history or request",
    run: async (args) =>
      (await import("./recommend.ts")).recommendCommand(args),
  },
  eval: {
    summary: "offline evaluation against baselines, with a report",
    run: async (args) => (await import("./eval.ts")).evalCommand(args),
  },
  index: {
    summary: "list | rollback | templates: the indices behind an alias",
    run: async (args) => (await import("./index_admin.ts")).indexCommand(args),
  },
  es: {
    summary: "start | stop | status: a local development Elasticsearch",
    run: async (args) => (await import("./es.ts")).esCommand(args),
  },
  demo: {
    summary: "the whole pipeline on the bundled shop log",
    run: async (args) => (await import("./demo.ts")).demoCommand(args),
  },
  generate: {
    summary: "a deterministic RetailRocket-shaped event log",
    run: async (args) => (await import("./generate.ts")).generateCommand(args),
  },
};

/**
 * The usage text: the version, then one line per command.
 *
 * @returns The text.
 */
export function usage(): string {
  const width = Math.max(...Object.keys(COMMANDS).map((c) => c.length));
  return [
    `cco-es ${TOOL_VERSION}: correlated cross-occurrence recommendations`,
    "",
    "usage: cco <command> [options]   (cco <command> --help for its options)",
    "",
    ...Object.entries(COMMANDS).map(([name, c]) =>
      `  ${name.padEnd(width)}  ${c.summary}`
    ),
    "",
    "  --version  print the version",
    "  --help     this text",
  ].join("\n");
}

/**
 * Runs `cco` with command-line arguments: a command name, then its own.
 *
 * @example
 * ```ts ignore
 * import { main } from "./main.ts";
 *
 * await main(["recommend", "--indicators", "model.ndjson", "--history", "a,b"]);
 * ```
 *
 * @param args The arguments (e.g. `Deno.args`).
 * @throws {ConfigError} For an unknown command.
 */
export async function main(args: string[]): Promise<void> {
  const [name, ...rest] = args;
  if (name === "--version" || name === "-V" || name === "version") {
    console.log(`cco-es ${TOOL_VERSION}`);
    return;
  }
  if (name === undefined || name === "--help" || name === "-h") {
    console.log(usage());
    return;
  }
  const command = Object.hasOwn(COMMANDS, name) ? COMMANDS[name] : undefined;
  if (!command) {
    throw new ConfigError(
      "",
      `unknown command "${name}" (commands: ${
        Object.keys(COMMANDS).join(", ")
      }; see cco --help)`,
    );
  }
  await command.run(rest);
}

if (import.meta.main) await run(() => main(Deno.args));
