/**
 * The package as a consumer meets it: what the root module loads and
 * exports, and that it imports by path from another project.
 */
import assert from "node:assert/strict";

const root = new URL("..", import.meta.url).pathname;

async function run(args: string[], cwd: string) {
  const out = await new Deno.Command(Deno.execPath(), {
    args,
    cwd,
    env: { NO_COLOR: "1" },
  }).output();
  return {
    code: out.code,
    stdout: new TextDecoder().decode(out.stdout),
    stderr: new TextDecoder().decode(out.stderr),
  };
}

Deno.test("the root module loads no Elasticsearch client and no npm package", async () => {
  const info = await run(["info", "--json", `${root}mod.ts`], root);
  assert.equal(info.code, 0, info.stderr);
  const modules = (JSON.parse(info.stdout).modules as { specifier: string }[])
    .map((m) => m.specifier);
  // node: built-ins ship with Deno (the reader uses node:zlib for gzip with
  // several members); npm packages and remote modules must not load
  assert.deepEqual(
    modules.filter((m) => !m.startsWith("file://") && !m.startsWith("node:")),
    [],
  );
  assert.deepEqual(
    modules.filter((m) => m.includes("/elasticsearch/") || m.includes("/cli/")),
    [],
  );
});

Deno.test("the root module exports the common path only", async () => {
  const mod = await import("../mod.ts");
  const names = Object.keys(mod).sort();
  assert.deepEqual(names, [
    "CcoError",
    "ConfigError",
    "DeadlineError",
    "EmbeddedRecommender",
    "EventParseError",
    "ItemsError",
    "ModelError",
    "PRESETS",
    "RequestError",
    "UnavailableError",
    "buildIndicators",
    "manifestFor",
    "mergeItems",
    "openModel",
    "parseEvents",
    "readEventBatches",
    "readEvents",
    "readItems",
    "readModel",
    "writeModel",
  ]);
});

Deno.test("every sub-path export of deno.json resolves, and the package imports by path", async () => {
  const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));
  for (
    const [name, path] of Object.entries(
      config.exports as Record<string, string>,
    )
  ) {
    const mod = await import(new URL(path, `file://${root}`).href);
    assert.ok(Object.keys(mod).length > 0, name);
  }
  // another project, without our import map: the package works by path
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/deno.json`, "{}");
    await Deno.writeTextFile(
      `${dir}/main.ts`,
      `import { buildIndicators, EmbeddedRecommender } from "${root}mod.ts";
import { createClient } from "${root}elasticsearch/mod.ts";
const model = await buildIndicators([
  { user: "u1", item: "a", event: "buy", timestamp: 1 },
  { user: "u1", item: "b", event: "buy", timestamp: 2 },
  { user: "u2", item: "c", event: "buy", timestamp: 3 },
], { primaryEvent: "buy", minRootLlr: 0 });
const recs = await new EmbeddedRecommender(model).recommend({ history: ["a"], backfill: false });
console.log(JSON.stringify(recs.map((r) => r.id)), typeof createClient);
`,
    );
    const r = await run(
      ["run", "--allow-read", "--allow-env", "--allow-sys", "main.ts"],
      dir,
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '["b"] function');
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
