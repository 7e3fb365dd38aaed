/**
 * An HTTP/1.1 server for a `fetch`-style handler (such as
 * {@linkcode createHandler}'s), on `Deno.listen`, for what `Deno.serve`
 * does not give a service exposed to careless or hostile clients:
 *
 * - a **connection limit** (`maxConnections`, by default three quarters of
 *   the open-file limit, at most 4096: {@linkcode defaultMaxConnections}): at the limit the connection idle the
 *   longest is closed to make room, and when every connection is busy with
 *   a request the new one is answered 503 and closed;
 * - **deadlines**: the head of a request must arrive within
 *   `headersTimeoutMs` (default 10 s) of the connection or of the request's
 *   first byte, its body within `requestTimeoutMs` (default 30 s), and a
 *   keep-alive connection idle for `idleTimeoutMs` (default 5 s) is closed;
 *   late clients get a 408;
 * - **no death by exhaustion**: when accepting fails for want of file
 *   descriptors, the server lowers its connection limit to three quarters
 *   of what is open (the open-file limit cannot be read without
 *   `--allow-all`), closes idle connections, backs off and goes on
 *   accepting; `Deno.serve` exits with "Too many open files";
 * - **limits**: a head over `maxHeaderBytes` (default 16 KiB) or 100
 *   header lines is a 431, a body over `maxBodyBytes` (default 1 MiB) a
 *   413, sent without reading the body;
 * - **graceful shutdown**: {@linkcode Server.shutdown} (or aborting
 *   `signal`) stops accepting, gives idle keep-alive connections half a
 *   second to deliver a request already sent (so none is dropped unread),
 *   closes them, lets requests in progress finish (`drainTimeoutMs`,
 *   default 10 s) and then closes the rest; every answer from then on
 *   says `connection: close`.
 *
 * The server speaks HTTP/1.0 and 1.1 with keep-alive and pipelining,
 * `Content-Length` and chunked request bodies, and `Expect: 100-continue`.
 * A request with both `Content-Length` and `Transfer-Encoding`, another
 * transfer coding, a folded header or a bare LF is refused (400 or 501):
 * what request smuggling relies on. Its own errors are JSON
 * `{ error: { status, message } }`, like the handler's. Responses are
 * buffered (the service's answers are small JSON documents).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const server = serve(() => Response.json({ ok: true }), { port: 0 });
 * const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
 * assert.deepEqual(await res.json(), { ok: true });
 * await server.shutdown();
 * assert.equal(server.stats().connections, 0);
 * ```
 *
 * @module
 */

import { ConfigError } from "../errors/mod.ts";

/** Options of {@linkcode serve}. */
export interface ServerOptions {
  /** Interface to listen on (default `127.0.0.1`). */
  hostname?: string;
  /** Port (default 8000; 0 picks a free one). */
  port?: number;
  /**
   * Open connections at most (default: {@linkcode defaultMaxConnections}
   * of this process's open-file limit).
   * At the limit the connection idle the longest is closed; if all are
   * busy, the new one is answered 503.
   */
  maxConnections?: number;
  /**
   * Milliseconds for the head of a request to arrive, from the connection
   * (first request) or from the request's first byte (default 10 000).
   */
  headersTimeoutMs?: number;
  /** Milliseconds for a request's body, and for writing the response (default 30 000). */
  requestTimeoutMs?: number;
  /** Milliseconds a keep-alive connection may stay idle (default 5000). */
  idleTimeoutMs?: number;
  /** Largest request head in bytes (default 16 KiB). */
  maxHeaderBytes?: number;
  /** Largest request body in bytes (default 1 MiB). */
  maxBodyBytes?: number;
  /** Milliseconds requests in progress get to finish on shutdown (default 10 000). */
  drainTimeoutMs?: number;
  /** Shuts the server down gracefully when aborted. */
  signal?: AbortSignal;
  /** Called once listening. */
  onListen?: (addr: Deno.NetAddr) => void;
  /** Where the server reports its own trouble (default: a line on stderr). */
  onError?: (message: string) => void;
}

/** What a handler receives besides the request. */
export interface ServeInfo {
  /** The client's address. */
  remoteAddr: Deno.NetAddr;
}

/** A handler: a request in, a response out. */
export type ServeHandler = (
  request: Request,
  info: ServeInfo,
) => Response | Promise<Response>;

