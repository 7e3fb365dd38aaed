/**
 * A stand-in for `deno task`: starts `serve` as its child (with the task's
 * permissions and `INIT_CWD` set, as deno task does), prints the child's
 * pid and address, and waits. `reliability_test.ts` kills it with SIGKILL.
 *
 * Arguments: the serve arguments.
 *
 * @module
 */
import { taskCommand } from "./_serve.ts";

const root = new URL("..", import.meta.url).pathname;
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", ...taskCommand("serve"), "--port", "0", ...Deno.args],
  env: { INIT_CWD: root, NO_COLOR: "1" },
  stdout: "piped",
  stderr: "inherit",
}).spawn();
const reader = child.stdout.pipeThrough(new TextDecoderStream()).getReader();
let out = "";
while (!/ on http:\/\/[\d.]+:\d+/.test(out)) {
  const { value, done } = await reader.read();
  if (done) break;
  out += value;
}
console.log(
  JSON.stringify({
    pid: child.pid,
    base: / on (http:\/\/[\d.]+:\d+)/.exec(out)?.[1],
  }),
);
await child.status;
