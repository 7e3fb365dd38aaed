/**
 * Chaos: a flood of idle and half-sent connections against a real `serve`
 * under `ulimit -n 256`. Before issue 14 about 230 idle connections made
 * `serve` exit with "Too many open files". Now it must stay up, answer
 * real requests during the flood (the connection idle the longest makes
 * room), recover after it, and stop cleanly on SIGTERM.
 */
import assert from "node:assert/strict";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { readEvents } from "../events/read.ts";
import { buildIndicators } from "../indicators/build.ts";
import { writeModel } from "../model/ndjson.ts";
import { esTest } from "./_es.ts";
import { startServe } from "./_serve.ts";
import { report } from "./_chaos_report.ts";

const root = new URL("..", import.meta.url).pathname;
const FILE_LIMIT = 256;
const FLOOD = 1500;

/** How many more files this (test) process may open. */
function clientRoom(): number {
  try {
    const text = Deno.readTextFileSync("/proc/self/limits");
    const m = /^Max open files\s+(\d+)/m.exec(text);
    return m ? Number(m[1]) - 200 : FLOOD;
  } catch {
    return FLOOD;
  }
}

async function flood(
  base: string,
): Promise<{ flooded: number; answered: number; retries: number }> {
  const port = Number(new URL(base).port);
  const want = Math.min(FLOOD, clientRoom());
  assert.ok(
    want >= 2 * FILE_LIMIT,
    `the test process can open only ${want} connections`,
  );
  const body = JSON.stringify({ history: ["1205"], num: 3 });
  // A connection the server sheds before reading it (out of files, it may
  // close one still in its accept queue) fails with no answer at all: the
  // client retries such an idempotent request once, as HTTP clients do. A
  // wrong or partial answer is never retried. Retries are counted and bounded.
  let retries = 0;
  const once = async () => {
    const res = await fetch(`${base}/recommendations`, {
      method: "POST",
      body,
      headers: { connection: "close" },
    });
    return { status: res.status, text: await res.text() };
  };
  const ask = async () => {
    try {
      return await once();
    } catch (error) {
      if (!(error instanceof TypeError)) throw error;
      retries++;
      return await once();
    }
  };
  const want200 = await ask();
  assert.equal(want200.status, 200);
  const conns: Deno.Conn[] = [];
  let answered = 0;
  try {
    for (let i = 0; i < want; i++) {
      const conn = await Deno.connect({ hostname: "127.0.0.1", port });
      conns.push(conn);
      // a third send half a request head (slowloris), the rest nothing
      if (i % 3 === 0) {
        await conn.write(
          new TextEncoder().encode(
            "POST /recommendations HTTP/1.1\r\nHost: x\r\n",
          ),
        ).catch(() => {});
      }
      // real requests while the flood goes on
      if (i % 100 === 99) {
        const got = await ask();
        assert.deepEqual(
          got,
          want200,
          `request during the flood, after ${i + 1} connections`,
        );
        answered++;
      }
    }
    // many at once, with every idle connection still held open
    const burst = await Promise.all(Array.from({ length: 20 }, ask));
    for (const got of burst) assert.deepEqual(got, want200);
    answered += burst.length;
  } finally {
    for (const c of conns) {
      try {
        c.close();
      } catch { /* closed by the server */ }
    }
  }
  // and after it
  await new Promise((r) => setTimeout(r, 200));
  assert.deepEqual(await ask(), want200);
  assert.ok(retries <= 3, `${retries} requests had to be sent twice`);
  return { flooded: conns.length, answered: answered + 1, retries };
}

async function run(args: string[], env: Record<string, string>, label: string) {
  const serve = await startServe(args, { env, nofile: FILE_LIMIT });
  let exited = false;
  serve.status.then(() => exited = true);
  try {
    const { flooded, answered, retries } = await flood(serve.base);
    assert.equal(exited, false, `serve died: ${serve.stderr()}`);
    report(
      "connections flooded",
      flooded,
      `${label}: ${answered} requests answered 200 during and after, ${retries} sent twice`,
    );
  } finally {
    const t0 = performance.now();
    const status = await serve.stop("SIGTERM");
    const millis = performance.now() - t0;
    assert.equal(status.code, 0, serve.stderr());
    assert.ok(millis < 5000, `stopped after ${millis} ms`);
    const err = serve.stderr();
    assert.match(
      err,
      /stopping \(SIGTERM\): answering the requests in progress/,
    );
    assert.match(
      err,
      /out of file descriptors with \d+ connections open: serving at most \d+ from now on/,
    );
    assert.doesNotMatch(
      err,
      /Uncaught|Too many open files \(os error 24\)\n\s+at |^\s+at /m,
    );
  }
}

Deno.test("chaos: an idle-connection flood under ulimit -n 256 (embedded backend)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const model = await buildIndicators(
      readEvents(`${root}fixtures/demo_events.csv`),
      {
        primaryEvent: "transaction",
      },
    );
    await writeModel(`${dir}/model.ndjson`, model);
    await run(["--indicators", `${dir}/model.ndjson`], {}, "embedded");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

esTest(
  "chaos: an idle-connection flood under ulimit -n 256 (Elasticsearch backend)",
  async ({ client, url, index }) => {
    const alias = index("flood");
    const model = await buildIndicators(
      readEvents(`${root}fixtures/demo_events.csv`),
      {
        primaryEvent: "transaction",
      },
    );
    await publishIndex(client, alias, model);
    try {
      await run(["--alias", alias], { ES_URL: url }, "elasticsearch");
    } finally {
      await client.indices.delete({ index: `${alias}_*` });
    }
  },
);