/** Counters of a running {@linkcode Server}. */
export interface ServerStats {
  /** Connections open now. */
  connections: number;
  /** Connections accepted since start. */
  accepted: number;
  /** Connections answered 503 because every connection was busy. */
  refused: number;
  /** Idle connections closed to make room for a new one. */
  evicted: number;
  /** Connections closed by a deadline (head, body, idle, write). */
  timedOut: number;
  /** Failed accepts (e.g. out of file descriptors), survived. */
  acceptErrors: number;
  /** Requests passed to the handler. */
  requests: number;
}

/** A running server. */
export interface Server {
  /** The address it listens on. */
  readonly addr: Deno.NetAddr;
  /** Resolves once shut down and every connection is closed. */
  readonly finished: Promise<void>;
  /** Stops accepting, drains, closes; resolves like `finished`. */
  shutdown(): Promise<void>;
  /** Counters. */
  stats(): ServerStats;
}

const MAX_HEADER_LINES = 100;
// a new connection's time to send its first bytes before it may be evicted
const GRACE_MS = 500;
// on shutdown, an idle connection's time to deliver a request its client
// sent before it could learn of the shutdown (it may already sit in the
// socket buffer, unread): answered with `connection: close`, not dropped
const SHUTDOWN_IDLE_GRACE_MS = 500;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
// a header value: visible characters, spaces, tabs, obs-text; no controls
// deno-lint-ignore no-control-regex
const BAD_VALUE = /[\x00-\x08\x0a-\x1f\x7f]/;
// deno-lint-ignore no-control-regex
const BAD_TARGET = /[\x00-\x20\x7f-\xff]/;
const HOST = /^[A-Za-z0-9._~%!$&'()*+,;=:\[\]-]*$/;
const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  202: "Accepted",
  204: "No Content",
  304: "Not Modified",
  400: "Bad Request",
  401: "Unauthorized",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  408: "Request Timeout",
  411: "Length Required",
  413: "Content Too Large",
  415: "Unsupported Media Type",
  417: "Expectation Failed",
  431: "Request Header Fields Too Large",
  500: "Internal Server Error",
  501: "Not Implemented",
  503: "Service Unavailable",
  504: "Gateway Timeout",
  505: "HTTP Version Not Supported",
};

/**
 * The soft limit on open files of this process (`/proc/self/limits`), or
 * `undefined` where it cannot be read (Deno lets only `--allow-all` read
 * `/proc`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openFileLimit } from "./server.ts";
 *
 * const limit = openFileLimit();
 * assert.ok(limit === undefined || limit > 0);
 * ```
 *
 * @returns The limit.
 */
export function openFileLimit(): number | undefined {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+|unlimited)/m.exec(text);
    if (!m) return undefined;
    return m[1] === "unlimited" ? Infinity : Number(m[1]);
  } catch {
    return undefined;
  }
}

/**
 * The default connection limit for an open-file limit: the limit less a
 * reserve of a quarter (at least 32) for the process's other files and its
 * Elasticsearch connections, at most 4096; 1024 when the limit is unknown.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultMaxConnections } from "./server.ts";
 *
 * assert.equal(defaultMaxConnections(256), 192);
 * assert.equal(defaultMaxConnections(1_048_576), 4096);
 * assert.equal(defaultMaxConnections(undefined), 1024);
 * ```
 *
 * @param limit The open-file limit (`openFileLimit()` for this process's).
 * @returns The number of connections.
 */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return 1024;
  if (!Number.isFinite(limit)) return 4096;
  return Math.max(
    1,
    Math.min(4096, limit - Math.max(32, Math.floor(limit / 4))),
  );
}

/**
 * Checks server options before anything starts: every number an integer in
 * range, the hostname non-empty, and `maxConnections` within the open-file
 * limit (which every connection needs one of).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkServerOptions } from "./server.ts";
 *
 * checkServerOptions({ port: 8000, idleTimeoutMs: 5000 });
 * assert.throws(() => checkServerOptions({ port: 70000 }), /port must be an integer from 0 to 65535, got 70000/);
 * assert.throws(() => checkServerOptions({ idleTimeoutMs: 0 }), /idleTimeoutMs must be an integer >= 1, got 0/);
 * ```
 *
 * @param options The options.
 * @param names How to call each option in messages (e.g. a flag name).
 * @throws {ConfigError} Naming the option.
 */
