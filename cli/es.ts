/**
 * `deno task es:start|es:stop|es:status`: manage the local development
 * Elasticsearch node (see `es_node.ts`).
 *
 * @module
 */

import { parseFlags, run } from "./common.ts";
import { ConfigError } from "../errors/mod.ts";
import {
  ES_VERSION,
  localNodeStatus,
  startLocalNode,
  stopLocalNode,
} from "../elasticsearch/local_node.ts";

const HELP = `
deno task es:start | es:stop | es:status

Runs a local single-node Elasticsearch ${ES_VERSION} on 127.0.0.1 (a free port)
for development and tests. The first start downloads the official
integ-test distribution from Maven Central with mvn (JDK 17+ and Maven
needed). start prints the URL on stdout (export ES_URL=$(deno task -q es:start));
an already running node is reused.

Environment: CCO_ES_HEAP (default 1g), CCO_ES_CACHE (download cache),
JAVA_HOME.
`;

/**
 * Runs `es start|stop|status` with command-line arguments.
 *
 * @param args The arguments after the command name (the subcommand first).
 */
export async function esCommand(args: string[]): Promise<void> {
  const [command] = args.filter((a) => !a.startsWith("-"));
  parseFlags({}, HELP, args.filter((a) => a.startsWith("-")));
  switch (command) {
    case "start": {
      const node = await startLocalNode();
      if (node.reused) console.error(`[es] reusing the node at ${node.url}`);
      console.log(node.url);
      break;
    }
    case "stop":
      console.error(
        (await stopLocalNode()) ? "[es] stopped" : "[es] not running",
      );
      break;
    case "status": {
      const node = await localNodeStatus();
      if (!node) {
        console.log("not running");
        Deno.exit(1);
      }
      console.log(
        `${node.url} (pid ${node.pid}, Elasticsearch ${node.version})`,
      );
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
