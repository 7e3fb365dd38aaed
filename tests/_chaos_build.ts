/**
 * A build to kill: publishes a catalogue slowly to `alias` at `url` with a
 * short lock lease, printing `indexing` once its index exists. Run by
 * `chaos_builds_test.ts`, which kills it with SIGKILL mid-bulk.
 *
 * Arguments: url alias leaseMs
 *
 * @module
 */
import { createClient } from "../elasticsearch/client.ts";
import { publishIndex } from "../elasticsearch/lifecycle.ts";
import type { IndicatorDocument } from "../model/document.ts";
import { manifestFor } from "../model/manifest.ts";

const [url, alias, lease] = Deno.args;
const docs: IndicatorDocument[] = [];
for (let i = 0; i < 3000; i++) {
  docs.push({
    id: `i${i}`,
    indicators: [`i${(i + 9) % 3000}`],
    scores: {},
    metadata: { popularity: i % 17 },
  });
}
async function* slow() {
  for (const doc of docs) {
    await new Promise((r) => setTimeout(r, 2));
    yield doc;
  }
}
const client = createClient({ node: url, maxRetries: 0 });
await publishIndex(client, alias, {
  manifest: manifestFor(docs, { primaryEvent: "transaction" }),
  documents: slow(),
}, {
  flushBytes: 5000,
  concurrency: 1,
  lockLeaseMs: Number(lease),
  onDocument: (_, n) => {
    if (n === 200) console.log("indexing");
  },
});
console.log("done"); // never reached: killed first
