/**
 * When a long-running task (`serve`) should stop: on SIGTERM or SIGINT, or
 * when the launcher that started it goes away. `npx deno task serve`
 * runs `npm exec` → `sh` → `deno task` → `deno run`; killing `npx` ends
 * `sh` but neither `deno` process, which left a server running with no
 * one to stop it. The launcher chain is the parent and its ancestors as
 * long as they are launchers (`deno`, `node`, `npm`, `npx`, `sh`); if any
 * of them exits, the task stops. A parent that is not a launcher (a login
 * shell, systemd, `nohup`) is not watched. Linux only (`/proc`); elsewhere
 * only the signals apply.
 *
 * @module
 */

const LAUNCHER = /^(deno|node|npm|npx|sh|dash)$|^npm |^npx /;

/** A process of the launcher chain, as `/proc/<pid>/stat` gives it. */
export interface ProcessInfo {
  /** Process id. */
  pid: number;
  /** Command name. */
  comm: string;
  /** Parent process id. */
  ppid: number;
  /** Start time in clock ticks since boot (tells a reused pid apart). */
  start: number;
  /** State letter (`Z`: exited, not yet reaped). */
  state: string;
}

/**
 * Reads `/proc/<pid>/stat`; `undefined` when the process is gone or
 * `/proc` is not there.
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
 * @returns The chain, nearest first (empty when the parent is no launcher).
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
  /** Removes the signal listeners and the launcher watch. */
  dispose(): void;
}

/**
 * An `AbortSignal` aborted on SIGTERM or SIGINT, or when a process of the
 * launcher chain exits. A second SIGTERM or SIGINT exits at once (130).
 *
 * @param options How often the launcher chain is checked (default 1000 ms).
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
  const chain = launcherChain();
  const timer = chain.length === 0 ? undefined : setInterval(() => {
    for (const p of chain) {
      const now = processInfo(p.pid);
      if (!now || now.start !== p.start || now.state === "Z") {
        clearInterval(timer);
        if (!controller.signal.aborted) {
          controller.abort(
            `the launcher (${p.comm}, pid ${p.pid}) exited`,
          );
        }
        return;
      }
    }
  }, options.pollMs ?? 1000);
  return {
    signal: controller.signal,
    dispose() {
      clearInterval(timer);
      Deno.removeSignalListener("SIGTERM", onTerm);
      Deno.removeSignalListener("SIGINT", onInt);
    },
  };
}
