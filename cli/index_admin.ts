/**
 * `deno task index:list` and `deno task index:rollback`: inspect the
 * versioned indices behind an alias, and point the alias back to the
 * previous build.
 *
 * @module
 */

import {
  connect,
  redactUrl,
  resolveConnection,
} from "../elasticsearch/connection.ts";
import { listIndices, rollback } from "../elasticsearch/lifecycle.ts";
import { registerTemplates } from "../elasticsearch/templates.ts";
import { ConfigError } from "../errors/mod.ts";
import { loadSettings } from "../config/settings.ts";
import { parseFlags, run } from "./common.ts";

const HELP = `
deno task index:list [--alias NAME]
deno task index:rollback [--alias NAME]
deno task templates:register

list: the versioned indices of the alias (oldest first) with document
counts, which one is live, and any left "building" by a failed build.
rollback: point the alias to the newest complete index older than the live
one (atomic), e.g. after a bad build.
templates:register: store queries/*.mustache as search templates (needs the
lang-mustache module; without it, serve renders them client-side).

  --config FILE   settings file (default $CCO_CONFIG)
  --alias NAME    the alias (default: the settings', else "cco-items")
  --es-config FILE       JSON connection settings (url, apiKey, username,
                         password, caCert, caFingerprint, requestTimeoutMs);
                         default $CCO_ES_CONFIG; ES_* variables override it
  --es-url URL    Elasticsearch URL (default: $ES_URL)
  --json          print JSON (list: the indices; rollback: from and to)
  -h, --help      this text
`;

/**
 * Runs `index list|rollback|templates` with command-line arguments.
 *
 * @param args The arguments after the command name (the subcommand first).
 */
export async function indexCommand(args: string[]): Promise<void> {
  const [command] = args.filter((a) => !a.startsWith("-"));
  const flags = parseFlags(
    {
      config: { type: "string" },
      alias: { type: "string" },
      "es-url": { type: "string" },
      "es-config": { type: "string" },
      json: { type: "boolean", default: false },
    },
    HELP,
    args.filter((a) => a !== command),
  );
  if (!["list", "rollback", "templates"].includes(command)) {
    throw new ConfigError(
      "",
      `expected list, rollback or templates, got ${
        command ?? "nothing"
      } (see --help)`,
    );
  }
  const settings = await loadSettings(flags.config);
  flags.alias ??= settings.elasticsearch?.alias ?? "cco-items";
  const url = resolveConnection(
    { url: flags["es-url"] ?? settings.elasticsearch?.url },
    flags["es-config"],
  ).url;
  const client = await connect({ url, configFile: flags["es-config"] });
  try {
    if (command === "templates") {
      const names = await registerTemplates(client);
      if (flags.json) {
        console.log(JSON.stringify({ templates: names }));
        return;
      }
      console.log(`stored search templates: ${names.join(", ")}`);
    } else if (command === "list") {
      const indices = await listIndices(client, flags.alias!);
      if (flags.json) {
        console.log(JSON.stringify(indices));
        return;
      }
      if (indices.length === 0) {
        console.log(
          `no indices for alias "${flags.alias}" at ${redactUrl(url!)}`,
        );
        return;
      }
      for (const i of indices) {
        console.log(
          `${i.live ? "*" : " "} ${i.index.padEnd(40)} ${
            String(i.documents).padStart(10)
          } docs  ${i.live ? "live" : i.state}`,
        );
      }
    } else {
      const { from, to } = await rollback(client, flags.alias!);
      if (flags.json) {
        console.log(JSON.stringify({ alias: flags.alias, from, to }));
        return;
      }
      console.log(`alias "${flags.alias}" now points to ${to} (was ${from})`);
    }
  } finally {
    await client.close();
  }
}

if (import.meta.main) await run(() => indexCommand(Deno.args));
