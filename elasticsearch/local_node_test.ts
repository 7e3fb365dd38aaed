import assert from "node:assert/strict";
import { freePorts } from "./local_node.ts";

async function ephemeralLow(): Promise<number | undefined> {
  try {
    return Number(
      (await Deno.readTextFile("/proc/sys/net/ipv4/ip_local_port_range"))
        .trim().split(/\s+/)[0],
    );
  } catch {
    return undefined;
  }
}

// A node's ports came from binds to port 0, inside the kernel's ephemeral
// range: an outgoing connection (another node dialling its seed hosts, a
// test talking to another node) could take one before the node bound it,
// and the node died on start ("address already in use"). CI saw node 2 of
// the 3-node cluster die that way.
Deno.test("freePorts: distinct, free, and below the kernel's ephemeral range", async () => {
  const ports = await freePorts(40);
  assert.equal(ports.length, 40);
  assert.equal(new Set(ports).size, 40);
  const low = await ephemeralLow();
  for (const port of ports) {
    assert.ok(port >= 10_000, `${port}`);
    if (low !== undefined) assert.ok(port < low, `${port} >= ${low}`);
    const listener = Deno.listen({ hostname: "127.0.0.1", port });
    listener.close();
  }
});

Deno.test("freePorts: never hands out a port in use", async () => {
  // hold many ports of the range the picker draws from
  const held: Deno.Listener[] = [];
  try {
    for (let port = 10_000; port < 10_400; port++) {
      try {
        held.push(Deno.listen({ hostname: "127.0.0.1", port }));
      } catch {
        // taken already: just as good
      }
    }
    const busy = new Set(held.map((l) => (l.addr as Deno.NetAddr).port));
    for (let i = 0; i < 20; i++) {
      for (const port of await freePorts(10)) assert.ok(!busy.has(port));
    }
  } finally {
    for (const l of held) l.close();
  }
});
