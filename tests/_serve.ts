/**
 * Runs `cco serve` (`cli/main.ts serve`) as a child process with the
 * permissions of its deno task, optionally under a file-descriptor limit, and waits for it to say
 * where it listens.
 *
 * @module
 */

import { root, taskPermissions } from "./_cli.ts";

/** How the deno task runs `cco <command>`: its permissions, main.ts, the command. */
export function taskCommand(command: string): string[] {
  return [...taskPermissions(command), `${root}cli/main.ts`, command];
}

/** A running `serve`. */
export interface ServeProcess {
  /** `http://127.0.0.1:<port>`. */
  base: string;
  /** Its process id. */
  pid: number;
  /** Its stderr so far. */
  stderr(): string;
  /** Its exit status, once it exits. */
  status: Promise<Deno.CommandStatus>;
  /** Sends a signal and waits for the exit. */
  stop(signal?: Deno.Signal): Promise<Deno.CommandStatus>;
}

/**
 * Starts `serve` with `args` and waits until it listens.
 *
 * @param args Arguments (`--port 0` is added).
 * @param options Environment, and an open-file limit (`ulimit -n`).
 * @returns The process.
 */
export async function startServe(
  args: string[],
  options: { env?: Record<string, string>; nofile?: number } = {},
): Promise<ServeProcess> {
  const deno = [
    Deno.execPath(),
    "run",
    ...taskCommand("serve"),
    "--port",
    "0",
    ...args,
  ];
  // `ulimit -n` through sh: POSIX, present wherever the tests run
  const [cmd, ...rest] = options.nofile
    ? ["sh", "-c", `ulimit -n ${options.nofile} && exec "$@"`, "sh", ...deno]
    : deno;
  const child = new Deno.Command(cmd, {
    args: rest,
    cwd: root,
    env: { NO_COLOR: "1", CCO_CONFIG: "", ...options.env },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  let err = "";
  const errDone = (async () => {
    for await (
      const chunk of child.stderr.pipeThrough(new TextDecoderStream())
    ) {
      err += chunk;
    }
  })();
  const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
  let out = "";
  while (!/ on http:\/\/[\d.]+:\d+/.test(out)) {
    const { value, done } = await reader.read();
    if (done) break;
    out += value;
  }
  const outDone = (async () => {
    for (;;) {
      const { done } = await reader.read();
      if (done) break;
    }
  })();
  const status = child.status.then(async (s) => {
    await Promise.all([errDone, outDone]);
    return s;
  });
  const base = / on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1];
  if (!base) {
    await status;
    throw new Error(`serve did not start: ${out}${err}`);
  }
  return {
    base,
    pid: child.pid,
    stderr: () => err,
    status,
    async stop(signal: Deno.Signal = "SIGTERM") {
      try {
        child.kill(signal);
      } catch {
        // already gone
      }
      return await status;
    },
  };
}
