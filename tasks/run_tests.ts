/**
 * `deno task test`: the whole test suite, with a real Elasticsearch.
 *
 * Uses `ES_URL` when set. Otherwise starts the local node
 * (`elasticsearch/local_node.ts`), runs the tests against it, and stops it
 * afterwards (a node that was already running is reused and left running),
 * and runs the 3-node cluster group too (`tests/cluster_test.ts` starts and
 * stops its own cluster; `CCO_ES_CLUSTER_TESTS=1`). Under `CI=true` a node
 * that cannot start is a failure; Elasticsearch tests are never skipped
 * there. Extra arguments go to `deno test` (e.g. a path or `--filter`).
 *
 * @module
 */

import { startLocalNode, stopLocalNode } from "../elasticsearch/local_node.ts";

let url = Deno.env.get("ES_URL") || undefined;
let started = false;
if (url) {
  console.error(`[test] Elasticsearch: ES_URL=${url}`);
} else {
  try {
    const node = await startLocalNode();
    url = node.url;
    started = !node.reused;
    console.error(
      `[test] Elasticsearch ${node.version}: local node at ${url}${
        node.reused ? " (already running)" : ""
      }`,
    );
  } catch (error) {
    console.error(
      `[test] error: cannot start the local Elasticsearch: ${
        (error as Error).message
      }`,
    );
    Deno.exit(1);
  }
}

const stop = async () => {
  if (started) {
    started = false;
    await stopLocalNode();
    console.error("[test] stopped the local Elasticsearch");
  }
};
const onSignal = () => {
  stop().finally(() => Deno.exit(130));
};
Deno.addSignalListener("SIGINT", onSignal);
Deno.addSignalListener("SIGTERM", onSignal);

let code = 1;
let summary = "";
try {
  const child = new Deno.Command(Deno.execPath(), {
    // --doc: every example in the documentation runs and asserts too
    args: ["test", "-A", "--doc", ...Deno.args],
    // with a local node, Java is here: the cluster group can run too
    env: {
      ES_URL: url!,
      ...(Deno.env.get("ES_URL") ? {} : { CCO_ES_CLUSTER_TESTS: "1" }),
    },
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  // Pass the output through, keeping its tail for the summary line.
  let tail = "";
  const decoder = new TextDecoder();
  for await (const chunk of child.stdout) {
    await Deno.stdout.write(chunk);
    tail = (tail + decoder.decode(chunk, { stream: true })).slice(-4096);
  }
  code = (await child.status).code;
  summary = summarize(tail);
} finally {
  await stop();
}
// A plain closing line that any CI log reader understands.
if (summary) console.log(summary);
Deno.exit(code);

/** `deno test`'s "ok | 12 passed | 0 failed | 1 ignored" as "tests: 12 passed, 0 failed, 1 skipped". */
function summarize(output: string): string {
  // deno-lint-ignore no-control-regex
  const plain = output.replace(/\x1b\[[0-9;]*m/g, "");
  const m =
    /(\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?(?: \| (\d+) ignored)?/
      .exec(plain.split("\n").filter((l) => / passed /.test(l)).pop() ?? "");
  if (!m) return "";
  const skipped = Number(m[5] ?? 0);
  return `tests: ${m[1]} passed, ${m[3]} failed${
    skipped ? `, ${skipped} skipped` : ""
  }`;
}
