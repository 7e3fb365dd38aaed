/**
 * Connection settings and auth errors against a real, secured node (a second
 * local node with security on and a file-realm user), started for this test.
 */
import assert from "node:assert/strict";
import { connect } from "../elasticsearch/connection.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import { startLocalNode, stopLocalNode } from "../elasticsearch/local_node.ts";
import { manifestFor } from "../model/manifest.ts";

const needed = Deno.env.get("ES_URL") || Deno.env.get("CI") === "true";
const user = { username: "cco", password: "cco-test-password" };
const root = new URL("..", import.meta.url).pathname;

Deno.test({
  name: `auth: clear errors, basic auth, config file [secured node]${
    needed ? "" : " [needs ES_URL]"
  }`,
  ignore: !needed,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async () => {
    const node = await startLocalNode({ name: "secured", user });
    try {
      const url = node.url;
      const where = `${url}/`;
      await assert.rejects(() => connect({ url }), {
        name: "UnavailableError",
        message:
          `authentication to Elasticsearch at ${where} failed (401, no credentials): set a valid ES_API_KEY, or ES_USERNAME and ES_PASSWORD`,
      });
      await assert.rejects(
        () => connect({ url, username: "cco", password: "wrong" }),
        {
          name: "UnavailableError",
          message:
            `authentication to Elasticsearch at ${where} failed (401, ES_USERNAME/ES_PASSWORD): set a valid ES_API_KEY, or ES_USERNAME and ES_PASSWORD`,
        },
      );
      await assert.rejects(() => connect({ url, apiKey: "bm90OmFrZXk=" }), {
        name: "UnavailableError",
        message: /failed \(401, ES_API_KEY\)/,
      });

      // basic auth works end to end. (Creating an API key is not possible on
      // the integ-test distribution: its .security index needs the missing
      // analysis-common module. A key is sent as the client's apiKey auth;
      // its rejection is covered above.)
      const basic = await connect({ url, ...user });
      const alias = `auth-${crypto.randomUUID().slice(0, 8)}`;
      const documents = [
        { id: "a", indicators: ["b"] },
        { id: "b", indicators: ["a"] },
      ];
      const published = await publishIndex(basic, alias, {
        manifest: manifestFor(documents, { primaryEvent: "transaction" }),
        documents,
      });
      assert.equal(published.documents, 2);
      await basic.close();

      // the CLI: a wrong password is one line, and never printed
      const dir = await Deno.makeTempDir();
      const config = `${dir}/es.json`;
      await Deno.writeTextFile(
        config,
        JSON.stringify({ url, username: "cco", password: "hunter2-wrong" }),
      );
      const run = (args: string[]) =>
        new Deno.Command(Deno.execPath(), {
          args: [
            "run",
            "-A",
            `${root}cli/index_admin.ts`,
            "list",
            "--alias",
            alias,
            ...args,
          ],
          env: { ES_URL: "", NO_COLOR: "1" },
        }).output();
      const bad = await run(["--es-config", config]);
      const stderr = new TextDecoder().decode(bad.stderr);
      assert.equal(bad.code, 1);
      assert.equal(
        stderr,
        `error: authentication to Elasticsearch at ${where} failed (401, ES_USERNAME/ES_PASSWORD): set a valid ES_API_KEY, or ES_USERNAME and ES_PASSWORD\n`,
      );
      assert.ok(!stderr.includes("hunter2"));
      await Deno.writeTextFile(config, JSON.stringify({ url, ...user }));
      const good = await run(["--es-config", config]);
      assert.equal(good.code, 0, new TextDecoder().decode(good.stderr));
      assert.match(
        new TextDecoder().decode(good.stdout),
        new RegExp(`^\\* ${alias}_\\d{17} +2 docs  live`),
      );
      await Deno.remove(dir, { recursive: true });
    } finally {
      if (!node.reused) await stopLocalNode({ name: "secured" });
    }
  },
});
