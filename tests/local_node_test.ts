/**
 * Local nodes belong to the checkout (and user) that started them: the same
 * module in another checkout neither reuses nor stops them. "Another
 * checkout" is a copy of `elasticsearch/local_node.ts` in a temporary
 * directory, run in its own process, as `deno task es:status`/`es:stop`
 * would run there.
 *
 * Starts a small node of its own (needs Java, like `deno task test`); runs
 * when `ES_URL` is set or under `CI=true`.
 */
import assert from "node:assert/strict";
import {
  localNodeStatus,
  startLocalNode,
  stopLocalNode,
} from "../elasticsearch/local_node.ts";

const needed = Deno.env.get("ES_URL") || Deno.env.get("CI") === "true";
const NAME = "owner-test";
const moduleFile = new URL("../elasticsearch/local_node.ts", import.meta.url);

/** Runs `code` in a fresh process from directory `dir`; returns its JSON. */
async function runIn(dir: string, code: string): Promise<unknown> {
  await Deno.writeTextFile(`${dir}/probe.ts`, code);
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--no-config", `${dir}/probe.ts`],
    cwd: dir,
    stderr: "inherit",
  }).output();
  assert.ok(out.success, "the probe failed");
  return JSON.parse(new TextDecoder().decode(out.stdout));
}

Deno.test({
  name:
    `local nodes: another checkout neither reuses nor stops this one's [local node]${
      needed ? "" : " [needs ES_URL]"
    }`,
  ignore: !needed,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    // a small node: this test only asks who owns it
    const saved = ["CCO_ES_HEAP", "CCO_ES_JAVA_OPTS"].map((k) =>
      [k, Deno.env.get(k)] as const
    );
    Deno.env.set("CCO_ES_HEAP", "256m");
    Deno.env.set("CCO_ES_JAVA_OPTS", "-XX:TieredStopAtLevel=1");
    const other = await Deno.makeTempDir({ prefix: "cco-es-checkout-" });
    let node;
    try {
      node = await startLocalNode({ name: NAME });
      // its port is not one the kernel hands to outgoing connections
      const range = await Deno.readTextFile(
        "/proc/sys/net/ipv4/ip_local_port_range",
      ).catch(() => undefined);
      if (range) {
        const port = Number(new URL(node.url).port);
        assert.ok(port < Number(range.trim().split(/\s+/)[0]), `${port}`);
      }
      await Deno.mkdir(`${other}/elasticsearch`);
      await Deno.copyFile(moduleFile, `${other}/elasticsearch/local_node.ts`);
      const seen = await runIn(
        other,
        `import { localNodeStatus, stopLocalNode } from "./elasticsearch/local_node.ts";
const status = await localNodeStatus({ name: "${NAME}" });
const stopped = await stopLocalNode({ name: "${NAME}" });
console.log(JSON.stringify({ status: status?.url ?? null, stopped }));`,
      );
      // es:status there finds nothing (so es:start there would start its
      // own node), and es:stop there stops nothing
      assert.deepEqual(seen, { status: null, stopped: false });
      const still = await localNodeStatus({ name: NAME });
      assert.equal(still?.url, node.url);
      assert.equal(still?.nodes[0].running, true);
      assert.equal(still?.owner.uid, Deno.uid());
      // and this checkout stops it
      if (!node.reused) assert.equal(await stopLocalNode({ name: NAME }), true);
    } finally {
      for (const [k, v] of saved) {
        if (v === undefined) Deno.env.delete(k);
        else Deno.env.set(k, v);
      }
      await Deno.remove(other, { recursive: true }).catch(() => {});
      if (node && !node.reused) await stopLocalNode({ name: NAME });
    }
  },
});
