/**
 * The `cco` command: one entry point for every task, its version from one
 * place, machine-readable output, and a single binary.
 */
import assert from "node:assert/strict";
import { TOOL_VERSION } from "../model/manifest.ts";
import { COMMANDS } from "../cli/main.ts";
import { readModel } from "../model/ndjson.ts";
import { esTest } from "./_es.ts";
import { root, runCli, taskPermissions } from "./_cli.ts";

const fixture = `${root}fixtures/demo_events.csv`;
const config = JSON.parse(await Deno.readTextFile(`${root}deno.json`));

Deno.test("cco --version prints the package version, from deno.json alone", async () => {
  assert.equal(TOOL_VERSION, config.version);
  // nothing else spells the version out
  for (const file of ["model/manifest.ts", "cli/main.ts", "http/openapi.ts"]) {
    const text = await Deno.readTextFile(`${root}${file}`);
    assert.ok(!text.includes(`"${config.version}"`), file);
  }
  const { code, stdout } = await runCli(["--version"], {}, ["--allow-read"]);
  assert.equal(code, 0);
  assert.equal(stdout, `cco-es ${config.version}\n`);
});

Deno.test("cco: usage, an unknown command, each command's help", async () => {
  const usage = await runCli([]);
  assert.equal(usage.code, 0);
  for (const name of Object.keys(COMMANDS)) {
    assert.match(usage.stdout, new RegExp(`^  ${name} +\\S`, "m"), name);
  }
  const unknown = await runCli(["train"]);
  assert.equal(unknown.code, 1);
  assert.equal(
    unknown.stderr,
    'error: unknown command "train" (commands: build-index, serve, recommend, eval, index, es, demo, generate; see cco --help)\n',
  );
  for (const name of Object.keys(COMMANDS)) {
    const help = await runCli([name, "--help"]);
    assert.equal(help.code, 0, name);
    assert.ok(help.stdout.length > 100, name);
  }
});

Deno.test("deno.json: every task of cli/ runs cli/main.ts with a command; ./cli is exported", () => {
  const tasks = Object.entries(config.tasks as Record<string, string>)
    .filter(([, line]) => line.includes("cli/"));
  assert.ok(tasks.length >= 12);
  for (const [name, line] of tasks) {
    const m = / cli\/main\.ts(?: (\S+))?/.exec(line);
    assert.ok(m, `${name}: ${line}`);
    if (name !== "cco") assert.ok(Object.hasOwn(COMMANDS, m[1]), name);
  }
  assert.equal(config.exports["./cli"], "./cli/main.ts");
  assert.ok((config.publish.include as string[]).includes("cli/"));
});

Deno.test("build-index --json: one JSON summary on stdout, progress on stderr", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const out = `${dir}/model.ndjson`;
    const { code, stdout, stderr } = await runCli(
      ["build-index", "--events", fixture, "--out", out, "--json"],
      {},
      taskPermissions("build-index"),
    );
    assert.equal(code, 0, stderr);
    assert.match(stderr, /wrote \d+ documents/);
    const lines = stdout.trim().split("\n");
    assert.equal(lines.length, 1);
    const summary = JSON.parse(lines[0]);
    const model = await readModel(out);
    assert.deepEqual(summary, {
      documents: model.documents.length,
      primaryEvent: "transaction",
      fields: model.manifest.fields.map((
        { name, rows, columns, indicators },
      ) => ({
        name,
        rows,
        columns,
        indicators,
      })),
      counts: model.manifest.counts,
      metadata: model.manifest.metadata,
      out,
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

esTest(
  "index list --json and build-index --json when publishing",
  async ({ url, index }) => {
    const alias = index("cco-json");
    const built = await runCli([
      "build-index",
      "--events",
      fixture,
      "--alias",
      alias,
      "--json",
    ], {
      ES_URL: url,
    });
    assert.equal(built.code, 0, built.stderr);
    const summary = JSON.parse(built.stdout);
    assert.equal(summary.published.alias, alias);
    assert.equal(summary.published.previous, null);
    assert.ok(summary.published.index.startsWith(`${alias}_`));
    const list = await runCli(["index", "list", "--alias", alias, "--json"], {
      ES_URL: url,
    });
    assert.equal(list.code, 0, list.stderr);
    assert.deepEqual(JSON.parse(list.stdout), [{
      index: summary.published.index,
      documents: summary.documents,
      live: true,
      state: "complete",
    }]);
    const rec = await runCli([
      "recommend",
      "--history",
      "1205",
      "--num",
      "3",
      "--json",
      "--alias",
      alias,
    ], {
      ES_URL: url,
    });
    assert.equal(rec.code, 0, rec.stderr);
    assert.equal(JSON.parse(rec.stdout).length, 3);
  },
);

// `deno compile` needs Deno's `denort` runtime, which it downloads from
// dl.deno.land unless DENORT_BIN names a local copy; this machine reaches
// no such host, so the test runs where DENORT_BIN is set.
const denort = Deno.env.get("DENORT_BIN") || undefined;
Deno.test({
  name: `deno compile: one binary that prints its version and runs a command${
    denort ? "" : " [needs DENORT_BIN]"
  }`,
  ignore: !denort,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const binary = `${dir}/cco`;
      const compiled = await new Deno.Command(Deno.execPath(), {
        args: ["compile", "-A", "--output", binary, `${root}cli/main.ts`],
        cwd: root,
      }).output();
      assert.equal(compiled.code, 0, new TextDecoder().decode(compiled.stderr));
      const version = await new Deno.Command(binary, { args: ["--version"] })
        .output();
      assert.equal(
        new TextDecoder().decode(version.stdout),
        `cco-es ${config.version}\n`,
      );
      const model = `${dir}/model.ndjson`;
      const build = await new Deno.Command(binary, {
        args: ["build-index", "--events", fixture, "--out", model, "--json"],
        env: { ES_URL: "" },
      }).output();
      assert.equal(build.code, 0, new TextDecoder().decode(build.stderr));
      const rec = await new Deno.Command(binary, {
        args: [
          "recommend",
          "--indicators",
          model,
          "--history",
          "1205",
          "--json",
        ],
      }).output();
      assert.equal(JSON.parse(new TextDecoder().decode(rec.stdout)).length, 10);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
