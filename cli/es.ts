/**
 * `deno task es:start|es:stop|es:status`: manage the local development
 * Elasticsearch node (see `es_node.ts`).
 *
 * @module
 */

import { numberFlag, parseFlags, run } from "./common.ts";
import { ConfigError } from "../errors/mod.ts";
import {
  ES_VERSION,
  localNodeStatus,
  startLocalNode,
  stopLocalNode,
} from "../elasticsearch/local_node.ts";

const HELP = `
deno task es:start | es:stop | es:status [--nodes N] [--name NAME] [--heap H]

Runs a local Elasticsearch ${ES_VERSION} on 127.0.0.1 (free ports) for
development and tests: one node, or with --nodes N a cluster of N nodes. The
first start downloads the official integ-test distribution from Maven Central
with mvn (JDK 17+ and Maven needed). start prints the URL on stdout, or the
nodes' URLs separated by commas, which ES_URL accepts as they are
(export ES_URL=$(deno task -q es:start --nodes 3)); a running cluster of that
name is reused.

The nodes belong to this checkout and user: es:start in another checkout
starts its own, and es:stop stops only what this checkout started.

  --nodes N     nodes forming the cluster (start; default 1, or as many as
                the running cluster of that name has)
  --name NAME   a separate local cluster with its own data (default "dev")
  --heap H      heap per node, e.g. 512m (default $CCO_ES_HEAP, else 1g for
                one node, 512m per node for more)

Environment: CCO_ES_HEAP, CCO_ES_JAVA_OPTS (extra JVM options), CCO_ES_CACHE
(download cache), JAVA_HOME.
`;

/**
 * Runs `es start|stop|status` with command-line arguments.
 *
 * @param args The arguments after the command name (the subcommand first).
 */
export async function esCommand(args: string[]): Promise<void> {
  // the command comes first: `es start --nodes 3`
  const [command, ...rest] = args;
  const flags = parseFlags(
    {
      nodes: { type: "string" },
      name: { type: "string" },
      heap: { type: "string" },
    },
    HELP,
    command?.startsWith("-") ? args : rest,
  );
  const name = flags.name;
  switch (command) {
    case "start": {
      const nodes = numberFlag("nodes", flags.nodes);
      if (nodes !== undefined && nodes < 1) {
        throw new ConfigError("--nodes", `must be at least 1, got ${nodes}`);
      }
      const node = await startLocalNode({ name, nodes, heap: flags.heap });
      if (node.reused) {
        console.error(`[es] reusing the cluster at ${node.urls.join(",")}`);
      }
      console.log(node.urls.join(","));
      break;
    }
    case "stop":
      console.error(
        (await stopLocalNode({ name })) ? "[es] stopped" : "[es] not running",
      );
      break;
    case "status": {
      const node = await localNodeStatus({ name });
      if (!node) {
        console.log("not running");
        Deno.exit(1);
      }
      for (const n of node.nodes) {
        console.log(
          `${n.url} ${n.name} (pid ${n.pid}, ${
            n.running ? "running" : "down"
          }, Elasticsearch ${node.version}, heap ${node.heap})`,
        );
      }
      break;
    }
    default:
      throw new ConfigError(
        "",
        `expected start, stop or status, got ${
          command ?? "nothing"
        } (see --help)`,
      );
  }
}

if (import.meta.main) await run(() => esCommand(Deno.args));
