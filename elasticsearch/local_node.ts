/**
 * A local Elasticsearch for development, tests and benchmarks: one node, or
 * a cluster of several nodes on 127.0.0.1.
 *
 * Fetches the official integ-test distribution from Maven Central with
 * `mvn dependency:copy` into a download cache outside the repository
 * (`$CCO_ES_CACHE`, else `$XDG_CACHE_HOME/cco-es`, else `~/.cache/cco-es`),
 * unpacks it, and runs its nodes bound to 127.0.0.1 on free ports with the
 * machine's JDK (17+), security off. Elasticsearch refuses to run as root,
 * so when invoked as root the nodes run as the system user `cco-es`
 * (created when missing) from `/var/tmp/cco-es`.
 *
 * Nodes belong to the checkout that started them and to the invoking user:
 * their data and state live under a directory keyed by both
 * (`<run dir>/checkouts/<checkout name>-<hash>/<name>/`), and the state
 * records the owner. `startLocalNode` in another checkout therefore starts
 * its own nodes instead of reusing these, and `stopLocalNode` there stops
 * nothing of ours. The checkout is the project root this module lives in
 * (or the working directory when the module was imported over the network).
 *
 * With `nodes > 1` the nodes form one cluster: each lists every node's
 * transport port in `discovery.seed_hosts` and every node's name in
 * `cluster.initial_master_nodes`, and all are master-eligible data nodes.
 * {@linkcode killLocalNode} and {@linkcode restartLocalNode} take one node
 * down and bring it back, for failure tests.
 *
 * Environment: `CCO_ES_HEAP` (default `1g` for one node, `512m` per node
 * for more), `CCO_ES_JAVA_OPTS` (extra JVM options), `CCO_ES_CACHE`,
 * `JAVA_HOME`.
 *
 * @example
 * ```ts ignore
 * import { startLocalNode, stopLocalNode } from "./local_node.ts";
 *
 * const cluster = await startLocalNode({ name: "three", nodes: 3 });
 * // ... new Client({ nodes: cluster.urls }) ...
 * if (!cluster.reused) await stopLocalNode({ name: "three" });
 * ```
 *
 * @module
 */

// No imports: tests/local_node_test.ts copies this file into another
// directory to play "another checkout".

/** The Elasticsearch version run locally (newest 8.19.x on Maven Central). */
export const ES_VERSION = "8.19.21";
/** Maven coordinates of the distribution. */
export const ES_ARTIFACT =
  `org.elasticsearch.distribution.integ-test-zip:elasticsearch:${ES_VERSION}:zip`;
const RUN_USER = "cco-es";

/** Who started a local node: the invoking user and the checkout. */
export interface NodeOwner {
  /** User id of the process that started it. */
  uid: number;
  /** Absolute path of the checkout (project root) that started it. */
  checkout: string;
}

/** One node process of a local cluster. */
export interface LocalNodeProcess {
  /** Node name (`<cluster name>-<n>`). */
  name: string;
  /** Base URL, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** HTTP port. */
  port: number;
  /** Transport port (node-to-node). */
  transportPort: number;
  /** Process id (of the last start). */
  pid: number;
  /** Whether the process is alive (as seen by {@linkcode localNodeStatus}). */
  running: boolean;
}

/** What a running local node (or cluster) looks like. */
export interface LocalNode {
  /** Base URL of the first node, e.g. `http://127.0.0.1:41234`. */
  url: string;
  /** Every node's URL, for a client's node list. */
  urls: string[];
  /** HTTP port of the first node. */
  port: number;
  /** Process id of the first node. */
  pid: number;
  /** Elasticsearch version. */
  version: string;
  /** Local name of the cluster (default `dev`). */
  name: string;
  /** The nodes, first to last. */
  nodes: LocalNodeProcess[];
  /** Heap per node, e.g. `512m`. */
  heap: string;
  /** Who started it. */
  owner: NodeOwner;
  /** True when an already running node was reused. */
  reused: boolean;
}

