/**
 * Runs the command-line tool as a user runs it: a subprocess of
 * `cli/main.ts`, with the permissions its `deno task` gives it (so a
 * missing permission fails a test too), from the repository root, with no
 * colour, no `ES_URL` and no settings file unless a test passes them.
 *
 * @module
 */
import assert from "node:assert/strict";

/** What a finished command printed and how it exited. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** The repository root, ending in `/`. */
export const root: string = new URL("..", import.meta.url).pathname;

const tasks = JSON.parse(await Deno.readTextFile(`${root}deno.json`))
  .tasks as Record<string, string>;

/**
 * The permission flags of the deno.json task that runs
 * `cli/main.ts <command>`; fails the test when no task runs it.
 */
export function taskPermissions(command: string): string[] {
  const line = Object.values(tasks)
    .find((t) => new RegExp(`cli/main\\.ts ${command}(\\s|$)`).test(t));
  assert.ok(line, `no task in deno.json runs cli/main.ts ${command}`);
  return line.split(/\s+/).filter((w) => w.startsWith("--allow") || w === "-A");
}

/** `deno run <permissions> cli/main.ts ...args`, with `env` added. */
export async function runCli(
  args: string[],
  env: Record<string, string> = {},
  permissions: string[] = ["-A"],
): Promise<CliRun> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, `${root}cli/main.ts`, ...args],
    cwd: root,
    env: { NO_COLOR: "1", ES_URL: "", CCO_CONFIG: "", ...env },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

/** `cco <command> ...args` with the permissions of its deno task. */
export function runTask(
  command: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<CliRun> {
  return runCli([command, ...args], env, taskPermissions(command));
}
