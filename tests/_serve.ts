/**
 * Runs `cco serve` (`cli/main.ts serve`) as a child process with the
 * permissions of its deno task, optionally under a file-descriptor limit, and waits for it to say
 * where it listens.
 *
 * @module
 */

const root = new URL("..", import.meta.url).pathname;
const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));

/** The `cco` command of each cli/ module. */
const COMMAND_OF: Record<string, string> = {
  "build_index.ts": "build-index",
  "recommend.ts": "recommend",
  "serve.ts": "serve",
};

/** How the deno task runs `cli/<script>`: its permissions and the `cco` command. */
export function taskCommand(script: string): string[] {
  const command = COMMAND_OF[script];
  const line = Object.values(config.tasks as Record<string, string>)
    .find((t) => new RegExp(`cli/main\\.ts ${command}(\\s|$)`).test(t))!;
  return [
    ...line.split(/\s+/).filter((w) => w.startsWith("--allow") || w === "-A"),
    `${root}cli/main.ts`,
    command,
  ];
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
    ...taskCommand("serve.ts"),
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

/**
 * Runs a CLI script to completion.
 *
 * @param script `cli/<script>`.
 * @param args Its arguments.
 * @param env Environment.
 * @returns Exit code and output.
 */
export async function runCli(
  script: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<{ code: number; stdout: string; stderr: string; millis: number }> {
  const t0 = performance.now();
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...taskCommand(script), ...args],
    cwd: root,
    env: { NO_COLOR: "1", ES_URL: "", CCO_CONFIG: "", ...env },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
    millis: performance.now() - t0,
  };
}