interface Paths {
  cache: string;
  zip: string;
  run: string;
  install: string;
  /** The cluster's directory: state.json and one directory per node. */
  cluster: string;
  state: string;
  clusterName: string;
  owner: NodeOwner;
  asRoot: boolean;
}

interface State {
  version: string;
  name: string;
  clusterName: string;
  heap: string;
  javaOpts: string;
  owner: NodeOwner;
  security: boolean;
  nodes: Omit<LocalNodeProcess, "running">[];
}

/** Options naming a local node or cluster. */
export interface NodeOptions {
  /**
   * Local name: each name is a separate node or cluster with its own data
   * and state (default `"dev"`).
   */
  name?: string;
  /**
   * The checkout the nodes belong to (default: the project root of this
   * module, else the working directory).
   */
  checkout?: string;
  /**
   * Turn security on (HTTP without TLS, on loopback only) with this
   * file-realm superuser; requests then need these credentials.
   */
  user?: { username: string; password: string };
}

/** Options of {@linkcode startLocalNode}. */
export interface StartOptions extends NodeOptions {
  /**
   * Nodes forming the cluster (default: as many as the running cluster of
   * that name has, else 1).
   */
  nodes?: number;
  /** Heap per node (default `$CCO_ES_HEAP`, else `1g` for one node, `512m` for more). */
  heap?: string;
  /**
   * Extra JVM options of every node (default `$CCO_ES_JAVA_OPTS`), e.g.
   * `-XX:TieredStopAtLevel=1`: half the CPU to start (tests), slower
   * queries (not for benchmarks).
   */
  javaOpts?: string;
  /** How long to wait for a healthy cluster (default 180 s). */
  timeoutMs?: number;
}

const VALID_NAME = /^[a-z0-9][a-z0-9_-]{0,40}$/;

function defaultCheckout(): string {
  const here = new URL("..", import.meta.url);
  return here.protocol === "file:" ? here.pathname : Deno.cwd();
}

async function paths(options: NodeOptions): Promise<Paths> {
  const name = options.name ?? "dev";
  if (!VALID_NAME.test(name)) {
    throw new Error(
      `invalid local node name "${name}": use lower-case letters, digits, _ and -`,
    );
  }
  const env = (k: string) => Deno.env.get(k) || undefined;
  const home = env("HOME") ?? "/tmp";
  const cache = env("CCO_ES_CACHE") ??
    `${env("XDG_CACHE_HOME") ?? `${home}/.cache`}/cco-es`;
  const asRoot = Deno.uid() === 0;
  // root's home is private: the node user needs a directory it can reach
  const run = asRoot ? "/var/tmp/cco-es" : cache;
  const given = options.checkout ?? defaultCheckout();
  const checkout = await Deno.realPath(given).catch(() => given);
  const owner: NodeOwner = { uid: Deno.uid() ?? -1, checkout };
  const digest = new Uint8Array(
    await crypto.subtle.digest(
      "SHA-256",
      new TextEncoder().encode(`${owner.uid}\0${checkout}`),
    ),
  );
  const hash = [...digest.slice(0, 4)]
    .map((b) => b.toString(16).padStart(2, "0")).join("");
  const base = (checkout.replace(/\/+$/, "").split("/").pop() || "root")
    .toLowerCase().replace(/[^a-z0-9_-]/g, "_").slice(0, 40);
  const cluster = `${run}/checkouts/${base}-${hash}/${name}`;
  return {
    cache,
    zip: `${cache}/elasticsearch-${ES_VERSION}.zip`,
    run,
    install: `${run}/elasticsearch-${ES_VERSION}`,
    cluster,
    state: `${cluster}/state.json`,
    clusterName: `cco-es-${name}-${hash}`,
    owner,
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
    // not `GET /`: the integ-test distribution lacks the rest-root module;
    // not the cluster's health: a node answers even without a master
    const res = await fetch(`${url}/_nodes/_local?filter_path=nodes.*.name`, {
      signal: AbortSignal.timeout(2000),
      headers: authHeaders(user),
    });
    await res.body?.cancel();
    return res.ok;
  } catch {
    return false;
  }
}

