/**
 * The HTTP/1.1 server: keep-alive, pipelining, deadlines, limits, the
 * connection limit and its refusals, request smuggling shapes, shutdown.
 * Raw sockets speak the bytes a careless or hostile client would.
 */
import assert from "node:assert/strict";
import { checkServerOptions, serve, type Server } from "./server.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Sends `text` on a new connection and reads until the server closes it (or `ms` pass). */
async function raw(
  server: Server,
  text: string | Uint8Array,
  ms = 3000,
): Promise<{ text: string; closed: boolean; millis: number }> {
  const conn = await Deno.connect({
    hostname: "127.0.0.1",
    port: server.addr.port,
  });
  const t0 = performance.now();
  if (text.length > 0) {
    await conn.write(typeof text === "string" ? enc.encode(text) : text);
  }
  return await readAll(conn, ms, t0);
}

async function readAll(conn: Deno.Conn, ms: number, t0 = performance.now()) {
  let out = "";
  let closed = false;
  const timer = setTimeout(() => conn.close(), ms);
  const buf = new Uint8Array(65536);
  try {
    for (;;) {
      const n = await conn.read(buf);
      if (n === null) {
        closed = true;
        break;
      }
      out += dec.decode(buf.subarray(0, n));
    }
  } catch {
    // closed by our timer, or reset
  } finally {
    clearTimeout(timer);
    try {
      conn.close();
    } catch { /* closed */ }
  }
  return { text: out, closed, millis: performance.now() - t0 };
}

const statuses = (text: string) =>
  [...text.matchAll(/HTTP\/1\.1 (\d{3}) /g)].map((m) => Number(m[1]));

function start(
  options: Parameters<typeof serve>[1] = {},
  handler?: Parameters<typeof serve>[0],
) {
  return serve(
    handler ??
      (async (request) =>
        Response.json({
          method: request.method,
          path: new URL(request.url).pathname,
          body: await request.text(),
        })),
    { port: 0, onError: () => {}, ...options },
  );
}

