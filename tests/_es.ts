// deno-lint-ignore-file no-import-prefix
/**
 * Shared harness for tests that need a real Elasticsearch (`ES_URL`).
 *
 * - `ES_URL` set: the test runs against it, with unique index names that are
 *   deleted afterwards.
 * - `ES_URL` unset, outside CI: the test is registered as ignored, with
 *   `[needs ES_URL]` in its name (run `deno task test` to get a node).
 * - `ES_URL` unset under `CI=true`: the test fails. CI never skips them.
 *
 * @module
 */

// Tests inspect the cluster with the whole official client (the library's
// Client type is the subset cco-es uses; the official client satisfies it).
import { Client } from "npm:@elastic/elasticsearch@8.19.2";

/** What an Elasticsearch test receives. */
export interface EsContext {
  /** A client for `ES_URL`. */
  client: Client;
  /** The cluster URL. */
  url: string;
  /** A unique, lower-case index name, deleted after the test. */
  index: (suffix: string) => string;
}

const url = Deno.env.get("ES_URL") || undefined;
const inCi = Deno.env.get("CI") === "true";

/**
 * Registers a test that runs against the real Elasticsearch at `ES_URL`.
 *
 * @param name Test name.
 * @param fn The test body.
 */
export function esTest(
  name: string,
  fn: (ctx: EsContext) => Promise<void>,
): void {
  if (!url && !inCi) {
    Deno.test({ name: `${name} [needs ES_URL]`, ignore: true, fn: () => {} });
    return;
  }
  Deno.test({
    name: `${name} [elasticsearch]`,
    sanitizeOps: false,
    sanitizeResources: false,
    fn: async () => {
      if (!url) {
        throw new Error(
          "CI=true but ES_URL is unset: Elasticsearch tests must run in CI (use deno task test)",
        );
      }
      const client = new Client({
        node: url,
        requestTimeout: 30_000,
        maxRetries: 1,
      });
      const created: string[] = [];
      try {
        try {
          await client.cluster.health({
            wait_for_status: "yellow",
            timeout: "30s",
          });
        } catch (error) {
          throw new Error(
            `Elasticsearch at ${url} is unreachable: ${
              (error as Error).message
            }`,
          );
        }
        const tag = crypto.randomUUID().slice(0, 8);
        await fn({
          client,
          url,
          index: (suffix) => {
            const name = `test-${suffix}-${tag}`.toLowerCase();
            created.push(name);
            return name;
          },
        });
      } finally {
        if (created.length > 0) {
          await client.indices.delete({
            index: created.join(","),
            ignore_unavailable: true,
          }).catch(() => {});
        }
        await client.close();
      }
    },
  });
}