function nodeDir(p: Paths, index: number): string {
  return `${p.cluster}/node-${index + 1}`;
}

/**
 * Whether `pid` is alive and is this node's process: its command line names
 * the node's temporary directory (so a pid reused by another process after a
 * reboot is never signalled). Without `/proc`, liveness alone.
 */
async function isNodeProcess(pid: number, dir: string): Promise<boolean> {
  try {
    Deno.kill(pid, "SIGCONT");
  } catch {
    return false;
  }
  try {
    const cmdline = await Deno.readTextFile(`/proc/${pid}/cmdline`);
    return cmdline.includes(`${dir}/tmp`);
  } catch (error) {
    return !(error instanceof Deno.errors.NotFound) ||
      !(await exists("/proc/self"));
  }
}

function sameOwner(a: NodeOwner | undefined, b: NodeOwner): boolean {
  return a !== undefined && a.uid === b.uid && a.checkout === b.checkout;
}

async function readState(p: Paths): Promise<State | undefined> {
  try {
    const state = JSON.parse(await Deno.readTextFile(p.state)) as State;
    // a state someone else wrote (or an older layout) is not ours
    if (!sameOwner(state.owner, p.owner) || !Array.isArray(state.nodes)) {
      return undefined;
    }
    return state;
  } catch {
    return undefined;
  }
}

async function describe(
  p: Paths,
  state: State,
  reused: boolean,
): Promise<LocalNode> {
  const nodes = await Promise.all(state.nodes.map(async (n, i) => ({
    ...n,
    running: await isNodeProcess(n.pid, nodeDir(p, i)),
  })));
  return {
    url: nodes[0].url,
    urls: nodes.map((n) => n.url),
    port: nodes[0].port,
    pid: nodes[0].pid,
    version: state.version,
    name: state.name,
    nodes,
    heap: state.heap,
    owner: state.owner,
    reused,
  };
}

/**
 * The running local node or cluster of this checkout and user, if any.
 *
 * @example
 * ```ts ignore
 * import { localNodeStatus } from "./local_node.ts";
 *
 * const node = await localNodeStatus();
 * node?.urls; // ["http://127.0.0.1:41234"]
 * ```
 *
 * @param options The name (default `dev`) and checkout.
 * @returns The cluster, or `undefined` when none of its nodes runs and
 * answers. Nodes that are down are listed with `running: false`.
 */
export async function localNodeStatus(
  options: NodeOptions = {},
): Promise<LocalNode | undefined> {
  const p = await paths(options);
  const state = await readState(p);
  if (!state) return undefined;
  const node = await describe(p, state, true);
  for (const n of node.nodes) {
    if (n.running && await answers(n.url, options.user)) return node;
  }
  return undefined;
}

/**
 * The range the kernel draws ephemeral ports from (outgoing connections
 * and binds to port 0): Linux's `ip_local_port_range`, else the IANA range.
 */
async function ephemeralRange(): Promise<[number, number]> {
  try {
    const [lo, hi] = (await Deno.readTextFile(
      "/proc/sys/net/ipv4/ip_local_port_range",
    )).trim().split(/\s+/).map(Number);
    if (Number.isInteger(lo) && Number.isInteger(hi)) return [lo, hi];
  } catch {
    // not Linux
  }
  return [49152, 65535];
}

/**
 * `count` distinct ports, free on 127.0.0.1 now, for nodes to bind later.
 *
 * They are drawn at random below the kernel's ephemeral range. A port the
 * kernel hands out (as a bind to port 0 would give) can be taken, before
 * the node binds it, by any outgoing connection of this machine: the other
 * nodes dialling their seed hosts, or tests talking to another node. That
 * made a node of a starting cluster die with "address already in use".
 * Falls back to kernel-assigned ports when the range leaves no room.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { freePorts } from "./local_node.ts";
 *
 * const ports = await freePorts(6);
 * assert.equal(new Set(ports).size, 6);
 * ```
 *
 * @param count How many ports.
 * @returns Distinct ports, each bindable on 127.0.0.1 when returned.
 */