export function checkServerOptions(
  options: ServerOptions,
  names: Partial<Record<keyof ServerOptions, string>> = {},
): void {
  const name = (k: keyof ServerOptions) => names[k] ?? k;
  const { port } = options;
  if (
    port !== undefined && (!Number.isInteger(port) || port < 0 || port > 65535)
  ) {
    throw new ConfigError(
      name("port"),
      `must be an integer from 0 to 65535, got ${port}`,
    );
  }
  if (options.hostname !== undefined && options.hostname.trim() === "") {
    throw new ConfigError(name("hostname"), "must not be empty");
  }
  for (
    const key of [
      "maxConnections",
      "headersTimeoutMs",
      "requestTimeoutMs",
      "idleTimeoutMs",
      "maxHeaderBytes",
      "maxBodyBytes",
      "drainTimeoutMs",
    ] as const
  ) {
    const v = options[key];
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) {
      throw new ConfigError(name(key), `must be an integer >= 1, got ${v}`);
    }
  }
  const limit = openFileLimit();
  const max = options.maxConnections;
  if (max !== undefined && limit !== undefined && max > limit - 32) {
    throw new ConfigError(
      name("maxConnections"),
      `is ${max} but the open-file limit is ${limit} (each connection holds a file; keep 32 for the rest): raise ulimit -n or lower it`,
    );
  }
}

type State =
  | "idle"
  | "head"
  | "body"
  | "busy"
  | "writing"
  | "linger"
  | "closed";

class HttpFault extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

function errorBytes(status: number, message: string, close = true) {
  const body = new TextEncoder().encode(
    JSON.stringify({ error: { status, message } }),
  );
  const head = `HTTP/1.1 ${status} ${REASONS[status] ?? ""}\r\n` +
    `content-type: application/json\r\ncontent-length: ${body.length}\r\n` +
    (status === 503 ? "retry-after: 1\r\n" : "") +
    (close ? "connection: close\r\n" : "") + "\r\n";
  return concat(new TextEncoder().encode(head), body);
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length);
  out.set(a, 0);
  out.set(b, a.length);
  return out;
}

function latin1(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 4096) {
    s += String.fromCharCode(...bytes.subarray(i, i + 4096));
  }
  return s;
}

/** One client connection and its bytes not yet consumed. */
class Connection {
  state: State = "head";
  deadline: number;
  lastActive: number;
  /** Bytes of the current request received so far (0: none yet). */
  received = 0;
  /** Set when the server wants the connection closed after this exchange. */
  closing = false;
  /** Set by a deadline: reads end, the connection is being closed. */
  expired = false;
  /** How far the current head has been scanned for its end. */
  scanned = 0;
  #buf = new Uint8Array(4096);
  #start = 0;
  #end = 0;

  /** When it was accepted. */
  readonly accepted: number = Date.now();

  constructor(readonly conn: Deno.Conn, deadline: number) {
    this.deadline = deadline;
    this.lastActive = this.accepted;
  }

  get closed(): boolean {
    return this.state === "closed";
  }

  get buffered(): number {
    return this.#end - this.#start;
  }

  view(): Uint8Array {
    return this.#buf.subarray(this.#start, this.#end);
  }

