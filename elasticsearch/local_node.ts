/**
 * A local single-node Elasticsearch for development, tests and benchmarks.
 *
 * Fetches the official integ-test distribution from Maven Central with
 * `mvn dependency:copy` into a download cache outside the repository
 * (`$CCO_ES_CACHE`, else `$XDG_CACHE_HOME/cco-es`, else `~/.cache/cco-es`),
 * unpacks it, and runs one node bound to 127.0.0.1 on a free port with the
 * machine's JDK (17+), security off. Elasticsearch refuses to run as root,
 * so when invoked as root the node runs as the system user `cco-es`
 * (created when missing) from `/var/tmp/cco-es`. A started node is reused
 * until {@linkcode stopLocalNode}.
 *
 * Environment: `CCO_ES_HEAP` (default `1g`), `CCO_ES_CACHE`, `JAVA_HOME`.
 *
 * @example
 * ```ts ignore
 * import { startLocalNode, stopLocalNode } from "./local_node.ts";
 *
 * const { url, reused } = await startLocalNode();
 * // ... use url ...
 * if (!reused) await stopLocalNode();
 * ```
 *
 * @module
 */

/** The Elasticsearch version run locally (newest 8.19.x on Maven Central). */
export const ES_VERSION = "8.19.21";
/** Maven coordinates of the distribution. */
export const ES_ARTIFACT =
  `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip`;
const RUN_USER = "cco-es";

/** What a running local node looks like. */
export interface LocalNode {
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** HTTP port. */
  port: number;
  /** Process id of the node. */
  pid: number;
  /** Elasticsearch version. */
  version: string;
  /** True when an already running node was reused. */
  reused: boolean;
}

interface Paths {
  cache: string;
  zip: string;
  run: string;
  install: string;
  node: string;
  state: string;
  asRoot: boolean;
}

/** Options naming and configuring a local node. */
export interface NodeOptions {
  /**
   * Node name: each name is a separate node with its own data and state
   * (default `"dev"`).
   */
  name?: string;
  /**
   * Turn security on (HTTP without TLS, on loopback only) with this
   * file-realm superuser; requests then need these credentials.
   */
  user?: { username: string; password: string };
}

function paths(name = "dev"): Paths {
  const env = (k: string) => Deno.env.get(k) || undefined;
  const home = env("HOME") ?? "/tmp";
  const cache = env("CCO_ES_CACHE") ??
    `${env("XDG_CACHE_HOME") ?? `${home}/.cache`}/cco-es`;
  const asRoot = Deno.uid() === 0;
  // root's home is private: the node user needs a directory it can reach
  const run = asRoot ? "/var/tmp/cco-es" : cache;
  const node = `${run}/node-${ES_VERSION}${name === "dev" ? "" : `-${name}`}`;
  return {
    cache,
    zip: `${cache}/elasticsearch-${ES_VERSION}.zip`,
    run,
    install: `${run}/elasticsearch-${ES_VERSION}`,
    node,
    state: `${node}/state.json`,
    asRoot,
  };
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

async function sh(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; what: string },
): Promise<string> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(cmd, { args, env: options.env }).output();
  } catch (error) {
    throw new Error(
      `${options.what}: cannot run ${cmd}: ${(error as Error).message}`,
    );
  }
  const text = new TextDecoder().decode(out.stdout) +
    new TextDecoder().decode(out.stderr);
  if (!out.success) {
    const tail = text.trim().split("\n").slice(-5).join(" | ");
    throw new Error(
      `${options.what} failed (${cmd} exit ${out.code}): ${tail}`,
    );
  }
  return text;
}

function log(message: string) {
  console.error(`[es] ${message}`);
}

function authHeaders(
  user?: { username: string; password: string },
): Record<string, string> {
  return user
    ? { authorization: `Basic ${btoa(`${user.username}:${user.password}`)}` }
    : {};
}

