/**
 * Versioned builds behind an alias, against the real node: swaps, rollback,
 * rebuilds under query load, and injected failures that must leave the live
 * alias untouched.
 */
import assert from "node:assert/strict";
import { Client } from "@elastic/elasticsearch";
import { ElasticsearchRecommender } from "../elasticsearch/recommender.ts";
import type { IndicatorDocument } from "../indicators/build.ts";
import {
  listIndices,
  publishIndex,
  rollback,
} from "../elasticsearch/lifecycle.ts";
import { esTest } from "./_es.ts";
import { startFaultProxy } from "./_fault_proxy.ts";

/** Version `v` of a small catalogue: item x's indicator differs per version. */
function catalogue(v: number, size = 300): IndicatorDocument[] {
  const docs: IndicatorDocument[] = [];
  for (let i = 0; i < size; i++) {
    docs.push({
      id: `i${i}`,
      indicators: [`i${(i + v) % size}`, `i${(i + 2 * v + 1) % size}`],
      indicators_view: [`i${(i * 7 + v) % size}`],
      scores: {},
    });
  }
  return docs;
}

let tick = Date.UTC(2026, 0, 1);
const clock = () => new Date(tick += 1000);

/** The alias's answer for a history that matches in every version. */
async function answer(client: Client, alias: string): Promise<string[]> {
  const recs = await new ElasticsearchRecommender(client, alias)
    .recommend({ history: ["i5", "i6"], num: 50 });
  return recs.map((r) => r.id).sort();
}