export async function freePorts(count: number): Promise<number[]> {
  const [ephemeralLow] = await ephemeralRange();
  const low = 10_000;
  const high = Math.min(ephemeralLow, 65536) - 1;
  const ports = new Set<number>();
  for (let tries = 0; ports.size < count && tries < 1000; tries++) {
    const port = high - low >= 100 * count
      ? low + Math.floor(Math.random() * (high - low + 1))
      : 0;
    try {
      const listener = Deno.listen({ hostname: "127.0.0.1", port });
      ports.add((listener.addr as Deno.NetAddr).port);
      listener.close();
    } catch (error) {
      if (!(error instanceof Deno.errors.AddrInUse)) throw error;
    }
  }
  if (ports.size < count) throw new Error(`found no ${count} free ports`);
  return [...ports];
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

/** Runs a command as the nodes' user (root cannot run Elasticsearch). */
function asRunUser(
  p: Paths,
  env: Record<string, string>,
  command: string[],
  what: string,
): Promise<string> {
  return p.asRoot
    ? sh("runuser", [
      "-u",
      RUN_USER,
      "--",
      "env",
      ...Object.entries(env).map(([k, v]) => `${k}=${v}`),
      ...command,
    ], { what })
    : sh(command[0], command.slice(1), { env, what });
}

function nodeEnv(
  p: Paths,
  index: number,
  java: string,
  heap: string,
  javaOpts: string,
): Record<string, string> {
  const dir = nodeDir(p, index);
  return {
    ES_JAVA_HOME: java,
    ES_PATH_CONF: `${dir}/config`,
    ES_JAVA_OPTS: [`-Xms${heap}`, `-Xmx${heap}`, javaOpts].filter(Boolean)
      .join(" "),
    ES_TMPDIR: `${dir}/tmp`,
  };
}

/** Launches one configured node in the background; returns its pid. */
async function launch(
  p: Paths,
  index: number,
  java: string,
  heap: string,
  javaOpts: string,
): Promise<number> {
  const dir = nodeDir(p, index);
  const pidFile = `${dir}/pid`;
  await Deno.remove(pidFile).catch(() => {});
  await asRunUser(
    p,
    nodeEnv(p, index, java, heap, javaOpts),
    [`${p.install}/bin/elasticsearch`, "-d", "-p", pidFile],
    `starting Elasticsearch node ${index + 1}`,
  );
  return Number((await Deno.readTextFile(pidFile)).trim());
}

/**
 * Starts the local node (or a cluster of `nodes` nodes), or reuses the one
 * of this checkout already running with that name.
 *
 * @example
 * ```ts ignore
 * import { startLocalNode } from "./local_node.ts";
 *
 * const node = await startLocalNode();
 * console.log(node.url);
 * ```
 *
 * @param options Name, node count, heap, security, and how long to wait
 * for a healthy cluster (default 180 s).
 * @returns The running cluster.
 * @throws {Error} With the cause and the log's tail when it cannot start,
 * or when the running cluster of that name has another node count.
 */
export async function startLocalNode(
  options: StartOptions = {},
): Promise<LocalNode> {
  const nodes = options.nodes;
  if (nodes !== undefined && !(Number.isInteger(nodes) && nodes >= 1)) {
    throw new Error(`nodes must be an integer >= 1, got ${nodes}`);
  }
  const running = await localNodeStatus(options);
  if (running && running.nodes.every((n) => n.running)) {
    if (nodes !== undefined && running.nodes.length !== nodes) {
      throw new Error(
        `the local cluster "${running.name}" runs ${running.nodes.length} node(s), not ${nodes}: stop it first (deno task es:stop) or pick another name`,
      );
    }
    return running;
  }
  if (running) await stopLocalNode(options); // partly down: start afresh
  const count = nodes ?? 1;
  const p = await paths(options);
  await ensureDownloaded(p);
  await ensureUnpacked(p);
  const java = await javaHome();
  const heap = options.heap || Deno.env.get("CCO_ES_HEAP") ||
    (count === 1 ? "1g" : "512m");
  if (!/^\d+[kmgKMG]?$/.test(heap)) {
    throw new Error(`heap must look like 512m or 1g, got "${heap}"`);
  }
  const javaOpts = options.javaOpts ?? Deno.env.get("CCO_ES_JAVA_OPTS") ?? "";

  // A node that dies while starting is retried once, on new ports: the
  // usual cause is a port taken between choosing it and binding it.
  for (let attempt = 1;; attempt++) {
    try {
      return await startNodes(p, options, count, java, heap, javaOpts);
    } catch (error) {
      if (!(error instanceof StartError && error.died) || attempt === 2) {
        throw error;
      }
      log(
        `${
          error.message.split("\n").find((l) =>
            /\b(ERROR|Exception)\b/.test(l)
          ) ??
            error.message.split("\n")[0]
        }; starting again on new ports`,
      );
    }
  }
}

/** A failed start; `died` when a node exited while starting. */
class StartError extends Error {
  constructor(message: string, readonly died: boolean) {
    super(message);
  }
}

/**
 * One attempt to start the nodes: a fresh directory, new ports, configs,
 * launch, and a wait for a healthy cluster.
 */
async function startNodes(
  p: Paths,
  options: StartOptions,
  count: number,
  java: string,
  heap: string,
  javaOpts: string,
): Promise<LocalNode> {
  // A fresh directory each start: the local cluster holds nothing to keep.
  await Deno.remove(p.cluster, { recursive: true }).catch(() => {});
  const ports = await freePorts(2 * count);
  const procs = Array.from({ length: count }, (_, i) => ({
    name: `${options.name ?? "dev"}-${i + 1}`,
    port: ports[2 * i],
    transportPort: ports[2 * i + 1],
  }));
  for (const [i, node] of procs.entries()) {
    const dir = nodeDir(p, i);
    await Deno.mkdir(`${dir}/data`, { recursive: true });
    await Deno.mkdir(`${dir}/logs`, { recursive: true });
    await Deno.mkdir(`${dir}/tmp`, { recursive: true });
    await sh("cp", ["-r", `${p.install}/config`, `${dir}/config`], {
      what: "copying config",
    });
    await Deno.writeTextFile(
      `${dir}/config/elasticsearch.yml`,
      [
        `cluster.name: ${p.clusterName}`,
        `node.name: ${node.name}`,
        ...(count === 1 ? ["discovery.type: single-node"] : [
          `discovery.seed_hosts: [${
            procs.map((n) => `"127.0.0.1:${n.transportPort}"`).join(", ")
          }]`,
          `cluster.initial_master_nodes: [${
            procs.map((n) => `"${n.name}"`).join(", ")
          }]`,
        ]),
        "network.host: 127.0.0.1",
        `http.port: ${node.port}`,
        `transport.port: ${node.transportPort}`,
        `path.data: ${dir}/data`,
        `path.logs: ${dir}/logs`,
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
    if (options.user) {
      // a file-realm superuser, written before the node starts
      await Deno.writeTextFile(`${dir}/config/users`, "");
      await Deno.writeTextFile(`${dir}/config/users_roles`, "");
    }
  }
  if (p.asRoot) {
    await ensureRunUser();
    await sh("chown", ["-R", `${RUN_USER}:`, p.install, p.cluster], {
      what: "chown",
    });
  }
  if (options.user) {
    for (let i = 0; i < count; i++) {
      await asRunUser(p, nodeEnv(p, i, java, heap, javaOpts), [
        `${p.install}/bin/elasticsearch-users`,
        "useradd",
        options.user.username,
        "-p",
        options.user.password,
        "-r",
        "superuser",
      ], "adding the file-realm user");
    }
  }
  const urls = procs.map((n) => `http://127.0.0.1:${n.port}`);
  const t0 = performance.now();
  log(
    `starting Elasticsearch ${ES_VERSION}: ${count} node(s) on ${
      urls.join(", ")
    } (heap ${heap} each) ...`,
  );
  const state: State = {
    version: ES_VERSION,
    name: options.name ?? "dev",
    clusterName: p.clusterName,
    heap,
    javaOpts,
    owner: p.owner,
    security: options.user !== undefined,
    nodes: procs.map((n, i) => ({ ...n, url: urls[i], pid: 0 })),
  };
  const pids: number[] = [];
  // the node whose failure ended the start, for its log
  let failed = 0;
  let died = false;
  try {
    // together: a node of a cluster waits for the others to form it
    await Promise.all(procs.map(async (_, i) => {
      try {
        pids[i] = state.nodes[i].pid = await launch(
          p,
          i,
          java,
          heap,
          javaOpts,
        );
      } catch (error) {
        if (!died) [failed, died] = [i, true];
        throw error;
      }
    }));
    await Deno.writeTextFile(p.state, JSON.stringify(state, null, 2));
    await waitHealthy(urls[0], count, options.timeoutMs ?? 180_000, options);
  } catch (error) {
    const tail = await logTail(p, failed);
    // leave nothing running behind a failed start
    await Promise.all(
      pids.map((pid, i) => pid && terminate(pid, nodeDir(p, i), "SIGKILL")),
    );
    await Deno.remove(p.state).catch(() => {});
    throw new StartError(
      `${(error as Error).message}${tail ? `\n${tail}` : ""}`,
      died,
    );
  }
  log(
    `ready in ${((performance.now() - t0) / 1000).toFixed(1)} s (pid ${
      pids.join(", ")
    })`,
  );
  return await describe(p, state, false);
}

async function waitHealthy(
  url: string,
  nodes: number,
  timeoutMs: number,
  options: { user?: { username: string; password: string } } = {},
) {
  const deadline = Date.now() + timeoutMs;
  let lastReport = Date.now();
  while (Date.now() < deadline) {
    try {
      const res = await fetch(
        `${url}/_cluster/health?wait_for_status=yellow&wait_for_nodes=${nodes}&timeout=5s`,
        {
          signal: AbortSignal.timeout(10_000),
          headers: authHeaders(options.user),
        },
      );
      const body = await res.json();
      if (
        res.ok && !body.timed_out &&
        (body.status === "green" || body.status === "yellow")
      ) {
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
    `Elasticsearch did not become healthy with ${nodes} node(s) within ${
      timeoutMs / 1000
    } s`,
  );
}

/** Waits until the node at `url` has joined a cluster (knows its master). */
async function waitJoined(
  url: string,
  timeoutMs: number,
  options: { user?: { username: string; password: string } } = {},
) {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`${url}/_cat/master?format=json&local=true`, {
        signal: AbortSignal.timeout(10_000),
        headers: authHeaders(options.user),
      });
      const body = await res.json();
      if (res.ok && Array.isArray(body) && body[0]?.node) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(
    `the node at ${url} did not join its cluster within ${timeoutMs / 1000} s`,
  );
}

async function logTail(p: Paths, index: number): Promise<string> {
  try {
    const text = await Deno.readTextFile(
      `${nodeDir(p, index)}/logs/${p.clusterName}.log`,
    );
    const lines = text.trim().split("\n");
    // the first error with its cause, then how the log ends
    const first = lines.findIndex((l) => /\]\[(ERROR|FATAL)\s*\]/.test(l));
    const cause = first >= 0 && first < lines.length - 15
      ? [...lines.slice(first, first + 5), "..."]
      : [];
    return [...cause, ...lines.slice(-15)].join("\n");
  } catch {
    return "";
  }
}

async function terminate(pid: number, dir: string, signal: Deno.Signal) {
  if (!await isNodeProcess(pid, dir)) return false;
  Deno.kill(pid, signal);
  const deadline = Date.now() + 30_000;
  while (await isNodeProcess(pid, dir) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
  }
  if (await isNodeProcess(pid, dir)) Deno.kill(pid, "SIGKILL");
  return true;
}

/**
 * Stops the local node or cluster that this checkout and user started with
 * {@linkcode startLocalNode}. Nodes started elsewhere are never touched.
 *
 * @example
 * ```ts ignore
 * import { stopLocalNode } from "./local_node.ts";
 *
 * await stopLocalNode(); // true when a node was stopped
 * ```
 *
 * @param options The name (default `dev`) and checkout.
 * @returns Whether any node was running.
 */
export async function stopLocalNode(
  options: NodeOptions = {},
): Promise<boolean> {
  const p = await paths(options);
  const state = await readState(p);
  if (!state) return false;
  const stopped = await Promise.all(
    state.nodes.map((n, i) => terminate(n.pid, nodeDir(p, i), "SIGTERM")),
  );
  await Deno.remove(p.state).catch(() => {});
  return stopped.some(Boolean);
}

async function nodeOf(options: NodeOptions & { node: number }) {
  const p = await paths(options);
  const state = await readState(p);
  if (!state) {
    throw new Error(
      `no local cluster "${options.name ?? "dev"}" of this checkout`,
    );
  }
  const i = options.node - 1;
  if (!Number.isInteger(i) || i < 0 || i >= state.nodes.length) {
    throw new Error(
      `node must be 1 to ${state.nodes.length}, got ${options.node}`,
    );
  }
  return { p, state, i };
}

/**
 * Takes one node of a local cluster down, by default with `SIGKILL` (a
 * crash: no clean shutdown), and waits until its process is gone.
 *
 * @example
 * ```ts ignore
 * import { killLocalNode } from "./local_node.ts";
 *
 * await killLocalNode({ name: "three", node: 2 }); // true
 * ```
 *
 * @param options Name, checkout, the node (1-based) and the signal.
 * @returns Whether the node was running.
 * @throws {Error} When there is no such cluster or node.
 */
export async function killLocalNode(
  options: NodeOptions & { node: number; signal?: "SIGKILL" | "SIGTERM" },
): Promise<boolean> {
  const { p, state, i } = await nodeOf(options);
  return await terminate(
    state.nodes[i].pid,
    nodeDir(p, i),
    options.signal ?? "SIGKILL",
  );
}

/**
 * Starts a node of a local cluster again, with its data, ports and
 * settings, and waits until it has joined the cluster (its shards recover
 * in the background: wait for `green` yourself).
 *
 * @example
 * ```ts ignore
 * import { restartLocalNode } from "./local_node.ts";
 *
 * await restartLocalNode({ name: "three", node: 2 });
 * ```
 *
 * @param options Name, checkout, the node (1-based), and how long to wait
 * (default 180 s).
 * @returns The cluster.
 * @throws {Error} When there is no such cluster or node, the node is
 * running, or it does not rejoin in time.
 */
export async function restartLocalNode(
  options: NodeOptions & { node: number; timeoutMs?: number },
): Promise<LocalNode> {
  const { p, state, i } = await nodeOf(options);
  const node = state.nodes[i];
  if (await isNodeProcess(node.pid, nodeDir(p, i))) {
    throw new Error(`node ${options.node} (${node.name}) is running`);
  }
  const java = await javaHome();
  try {
    node.pid = await launch(p, i, java, state.heap, state.javaOpts);
    await Deno.writeTextFile(p.state, JSON.stringify(state, null, 2));
    await waitJoined(node.url, options.timeoutMs ?? 180_000, options);
  } catch (error) {
    const tail = await logTail(p, i);
    throw new Error(`${(error as Error).message}${tail ? `\n${tail}` : ""}`);
  }
  return await describe(p, state, true);
}
