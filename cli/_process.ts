/**
 * When a long-running task (`serve`) should stop: on SIGTERM or SIGINT, or
 * when the launcher that started it goes away. `npx deno task serve`
 * runs `npm exec` → `sh` → `deno task` → `deno run`; killing `npx` ends
 * `sh` but neither `deno` process, which left a server running with no
 * one to stop it.
 *
 * The launcher chain is the parent and its ancestors as long as they are
 * launchers (`deno`, `node`, `npm`, `npx`, `sh`); if any of them exits,
 * the task stops. A parent that is not a launcher (a login shell, systemd,
 * `nohup`) is not watched. The chain is read from `/proc`, which Deno lets
 * only `--allow-all` processes read. Without it, a task started by a task
 * runner (`deno task` or npm, which set `INIT_CWD`) watches its parent
 * only: it stops when the runner exits (its parent process id changes),
 * but a dead `npx` above a live `deno task` then goes unnoticed.
 *
 * @module
 */

const LAUNCHER = /^(deno|node|npm|npx|sh|dash)$|^npm |^npx /;

function env(name: string): string | undefined {
  try {
    return Deno.env.get(name);
  } catch {
    return undefined;
  }
}

/** A process of the launcher chain, as `/proc/<pid>/stat` gives it. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Command name. */
  comm: string;
  /** State letter (`Z`: exited, not yet reaped). */
  state: string;
  /** Parent process id. */
  ppid: number;
  /** Start time in clock ticks since boot (tells a reused pid apart). */
  start: number;
}

/**
 * Reads `/proc/<pid>/stat`; `undefined` when the process is gone or
 * `/proc` cannot be read.
 *
 * @param pid Process id.
 * @returns The process, if it runs.
 */
export function processInfo(pid: number): ProcessInfo | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ...": comm may hold spaces and parentheses
  const open = text.indexOf("(");
  const close = text.lastIndexOf(")");
  if (open < 0 || close < open) return undefined;
  const rest = text.slice(close + 2).split(" ");
  return {
    pid,
    comm: text.slice(open + 1, close),
    state: rest[0],
    ppid: Number(rest[1]),
    start: Number(rest[19]),
  };
}

/**
 * The launcher chain of this process: its parent and the ancestors above
 * it, as long as each is a launcher.
 *
 * @param from The first process to look at (default this process's parent).
 * @returns The chain, nearest first (empty when the parent is no launcher,
 * or `/proc` cannot be read).
 */
export function launcherChain(from: number = Deno.ppid): ProcessInfo[] {
  const chain: ProcessInfo[] = [];
  for (let pid = from; pid > 1 && chain.length < 8;) {
    const info = processInfo(pid);
    if (!info || !LAUNCHER.test(info.comm)) break;
    chain.push(info);
    pid = info.ppid;
  }
  return chain;
}

/** A stop signal and how to stop listening for it. */
export interface StopSignal {
  /** Aborted with the reason (a message) when the task should stop. */
  signal: AbortSignal;
  /** What is watched besides the signals, for the log. */
  watching: string;
  /** Removes the signal listeners and the launcher watch. */
  dispose(): void;
}

/**
 * An `AbortSignal` aborted on SIGTERM or SIGINT, or when the launcher
 * exits (see the module documentation). A second SIGTERM or SIGINT exits
 * at once (130).
 *
 * @param options How often the launcher is checked (default 1000 ms).
 * @returns The signal.
 */
export function stopSignal(options: { pollMs?: number } = {}): StopSignal {
  const controller = new AbortController();
  const stop = (reason: string) => {
    if (controller.signal.aborted) Deno.exit(130);
    controller.abort(reason);
  };
  const onTerm = () => stop("SIGTERM");
  const onInt = () => stop("SIGINT");
  Deno.addSignalListener("SIGTERM", onTerm);
  Deno.addSignalListener("SIGINT", onInt);
  const pollMs = options.pollMs ?? 1000;
  const chain = launcherChain();
  const parent = Deno.ppid;
  let timer: ReturnType<typeof setInterval> | undefined;
  let watching = "signals";
  const gone = (reason: string) => {
    clearInterval(timer);
    if (!controller.signal.aborted) controller.abort(reason);
  };
  if (chain.length > 0) {
    watching = `the launchers ${
      chain.map((p) => `${p.comm} (${p.pid})`).join(", ")
    }`;
    timer = setInterval(() => {
      for (const p of chain) {
        const now = processInfo(p.pid);
        if (!now || now.start !== p.start || now.state === "Z") {
          return gone(`the launcher (${p.comm}, pid ${p.pid}) exited`);
        }
      }
    }, pollMs);
  } else if (
    parent > 1 && processInfo(parent) === undefined &&
    env("INIT_CWD") !== undefined
  ) {
    // no /proc: a task runner's child watches its parent id
    watching = `the task runner (pid ${parent})`;
    timer = setInterval(() => {
      if (Deno.ppid !== parent) {
        gone(`the task runner (pid ${parent}) exited`);
      }
    }, pollMs);
  }
  return {
    signal: controller.signal,
    watching,
    dispose() {
      clearInterval(timer);
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGINT", onInt);
    },
  };
}