  consume(n: number) {
    this.scanned = 0;
    this.#start += n;
    if (this.#start === this.#end) this.#start = this.#end = 0;
  }

  /** Reads more bytes; false at the end of the stream (or when closed). */
  async fill(): Promise<boolean> {
    if (this.expired || this.state === "closed") return false;
    if (this.#end === this.#buf.length) {
      const live = this.#end - this.#start;
      if (this.#start > 0 && live < this.#buf.length / 2) {
        this.#buf.copyWithin(0, this.#start, this.#end);
      } else {
        const bigger = new Uint8Array(this.#buf.length * 2);
        bigger.set(this.#buf.subarray(this.#start, this.#end));
        this.#buf = bigger;
      }
      this.#start = 0;
      this.#end = live;
    }
    let n: number | null;
    try {
      n = await this.conn.read(this.#buf.subarray(this.#end));
    } catch {
      return false; // reset, or closed by a deadline
    }
    if (n === null || this.expired) return false;
    this.#end += n;
    this.received += n;
    this.lastActive = Date.now();
    return true;
  }

  async write(bytes: Uint8Array) {
    let at = 0;
    while (at < bytes.length) at += await this.conn.write(bytes.subarray(at));
  }

  close() {
    if (this.state === "closed") return;
    this.state = "closed";
    try {
      this.conn.close();
    } catch {
      // already closed
    }
  }
}

interface Head {
  method: string;
  target: string;
  minor: number;
  headers: [string, string][];
}

// index just past the head's terminating empty line, or -1, scanning from
// `from` (what was scanned before is not scanned again); a bare LF is an
// error. Leading empty lines have been dropped.
function headEnd(bytes: Uint8Array, from: number): number {
  for (let i = from; i < bytes.length; i++) {
    if (bytes[i] !== 10) continue;
    if (i === 0 || bytes[i - 1] !== 13) {
      throw new HttpFault(400, "malformed request: line ends in a bare LF");
    }
    if (i >= 3 && bytes[i - 2] === 10) return i + 1;
  }
  return -1;
}

function parseHead(text: string): Head {
  const lines = text.split("\r\n");
  const requestLine = lines.shift() ?? "";
  const m = /^([^ ]+) ([^ ]+) HTTP\/(\d)\.(\d)$/.exec(requestLine);
  if (!m || !TOKEN.test(m[1])) {
    throw new HttpFault(400, "malformed request line");
  }
  const [, method, target, major, minor] = m;
  if (major !== "1" || (minor !== "0" && minor !== "1")) {
    throw new HttpFault(505, `HTTP/${major}.${minor} is not supported`);
  }
  if (BAD_TARGET.test(target)) {
    throw new HttpFault(400, "malformed request target");
  }
  const headers: [string, string][] = [];
  for (const line of lines) {
    if (line === "") continue; // the terminating empty line
    if (line[0] === " " || line[0] === "\t") {
      throw new HttpFault(400, "malformed header: folded line");
    }
    const colon = line.indexOf(":");
    const name = colon > 0 ? line.slice(0, colon) : "";
    if (!TOKEN.test(name)) {
      throw new HttpFault(400, "malformed header name");
    }
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, "");
    if (BAD_VALUE.test(value)) {
      throw new HttpFault(400, `malformed value of header ${name}`);
    }
    headers.push([name.toLowerCase(), value]);
  }
  if (headers.length > MAX_HEADER_LINES) {
    throw new HttpFault(431, `more than ${MAX_HEADER_LINES} header lines`);
  }
  return { method, target, minor: Number(minor), headers };
}

// a connection's routine ends: reset, broken pipe, closed under a read
function isIoError(error: unknown): boolean {
  return error instanceof Deno.errors.BrokenPipe ||
    error instanceof Deno.errors.ConnectionReset ||
    error instanceof Deno.errors.ConnectionAborted ||
    error instanceof Deno.errors.BadResource ||
    error instanceof Deno.errors.Interrupted ||
    error instanceof Deno.errors.NotConnected;
}

function all(head: Head, name: string): string[] {
  return head.headers.filter(([n]) => n === name).map(([, v]) => v);
}

function tokens(head: Head, name: string): string[] {
  return all(head, name).flatMap((v) => v.split(","))
    .map((t) => t.trim().toLowerCase()).filter(Boolean);
}

/**
 * Serves `handler` over HTTP/1.1 (see the module documentation).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serve } from "./server.ts";
 *
 * const server = serve(() => new Response("hi"), { port: 0, maxConnections: 10 });
 * assert.equal(await (await fetch(`http://127.0.0.1:${server.addr.port}/`)).text(), "hi");
 * await server.shutdown();
 * ```
 *
 * @param handler Answers each request.
 * @param options Address, limits, deadlines, shutdown signal.
 * @returns The running server.
 * @throws {ConfigError} For an invalid option.
 */
export function serve(
  handler: ServeHandler,
  options: ServerOptions = {},
): Server {
  checkServerOptions(options);
  const maxConnections = options.maxConnections ??
    defaultMaxConnections(openFileLimit());
  const headersTimeoutMs = options.headersTimeoutMs ?? 10_000;
  const requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
  const idleTimeoutMs = options.idleTimeoutMs ?? 5000;
  const maxHeaderBytes = options.maxHeaderBytes ?? 16 * 1024;
  const maxBodyBytes = options.maxBodyBytes ?? 1024 * 1024;
  const drainTimeoutMs = options.drainTimeoutMs ?? 10_000;
  const report = options.onError ??
    ((message: string) => console.error(`http: ${message}`));

  const listener = Deno.listen({
    hostname: options.hostname ?? "127.0.0.1",
    port: options.port ?? 8000,
  });
  const addr = listener.addr as Deno.NetAddr;
  const open = new Set<Connection>();
  // lowered if the open-file limit turns out lower than maxConnections
  let cap = maxConnections;
  const stats = {
    accepted: 0,
    refused: 0,
    evicted: 0,
    timedOut: 0,
    acceptErrors: 0,
    requests: 0,
  };
  let closing = false;
  let lastReport = 0;
  const tasks = new Set<Promise<void>>();
  const track = (p: Promise<void>) => {
    tasks.add(p);
    p.finally(() => tasks.delete(p));
  };

  // deadlines: one sweep for every connection
  const tick = Math.max(
    20,
    Math.min(
      500,
      Math.floor(
        Math.min(headersTimeoutMs, requestTimeoutMs, idleTimeoutMs) / 4,
      ),
    ),
  );
  const sweeper = setInterval(() => {
    const now = Date.now();
    for (const c of open) {
      if (c.state === "busy" || now < c.deadline) continue;
      if (c.expired || c.state === "linger") { // done, or its 408 is late
        c.close();
        continue;
      }
      stats.timedOut++;
      c.expired = true;
      if ((c.state === "head" || c.state === "body") && c.received > 0) {
        const late = c.state === "head" ? "head" : "body";
        // best effort: the client may not read it
        const bytes = errorBytes(408, `request ${late} not received in time`);
        c.state = "writing";
        c.deadline = now + 1000;
        c.write(bytes).catch(() => {}).finally(() => c.close());
      } else c.close();
    }
  }, tick);

  // the connection idle the longest: no bytes of a request first, then
  // a partial head, then a partial body; a connection accepted less than
  // GRACE_MS ago has had no time to send its request yet, and goes last
  function evictOne(): boolean {
    let victim: Connection | undefined;
    let rank = Infinity;
    const young = Date.now() - GRACE_MS;
    for (const c of open) {
      const r = c.state === "idle" || c.state === "linger"
        ? 0
        : c.state === "head" && c.received === 0
        ? (c.accepted > young ? 3 : 0)
        : c.state === "head"
        ? 1
        : c.state === "body"
        ? 2
        : Infinity;
      if (
        r < rank ||
        (r === rank && victim && c.lastActive < victim.lastActive)
      ) {
        victim = c;
        rank = r;
      }
    }
    if (!victim || rank === Infinity) return false;
    stats.evicted++;
    victim.close();
    open.delete(victim); // its file is free now, whenever its task ends
    return true;
  }

  let refusing = 0;
  function refuse(conn: Deno.Conn) {
    stats.refused++;
    if (refusing >= 64) { // do not hold files for refusals
      try {
        conn.close();
      } catch { /* closed */ }
      return;
    }
    refusing++;
    const bytes = errorBytes(503, "server busy: too many connections");
    const timer = setTimeout(() => {
      try {
        conn.close();
      } catch { /* closed */ }
    }, 1000);
    conn.write(bytes).catch(() => 0).finally(() => {
      clearTimeout(timer);
      refusing--;
      try {
        conn.close();
      } catch { /* closed */ }
    });
  }

  async function acceptLoop() {
    let backoff = 10;
    while (!closing) {
      let conn: Deno.Conn;
      try {
        conn = await listener.accept();
      } catch (error) {
        if (closing || error instanceof Deno.errors.BadResource) break;
        stats.acceptErrors++;
        const now = Date.now();
        const message = (error as Error).message;
        // out of files (EMFILE, ENFILE): the limit is lower than the cap;
        // from now on keep a quarter (at least 8) of what is open free for
        // the backend's connections and for answering refusals
        if (/too many open files|os error 2[34]\b/i.test(message)) {
          const target = Math.max(
            1,
            open.size - Math.max(8, Math.floor(open.size / 4)),
          );
          if (target < cap) {
            cap = target;
            report(
              `out of file descriptors with ${open.size} connections open: serving at most ${cap} from now on (set http.maxConnections below the open-file limit)`,
            );
            lastReport = now;
          }
          while (open.size > cap && evictOne());
        } else if (now - lastReport > 1000) {
          lastReport = now;
          report(
            `accepting a connection failed (${message}); ${open.size} open, retrying`,
          );
        }
        evictOne();
        await new Promise((r) => setTimeout(r, backoff));
        backoff = Math.min(backoff * 2, 1000);
        continue;
      }
      backoff = 10;
      stats.accepted++;
      if (open.size >= cap && !evictOne()) {
        refuse(conn);
        continue;
      }
      const c = new Connection(conn, Date.now() + headersTimeoutMs);
      open.add(c);
      track(
        handle(c).catch((error) =>
          report(`connection failed: ${(error as Error).message}`)
        ).finally(() => {
          c.close();
          open.delete(c);
        }),
      );
    }
  }

  async function readHead(
    c: Connection,
    first: boolean,
  ): Promise<Head | undefined> {
    c.received = c.buffered;
    c.state = c.buffered > 0 || first ? "head" : "idle";
    c.deadline = Date.now() +
      (c.state === "idle" ? idleTimeoutMs : headersTimeoutMs);
    for (;;) {
      if (c.buffered > 0) {
        if (c.state === "idle") {
          c.state = "head";
          c.deadline = Date.now() + headersTimeoutMs;
        }
        // empty lines before a request are ignored (RFC 9112, 2.2)
        let view = c.view();
        while (view.length >= 2 && view[0] === 13 && view[1] === 10) {
          c.consume(2);
          view = c.view();
        }
        const scan = view.subarray(0, Math.min(view.length, maxHeaderBytes));
        const end = headEnd(scan, Math.max(0, c.scanned - 3));
        c.scanned = scan.length;
        if (end >= 0) {
          const head = parseHead(latin1(view.subarray(0, end)));
          c.consume(end);
          return head;
        }
        if (view.length > maxHeaderBytes) {
          throw new HttpFault(431, `request head over ${maxHeaderBytes} bytes`);
        }
      }
      if (closing && c.received === 0) return undefined;
      if (!(await c.fill())) {
        if (c.received > 0 && !c.closed) {
          throw new HttpFault(
            400,
            "connection closed in the middle of a request",
          );
        }
        return undefined;
      }
    }
  }

  // after an error answer, the client may still be sending: closing with
  // its bytes unread would reset the connection and lose the answer, so
  // stop writing, read and drop what comes for up to a second, then close
  async function linger(c: Connection) {
    try {
      await c.conn.closeWrite();
    } catch {
      return;
    }
    c.state = "linger";
    c.deadline = Date.now() + 1000;
    let dropped = 0;
    while (dropped < 4 * 1024 * 1024 && await c.fill()) {
      dropped += c.buffered;
      c.consume(c.buffered);
    }
  }

  async function readExact(
    c: Connection,
    n: number,
  ): Promise<Uint8Array<ArrayBuffer>> {
    const out = new Uint8Array(n);
    let at = 0;
    while (at < n) {
      if (c.buffered === 0 && !(await c.fill())) {
        throw new HttpFault(400, "connection closed in the middle of a body");
      }
      const take = Math.min(n - at, c.buffered);
      out.set(c.view().subarray(0, take), at);
      c.consume(take);
      at += take;
    }
    return out;
  }

  async function readLine(c: Connection, limit: number): Promise<string> {
    for (;;) {
      const view = c.view();
      const nl = view.indexOf(10);
      if (nl >= 0) {
        if (nl === 0 || view[nl - 1] !== 13) {
          throw new HttpFault(400, "malformed chunked body: bare LF");
        }
        const line = latin1(view.subarray(0, nl - 1));
        c.consume(nl + 1);
        return line;
      }
      if (view.length > limit) {
        throw new HttpFault(400, "malformed chunked body: line too long");
      }
      if (!(await c.fill())) {
        throw new HttpFault(400, "connection closed in the middle of a body");
      }
    }
  }

  async function readChunked(c: Connection): Promise<Uint8Array<ArrayBuffer>> {
    const parts: Uint8Array[] = [];
    let total = 0;
    for (;;) {
      const line = await readLine(c, 4096);
      const m = /^([0-9A-Fa-f]{1,8})(?:[ \t]*;.*)?$/.exec(line);
      if (!m) throw new HttpFault(400, "malformed chunk size");
      const size = parseInt(m[1], 16);
      if (size === 0) break;
      total += size;
      if (total > maxBodyBytes) {
        throw new HttpFault(413, `body over ${maxBodyBytes} bytes`);
      }
      parts.push(await readExact(c, size));
      if ((await readLine(c, 2)) !== "") {
        throw new HttpFault(400, "malformed chunk: no CRLF after its data");
      }
    }
    // trailers: read and dropped
    for (let n = 0;; n++) {
      if (n > MAX_HEADER_LINES) {
        throw new HttpFault(431, "too many trailer lines");
      }
      if ((await readLine(c, maxHeaderBytes)) === "") break;
    }
    const body = new Uint8Array(total);
    let at = 0;
    for (const p of parts) {
      body.set(p, at);
      at += p.length;
    }
    return body;
  }

  async function respond(
    c: Connection,
    response: Response,
    head: Head,
    keepAlive: boolean,
  ) {
    const method = head.method;
    const status = response.status;
    const noBody = status < 200 || status === 204 || status === 304;
    const body = noBody || !response.body
      ? new Uint8Array(0)
      : new Uint8Array(await response.arrayBuffer());
    let text = `HTTP/1.1 ${status} ${
      response.statusText || REASONS[status] || ""
    }\r\n`;
    for (const [name, value] of response.headers) {
      if (
        name === "connection" || name === "content-length" ||
        name === "transfer-encoding" || name === "keep-alive" ||
        name === "set-cookie"
      ) continue;
      text += `${name}: ${value}\r\n`;
    }
    for (const cookie of response.headers.getSetCookie()) {
      text += `set-cookie: ${cookie}\r\n`;
    }
    if (!noBody) text += `content-length: ${body.length}\r\n`;
    if (!keepAlive) text += "connection: close\r\n";
    else if (head.minor === 0) text += "connection: keep-alive\r\n";
    text += "\r\n";
    const bytes = new TextEncoder().encode(text);
    c.state = "writing";
    c.deadline = Date.now() + requestTimeoutMs;
    await c.write(method === "HEAD" || noBody ? bytes : concat(bytes, body));
    c.lastActive = Date.now();
  }

  async function handle(c: Connection) {
    const remoteAddr = c.conn.remoteAddr as Deno.NetAddr;
    for (let first = true;; first = false) {
      let head: Head | undefined;
      let keepAlive = false;
      try {
        head = await readHead(c, first);
        if (!head) return;
        const connection = tokens(head, "connection");
        keepAlive = head.minor === 1
          ? !connection.includes("close")
          : connection.includes("keep-alive");
        const request = await readRequest(c, head);
        c.state = "busy";
        stats.requests++;
        let response: Response;
        try {
          response = await handler(request, { remoteAddr });
        } catch (error) {
          report(`handler failed: ${(error as Error)?.message ?? error}`);
          response = Response.json(
            { error: { status: 500, message: "internal error" } },
            { status: 500 },
          );
        }
        if (closing || c.closing) keepAlive = false;
        if (c.closed) return;
        await respond(c, response, head, keepAlive);
      } catch (error) {
        if (c.closed || c.expired || isIoError(error)) return;
        if (!(error instanceof HttpFault)) throw error;
        c.state = "writing";
        c.deadline = Date.now() + 1000;
        await c.write(errorBytes(error.status, error.message)).catch(() => {});
        await linger(c);
        return;
      }
      if (!keepAlive) return;
    }
  }

  async function readRequest(c: Connection, head: Head): Promise<Request> {
    const hosts = all(head, "host");
    if (hosts.length > 1 || (head.minor === 1 && hosts.length === 0)) {
      throw new HttpFault(400, "a request needs exactly one Host header");
    }
    const host = hosts[0] || `${addr.hostname}:${addr.port}`;
    if (!HOST.test(host)) throw new HttpFault(400, "malformed Host header");
    let url: URL;
    try {
      url = head.target.startsWith("/")
        ? new URL(`http://${host}${head.target}`)
        : head.target === "*" && head.method === "OPTIONS"
        ? new URL(`http://${host}/`)
        : /^https?:\/\//i.test(head.target)
        ? new URL(head.target)
        : (() => {
          throw new HttpFault(400, "malformed request target");
        })();
    } catch (error) {
      if (error instanceof HttpFault) throw error;
      throw new HttpFault(400, "malformed request target");
    }
    // the body: Content-Length, or chunked; never both
    const te = tokens(head, "transfer-encoding");
    const lengths = all(head, "content-length").flatMap((v) => v.split(","))
      .map((v) => v.trim());
    let body: Uint8Array<ArrayBuffer> | undefined;
    c.state = "body";
    c.deadline = Date.now() + requestTimeoutMs;
    const expect = all(head, "expect").map((v) => v.toLowerCase());
    if (
      expect.length > 0 &&
      !(expect.length === 1 && expect[0] === "100-continue")
    ) {
      throw new HttpFault(417, `cannot meet Expect: ${expect.join(", ")}`);
    }
    const proceed = async () => {
      if (expect.length > 0 && head.minor === 1) {
        await c.write(
          new TextEncoder().encode("HTTP/1.1 100 Continue\r\n\r\n"),
        );
      }
    };
    if (te.length > 0) {
      if (lengths.length > 0) {
        throw new HttpFault(400, "both Content-Length and Transfer-Encoding");
      }
      if (head.minor === 0) {
        throw new HttpFault(400, "Transfer-Encoding in an HTTP/1.0 request");
      }
      if (te.length !== 1 || te[0] !== "chunked") {
        throw new HttpFault(
          501,
          `transfer coding ${te.join(", ")} is not supported`,
        );
      }
      await proceed();
      body = await readChunked(c);
    } else if (lengths.length > 0) {
      if (!lengths.every((v) => /^\d{1,15}$/.test(v) && v === lengths[0])) {
        throw new HttpFault(400, "malformed Content-Length");
      }
      const length = Number(lengths[0]);
      if (length > maxBodyBytes) {
        throw new HttpFault(413, `body over ${maxBodyBytes} bytes`);
      }
      if (length > 0) {
        await proceed();
        body = await readExact(c, length);
      }
    }
    const headers = new Headers();
    for (const [name, value] of head.headers) {
      try {
        headers.append(name, value);
      } catch {
        throw new HttpFault(400, `malformed value of header ${name}`);
      }
    }
    const method = head.method;
    const withBody = body !== undefined && method !== "GET" &&
      method !== "HEAD";
    try {
      return new Request(url, {
        method,
        headers,
        body: withBody ? body : undefined,
      });
    } catch {
      throw new HttpFault(405, `method ${method} is not allowed`);
    }
  }

  let resolveFinished!: () => void;
  const finished = new Promise<void>((r) => resolveFinished = r);
  let shuttingDown: Promise<void> | undefined;
  const accepting = acceptLoop();

  function shutdown(): Promise<void> {
    if (shuttingDown) return shuttingDown;
    closing = true;
    shuttingDown = (async () => {
      try {
        listener.close();
      } catch { /* closed */ }
      await accepting;
      // every connection ends after its next response; one idle (no byte
      // of a request read) gets a grace for a request already on its way,
      // then goes; the others finish their request
      for (const c of open) c.closing = true;
      const idle = (c: Connection) =>
        c.state === "idle" || (c.state === "head" && c.received === 0);
      let timer: ReturnType<typeof setTimeout> | undefined;
      const deadline = new Promise((r) =>
        timer = setTimeout(r, drainTimeoutMs)
      );
      let graceTimer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        Promise.all([...tasks]),
        new Promise((r) =>
          graceTimer = setTimeout(
            r,
            Math.min(SHUTDOWN_IDLE_GRACE_MS, drainTimeoutMs),
          )
        ),
      ]);
      clearTimeout(graceTimer);
      for (const c of open) if (idle(c)) c.close();
      await Promise.race([Promise.all([...tasks]), deadline]);
      clearTimeout(timer);
      for (const c of open) c.close();
      await Promise.all([...tasks]);
      clearInterval(sweeper);
      resolveFinished();
    })();
    return shuttingDown;
  }

  if (options.signal) {
    if (options.signal.aborted) shutdown();
    else {options.signal.addEventListener("abort", () => shutdown(), {
        once: true,
      });}
  }
  options.onListen?.(addr);
  return {
    addr,
    finished,
    shutdown,
    stats: () => ({ connections: open.size, ...stats }),
  };
}