Deno.test("server: keep-alive, pipelining, chunked bodies, HEAD, Expect", async () => {
  const server = start();
  try {
    // two pipelined requests in one write, answered in order on one connection
    const two = await raw(
      server,
      "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nabc" +
        "GET /b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(statuses(two.text), [200, 200]);
    assert.ok(two.closed);
    assert.match(two.text, /"path":"\/a","body":"abc"/);
    assert.match(two.text, /"method":"GET","path":"\/b","body":""/);
    // a chunked body is decoded
    const chunked = await raw(
      server,
      "POST /c HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n" +
        "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nTrailer: x\r\n\r\n",
    );
    assert.deepEqual(statuses(chunked.text), [200]);
    assert.match(chunked.text, /"body":"abcde"/);
    // HEAD: the length, no body
    const head = await raw(
      server,
      "HEAD / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.match(head.text, /^HTTP\/1\.1 200 OK\r\n/);
    assert.match(head.text, /content-length: \d+\r\n/);
    assert.ok(head.text.endsWith("\r\n\r\n"), head.text);
    // Expect: 100-continue gets its interim answer before the body is sent
    const conn = await Deno.connect({
      hostname: "127.0.0.1",
      port: server.addr.port,
    });
    await conn.write(enc.encode(
      "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
    ));
    const interim = new Uint8Array(100);
    const n = await conn.read(interim);
    assert.equal(
      dec.decode(interim.subarray(0, n!)),
      "HTTP/1.1 100 Continue\r\n\r\n",
    );
    await conn.write(enc.encode("ok"));
    const rest = await readAll(conn, 3000);
    assert.match(rest.text, /^HTTP\/1\.1 200 OK/);
    assert.match(rest.text, /"body":"ok"/);
    // HTTP/1.0 closes unless asked to keep alive
    const old = await raw(server, "GET / HTTP/1.0\r\n\r\n");
    assert.deepEqual(statuses(old.text), [200]);
    assert.ok(old.closed);
    assert.match(old.text, /connection: close/);
    // the ordinary client
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/f`, {
      method: "POST",
      body: "x".repeat(100_000),
    });
    assert.equal((await res.json()).body.length, 100_000);
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: malformed and smuggling-shaped requests are refused, and the connection closed", async () => {
  const server = start({ maxHeaderBytes: 1024, maxBodyBytes: 1000 });
  const cases: [string, number, string][] = [
    [
      "GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\nabc",
      400,
      "both Content-Length and Transfer-Encoding",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
      501,
      "transfer coding gzip is not supported",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
      501,
      "transfer coding gzip, chunked is not supported",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
      400,
      "malformed Content-Length",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
      400,
      "malformed Content-Length",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 0x10\r\n\r\n",
      400,
      "malformed Content-Length",
    ],
    [
      "GET / HTTP/1.1\nHost: x\n\n",
      400,
      "malformed request: line ends in a bare LF",
    ],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n",
      400,
      "malformed header: folded line",
    ],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nBad Name: 1\r\n\r\n",
      400,
      "malformed header name",
    ],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n\r\n",
      400,
      "malformed value of header X",
    ],
    ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505, "HTTP/2.0 is not supported"],
    ["GET /\r\n\r\n", 400, "malformed request line"],
    ["GET  / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request line"],
    ["GET /\x7f HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed request target"],
    [
      "GET nowhere HTTP/1.1\r\nHost: x\r\n\r\n",
      400,
      "malformed request target",
    ],
    ["GET / HTTP/1.1\r\n\r\n", 400, "a request needs exactly one Host header"],
    [
      "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n",
      400,
      "a request needs exactly one Host header",
    ],
    ["GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400, "malformed Host header"],
    [
      "GET / HTTP/1.1\r\nHost: x\r\nExpect: magic\r\n\r\n",
      417,
      "cannot meet Expect: magic",
    ],
    [
      `GET / HTTP/1.1\r\nHost: x\r\nX: ${"a".repeat(2000)}\r\n\r\n`,
      431,
      "request head over 1024 bytes",
    ],
    [
      `GET / HTTP/1.1\r\nHost: x\r\n${"X: 1\r\n".repeat(120)}\r\n`,
      431,
      "more than 100 header lines",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 5000\r\n\r\n" +
      "a".repeat(5000),
      413,
      "body over 1000 bytes",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n7d0\r\n" +
      "a".repeat(2000) + "\r\n0\r\n\r\n",
      413,
      "body over 1000 bytes",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      400,
      "malformed chunk size",
    ],
    [
      "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
      400,
      "malformed chunk: no CRLF after its data",
    ],
    ["TRACE / HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method TRACE is not allowed"],
  ];
  try {
    for (const [request, status, message] of cases) {
      const got = await raw(server, request);
      assert.deepEqual(
        statuses(got.text),
        [status],
        JSON.stringify(request.slice(0, 80)),
      );
      const body = JSON.parse(got.text.slice(got.text.indexOf("\r\n\r\n") + 4));
      assert.deepEqual(body, { error: { status, message } });
      assert.match(got.text, /\r\nconnection: close\r\n/);
      assert.ok(got.closed, "the connection is closed after an error");
    }
    // leading empty lines before a request are allowed
    const lead = await raw(
      server,
      "\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert.deepEqual(statuses(lead.text), [200]);
    assert.equal(server.stats().connections, 0);
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: deadlines for the head, the body and idle keep-alive connections", async () => {
  const server = start({
    headersTimeoutMs: 300,
    requestTimeoutMs: 300,
    idleTimeoutMs: 200,
  });
  try {
    // nothing sent: closed without an answer
    const silent = await raw(server, "");
    assert.equal(silent.text, "");
    assert.ok(silent.closed);
    assert.ok(silent.millis >= 250 && silent.millis < 2000, `${silent.millis}`);
    // a head that never ends (slowloris): 408
    const slow = await raw(server, "GET / HTTP/1.1\r\nHost: x\r\n");
    assert.deepEqual(statuses(slow.text), [408]);
    assert.match(slow.text, /"request head not received in time"/);
    // a body that never completes: 408
    const body = await raw(
      server,
      "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc",
    );
    assert.deepEqual(statuses(body.text), [408]);
    assert.match(body.text, /"request body not received in time"/);
    // a keep-alive connection is closed once idle
    const idle = await raw(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.deepEqual(statuses(idle.text), [200]);
    assert.ok(idle.closed);
    assert.ok(idle.millis >= 150 && idle.millis < 2000, `${idle.millis}`);
    assert.equal(server.stats().timedOut, 4);
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: at the connection limit the longest idle one makes room; when all are busy, 503", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  const server = start({ maxConnections: 3 }, async (request) => {
    if (new URL(request.url).pathname === "/slow") await gate;
    return new Response("ok");
  });
  const base = `http://127.0.0.1:${server.addr.port}`;
  try {
    // three idle connections fill the server; a real request still gets in
    const idle = await Promise.all(
      [0, 1, 2].map(() =>
        Deno.connect({ hostname: "127.0.0.1", port: server.addr.port })
      ),
    );
    await new Promise((r) => setTimeout(r, 50));
    const res = await fetch(`${base}/`, { headers: { connection: "close" } });
    assert.equal(await res.text(), "ok");
    assert.equal(server.stats().evicted, 1);
    idle.forEach((c) => c.close());
    await new Promise((r) => setTimeout(r, 50));
    // three requests in progress: a fourth connection is refused with 503
    const slow = [0, 1, 2].map(() =>
      raw(server, "GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    );
    for (let i = 0; i < 100 && server.stats().requests < 4; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
    const refused = await raw(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    assert.deepEqual(statuses(refused.text), [503]);
    assert.match(refused.text, /"server busy: too many connections"/);
    assert.match(refused.text, /retry-after: 1/);
    assert.equal(server.stats().refused, 1);
    release();
    for (const got of await Promise.all(slow)) {
      assert.deepEqual(statuses(got.text), [200]);
    }
  } finally {
    release();
    await server.shutdown();
  }
});

Deno.test("server: a handler that throws is a 500 that tells nothing", async () => {
  const errors: string[] = [];
  const server = serve(() => {
    throw new Error("secret internals");
  }, { port: 0, onError: (m) => errors.push(m) });
  try {
    const res = await fetch(`http://127.0.0.1:${server.addr.port}/`);
    assert.equal(res.status, 500);
    assert.deepEqual(await res.json(), {
      error: { status: 500, message: "internal error" },
    });
    assert.deepEqual(errors, ["handler failed: secret internals"]);
  } finally {
    await server.shutdown();
  }
});

Deno.test("server: shutdown lets requests in progress finish, closes idle ones, accepts no more", async () => {
  let release!: () => void;
  const gate = new Promise<void>((r) => release = r);
  let started!: () => void;
  const inHandler = new Promise<void>((r) => started = r);
  const controller = new AbortController();
  const server = start({ signal: controller.signal }, async () => {
    started();
    await gate;
    return new Response("done");
  });
  const port = server.addr.port;
  const idle = await Deno.connect({ hostname: "127.0.0.1", port });
  const busy = raw(server, "GET / HTTP/1.1\r\nHost: x\r\n\r\n");
  await inHandler;
  controller.abort();
  // the idle connection is closed at once
  const idleEnd = await readAll(idle, 2000);
  assert.ok(idleEnd.closed && idleEnd.text === "");
  // no new connections
  await assert.rejects(() => Deno.connect({ hostname: "127.0.0.1", port }));
  release();
  const got = await busy;
  assert.deepEqual(statuses(got.text), [200]);
  assert.match(got.text, /connection: close\r\n/);
  await server.finished;
  assert.equal(server.stats().connections, 0);
});

Deno.test("server: options are checked before listening", () => {
  assert.throws(() => checkServerOptions({ maxConnections: 0 }), {
    name: "ConfigError",
    message: "maxConnections must be an integer >= 1, got 0",
  });
  assert.throws(
    () => checkServerOptions({ hostname: " " }),
    /hostname must not be empty/,
  );
  assert.throws(
    () =>
      checkServerOptions({ headersTimeoutMs: 1.5 }, {
        headersTimeoutMs: "http.headersTimeoutMs",
      }),
    { message: "http.headersTimeoutMs must be an integer >= 1, got 1.5" },
  );
  assert.throws(
    () => checkServerOptions({ maxConnections: 100_000_000 }),
    /open-file limit/,
  );
  assert.throws(
    () => serve(() => new Response(), { port: -1 }),
    /port must be an integer from 0 to 65535, got -1/,
  );
});