async function answers(
  url: string,
  user?: { username: string; password: string },
): Promise<boolean> {
  try {
    // not `GET /`: the integ-test distribution lacks the rest-root module
    const res = await fetch(`${url}/_cluster/health`, {
      signal: AbortSignal.timeout(2000),
      headers: authHeaders(user),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function alive(pid: number): boolean {
  try {
    Deno.kill(pid, "SIGCONT");
    return true;
  } catch {
    return false;
  }
}

async function readState(
  p: Paths,
): Promise<Omit<LocalNode, "reused"> | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(p.state));
  } catch {
    return undefined;
  }
}

/**
 * The running local node, if any.
 *
 * @example
 * ```ts ignore
 * import { localNodeStatus } from "./local_node.ts";
 *
 * (await localNodeStatus())?.url;
 * ```
 *
 * @returns The node, or `undefined` when none answers.
 */
export async function localNodeStatus(
  options: NodeOptions = {},
): Promise<LocalNode | undefined> {
  const state = await readState(paths(options.name));
  if (state && alive(state.pid) && await answers(state.url, options.user)) {
    return { ...state, reused: true };
  }
  return undefined;
}

function freePort(): number {
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const { port } = listener.addr as Deno.NetAddr;
  listener.close();
  return port;
}

async function javaHome(): Promise<string> {
  const fromEnv = Deno.env.get("ES_JAVA_HOME") || Deno.env.get("JAVA_HOME");
  if (fromEnv && await exists(`${fromEnv}/bin/java`)) return fromEnv;
  const which = (await sh("sh", ["-c", 'readlink -f "$(command -v java)"'], {
    what: "finding java",
  })).trim();
  if (!which.endsWith("/bin/java")) {
    throw new Error("no Java found: install JDK 17+ or set JAVA_HOME");
  }
  return which.slice(0, -"/bin/java".length);
}

async function ensureDownloaded(p: Paths) {
  if (await exists(p.zip)) return;
  await Deno.mkdir(p.cache, { recursive: true });
  log(`downloading ${ES_ARTIFACT} from Maven Central ...`);
  await sh("mvn", [
    "-B",
    "-q",
    "org.apache.maven.plugins:maven-dependency-plugin:3.6.1:copy",
    `-Dartifact=${ES_ARTIFACT}`,
    `-DoutputDirectory=${p.cache}`,
  ], { what: "downloading Elasticsearch with mvn" });
  if (!await exists(p.zip)) {
    throw new Error(`mvn finished but ${p.zip} is missing`);
  }
}

async function ensureUnpacked(p: Paths) {
  if (await exists(`${p.install}/bin/elasticsearch`)) return;
  await Deno.mkdir(p.run, { recursive: true });
  log(`unpacking into ${p.run}`);
  const tmp = await Deno.makeTempDir({ dir: p.run, prefix: "unpack-" });
  try {
    await sh("unzip", ["-q", p.zip, "-d", tmp], { what: "unzip" });
  } catch {
    await sh("python3", ["-m", "zipfile", "-e", p.zip, tmp], {
      what: "unpacking with python3",
    });
    await sh("chmod", ["-R", "u+x", `${tmp}/elasticsearch-${ES_VERSION}/bin`], {
      what: "chmod",
    });
  }
  await Deno.rename(`${tmp}/elasticsearch-${ES_VERSION}`, p.install);
  await Deno.remove(tmp, { recursive: true });
}

async function ensureRunUser() {
  const ok = await new Deno.Command("id", { args: ["-u", RUN_USER] }).output();
  if (ok.success) return;
  log(
    `creating system user ${RUN_USER} (Elasticsearch refuses to run as root)`,
  );
  await sh("useradd", [
    "--system",
    "--no-create-home",
    "--shell",
    "/usr/sbin/nologin",
    RUN_USER,
  ], { what: `creating user ${RUN_USER}` });
}

/**
 * Starts the local node, or reuses the one already running.
 *
 * @example
 * ```ts ignore
 * import { startLocalNode } from "./local_node.ts";
 *
 * const node = await startLocalNode();
 * console.log(node.url);
 * ```
 *
 * @param options `timeoutMs` to wait for a healthy cluster (default 180 s).
 * @returns The running node.
 * @throws {Error} With the cause and the log's tail when it cannot start.
 */
export async function startLocalNode(
  options: NodeOptions & { timeoutMs?: number } = {},
): Promise<LocalNode> {
  const running = await localNodeStatus(options);
  if (running) return running;
  const p = paths(options.name);
  await ensureDownloaded(p);
  await ensureUnpacked(p);
  const java = await javaHome();

  // A fresh node directory each start: the dev node holds nothing to keep.
  await Deno.remove(p.node, { recursive: true }).catch(() => {});
  await Deno.mkdir(`${p.node}/data`, { recursive: true });
  await Deno.mkdir(`${p.node}/logs`, { recursive: true });
  await sh("cp", ["-r", `${p.install}/config`, `${p.node}/config`], {
    what: "copying config",
  });
  const port = freePort();
  const transport = freePort();
  await Deno.writeTextFile(
    `${p.node}/config/elasticsearch.yml`,
    [
      "cluster.name: cco-es-dev",
      "node.name: cco-es-dev-1",
      "discovery.type: single-node",
      "network.host: 127.0.0.1",
      `http.port: ${port}`,
      `transport.port: ${transport}`,
      `path.data: ${p.node}/data`,
      `path.logs: ${p.node}/logs`,
      ...(options.user
        ? [
          "xpack.security.enabled: true",
          "xpack.security.http.ssl.enabled: false",
          "xpack.security.transport.ssl.enabled: false",
        ]
        : ["xpack.security.enabled: false"]),
      "cluster.routing.allocation.disk.threshold_enabled: false",
      "action.destructive_requires_name: false",
      "",
    ].join("\n"),
  );
  const heap = Deno.env.get("CCO_ES_HEAP") || "1g";
  const env = {
    ES_JAVA_HOME: java,
    ES_PATH_CONF: `${p.node}/config`,
    ES_JAVA_OPTS: `-Xms${heap} -Xmx${heap}`,
    ES_TMPDIR: `${p.node}/tmp`,
  };
  await Deno.mkdir(env.ES_TMPDIR, { recursive: true });
  const pidFile = `${p.node}/pid`;
  if (options.user) {
    // a file-realm superuser, written before the node starts
    await Deno.writeTextFile(`${p.node}/config/users`, "");
    await Deno.writeTextFile(`${p.node}/config/users_roles`, "");
  }
  if (p.asRoot) {
    await ensureRunUser();
    await sh("chown", ["-R", `${RUN_USER}:`, p.run], { what: "chown" });
  }
  // Runs a command as the node's user (root cannot run Elasticsearch).
  const asRunUser = (command: string[], what: string) =>
    p.asRoot
      ? sh("runuser", [
        "-u",
        RUN_USER,
        "--",
        "env",
        ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...command,
      ], { what })
      : sh(command[0], command.slice(1), { env, what });
  if (options.user) {
    await asRunUser([
      `${p.install}/bin/elasticsearch-users`,
      "useradd",
      options.user.username,
      "-p",
      options.user.password,
      "-r",
      "superuser",
    ], "adding the file-realm user");
  }
  const url = `http://127.0.0.1:${port}`;
  const t0 = performance.now();
  log(`starting Elasticsearch ${ES_VERSION} on ${url} (heap ${heap}) ...`);
  try {
    await asRunUser(
      [`${p.install}/bin/elasticsearch`, "-d", "-p", pidFile],
      "starting Elasticsearch",
    );
    await waitHealthy(url, options.timeoutMs ?? 180_000, options.user);
  } catch (error) {
    const tail = await logTail(p);
    throw new Error(`${(error as Error).message}${tail ? `\n${tail}` : ""}`);
  }
  const pid = Number((await Deno.readTextFile(pidFile)).trim());
  const node = { url, port, pid, version: ES_VERSION };
  await Deno.writeTextFile(p.state, JSON.stringify(node));
  log(
    `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${pid})`,
  );
  return { ...node, reused: false };
}

async function waitHealthy(
  url: string,
  timeoutMs: number,
  user?: { username: string; password: string },
) {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  while (Date.now() < deadline) {
    try {
      const res = await fetch(
        `${url}/_cluster/health?wait_for_status=yellow&timeout=5s`,
        { signal: AbortSignal.timeout(10_000), headers: authHeaders(user) },
      );
      const body = await res.json();
      if (res.ok && (body.status === "green" || body.status === "yellow")) {
        return;
      }
    } catch {
      // not listening yet
    }
    if (Date.now() - lastReport > 10_000) {
      lastReport = Date.now();
      log("still waiting for the cluster to be healthy ...");
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `Elasticsearch did not become healthy within ${timeoutMs / 1000} s`,
  );
}

async function logTail(p: Paths): Promise<string> {
  try {
    const text = await Deno.readTextFile(`${p.node}/logs/cco-es-dev.log`);
    return text.trim().split("\n").slice(-15).join("\n");
  } catch {
    return "";
  }
}

/**
 * Stops the local node started by {@linkcode startLocalNode}.
 *
 * @example
 * ```ts ignore
 * import { stopLocalNode } from "./local_node.ts";
 *
 * await stopLocalNode(); // true when a node was stopped
 * ```
 *
 * @returns Whether a node was running.
 */
export async function stopLocalNode(
  options: { name?: string } = {},
): Promise<boolean> {
  const state = await readState(paths(options.name));
  if (!state || !alive(state.pid)) return false;
  Deno.kill(state.pid, "SIGTERM");
  const deadline = Date.now() + 30_000;
  while (alive(state.pid) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
  }
  if (alive(state.pid)) Deno.kill(state.pid, "SIGKILL");
  await Deno.remove(paths(options.name).state).catch(() => {});
  return true;
}