esTest(
  "publish swaps the alias atomically and keeps the last K",
  async ({ client, index }) => {
    const alias = index("life");
    const first = await publishIndex(client, alias, catalogue(1), {
      now: clock,
    });
    assert.equal(first.previous, undefined);
    assert.match(first.index, new RegExp(`^${alias}_\\d{17}$`));
    assert.deepEqual(await listIndices(client, alias), [
      { index: first.index, documents: 300, live: true, state: "complete" },
    ]);
    const v1 = await answer(client, alias);
    const second = await publishIndex(client, alias, catalogue(2), {
      now: clock,
    });
    assert.equal(second.previous, first.index);
    assert.deepEqual(second.deleted, []);
    const v2 = await answer(client, alias);
    assert.notDeepEqual(v1, v2);
    const third = await publishIndex(client, alias, catalogue(3), {
      now: clock,
      keep: 2,
    });
    assert.deepEqual(third.deleted, [first.index]);
    assert.deepEqual(
      (await listIndices(client, alias)).map((i) => [i.index, i.live]),
      [[second.index, false], [third.index, true]],
    );
    // rollback points the alias at the previous build, atomically
    assert.deepEqual(await rollback(client, alias), {
      from: third.index,
      to: second.index,
    });
    assert.deepEqual(await answer(client, alias), v2);
    await assert.rejects(() => rollback(client, alias), {
      name: "IndexingError",
      message: `no earlier complete index of "${alias}" to roll back to`,
    });
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "a rebuild under query load: no query fails or sees an empty index",
  async ({ client, url, index }) => {
    const alias = index("load");
    await publishIndex(client, alias, catalogue(1, 3000), { now: clock });
    const reader = new Client({ node: url });
    let queries = 0, errors = 0, empty = 0;
    let building = true;
    const loop = (async () => {
      const deadline = Date.now() + 60_000;
      while ((building || queries < 50) && Date.now() < deadline) {
        try {
          if ((await answer(reader, alias)).length === 0) empty++;
        } catch {
          errors++;
        }
        queries++;
      }
    })();
    try {
      for (let v = 2; v <= 4; v++) {
        await publishIndex(client, alias, catalogue(v, 3000), {
          now: clock,
          flushBytes: 50_000, // many bulk requests: a long build
        });
      }
    } finally {
      building = false;
      await loop;
      await reader.close();
    }
    assert.ok(queries >= 50, `only ${queries} queries ran`);
    assert.equal(errors, 0);
    assert.equal(empty, 0);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "an injected bulk failure leaves the old alias live and no half-built index",
  async ({ client, url, index }) => {
    const alias = index("fault");
    const live = await publishIndex(client, alias, catalogue(1, 2000), {
      now: clock,
    });
    const before = await answer(client, alias);
    const proxy = startFaultProxy(url);
    const faulty = new Client({ node: proxy.url, maxRetries: 1 });
    try {
      proxy.faults.failBulkAfter = 1;
      await assert.rejects(
        () =>
          publishIndex(faulty, alias, catalogue(2, 2000), {
            now: clock,
            flushBytes: 20_000,
          }),
        (error: Error) => {
          assert.equal(error.name, "IndexingError");
          assert.match(
            error.message,
            /bulk indexing into ".*" failed after \d+ of \d+ documents/,
          );
          return true;
        },
      );
      assert.ok(proxy.bulks >= 2);
    } finally {
      await faulty.close();
      await proxy.close();
    }
    assert.deepEqual(await listIndices(client, alias), [
      { index: live.index, documents: 2000, live: true, state: "complete" },
    ]);
    assert.deepEqual(await answer(client, alias), before);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "the cluster gone mid-build: alias unchanged, leftover marked and later removed",
  async ({ client, url, index }) => {
    const alias = index("down");
    const live = await publishIndex(client, alias, catalogue(1, 2000), {
      now: clock,
    });
    const before = await answer(client, alias);
    const proxy = startFaultProxy(url);
    const faulty = new Client({ node: proxy.url, maxRetries: 0 });
    try {
      proxy.faults.downAfterBulk = 1;
      await assert.rejects(
        () =>
          publishIndex(faulty, alias, catalogue(2, 2000), {
            now: clock,
            flushBytes: 20_000,
          }),
        { name: "IndexingError" },
      );
    } finally {
      await faulty.close();
      await proxy.close();
    }
    const after = await listIndices(client, alias);
    assert.equal(after.length, 2);
    assert.deepEqual(after[0], {
      index: live.index,
      documents: 2000,
      live: true,
      state: "complete",
    });
    assert.equal(after[1].live, false);
    assert.equal(after[1].state, "building");
    assert.deepEqual(await answer(client, alias), before);
    // the next good build removes the leftover
    const next = await publishIndex(client, alias, catalogue(3, 2000), {
      now: clock,
    });
    assert.deepEqual(next.deleted, [after[1].index]);
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "a read-back that does not match fails verification before the swap",
  async ({ client, url, index }) => {
    const alias = index("verify");
    const live = await publishIndex(client, alias, catalogue(1), {
      now: clock,
    });
    const proxy = startFaultProxy(url);
    const faulty = new Client({ node: proxy.url });
    try {
      proxy.faults.corruptMget = true;
      await assert.rejects(
        () => publishIndex(faulty, alias, catalogue(2), { now: clock }),
        {
          name: "IndexingError",
          message: /does not return document "i0" as it was sent/,
        },
      );
    } finally {
      await faulty.close();
      await proxy.close();
    }
    assert.deepEqual(
      (await listIndices(client, alias)).map((i) => i.index),
      [live.index],
    );
    await client.indices.delete({ index: `${alias}_*` });
  },
);

esTest(
  "an index squatting on the alias name is refused",
  async ({ client, index }) => {
    const name = index("squat");
    await client.indices.create({ index: name });
    await assert.rejects(() => publishIndex(client, name, catalogue(1)), {
      name: "IndexingError",
      message: `"${name}" is an index, not an alias: rename or delete it first`,
    });
    await assert.rejects(
      () => publishIndex(client, "Bad Alias", catalogue(1)),
      {
        message:
          'invalid alias "Bad Alias": use lower-case letters, digits, _ and -',
      },
    );
  },
);
