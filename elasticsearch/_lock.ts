/**
 * One build (or rollback) at a time per alias: a lock document per alias in
 * the hidden index `cco-locks`, naming its owner, with a lease the owner
 * renews while it works. Another build waits; a lock whose owner stopped
 * renewing it for a whole lease (the process was killed) is taken over.
 * Every write is conditional (`op_type: create`, or `if_seq_no` and
 * `if_primary_term` of the version read), so two processes can never both
 * believe they hold it.
 *
 * Staleness is judged on the waiter's own clock (the lock's version did
 * not change for a lease), so clocks that disagree between machines do no
 * harm; a lock whose recorded expiry is a whole lease in the past is taken
 * over at once.
 *
 * @module
 */

import { type Client, clientError } from "./client.ts";
import { IndexingError } from "./indexing.ts";

/** The index holding the locks. */
export const LOCK_INDEX = "cco-locks";

/** Options of {@linkcode acquireLock}. */
export interface LockOptions {
  /** Milliseconds a lock lives without renewal (default 30 000; renewed every third). */
  leaseMs?: number;
  /** Milliseconds to wait for another holder (default 30 minutes). */
  waitMs?: number;
  /** Called once when the lock is held by someone else, with who. */
  onWait?: (holder: LockHolder) => void;
}

/** What a lock document says. */
export interface LockHolder {
  /** The alias locked. */
  alias: string;
  /** Who holds it: `host:pid:random`. */
  owner: string;
  /** What for, e.g. `build cco-items_2026...`. */
  purpose: string;
  /** When it was taken (unix ms, the holder's clock). */
  acquired: number;
  /** When it lapses unless renewed (unix ms, the holder's clock). */
  expires: number;
  /** Its lease in milliseconds: it is renewed every third of it. */
  leaseMs: number;
}

/** A held lock. */
export interface Lock {
  /** Its holder record. */
  readonly holder: LockHolder;
  /** Updates the purpose (e.g. once the index name is known), renewing the lock. */
  describe(purpose: string): Promise<void>;
  /** Renews now; throws when the lock was lost (taken over, or not renewed for a lease). */
  check(): Promise<void>;
  /** Stops renewing and deletes the lock if still ours. */
  release(): Promise<void>;
}

const statusOf = (error: unknown) =>
  (error as { meta?: { statusCode?: number } }).meta?.statusCode;

function hostname(): string {
  try {
    return Deno.hostname();
  } catch {
    return "unknown-host";
  }
}

async function ensureLockIndex(client: Client) {
  if (await client.indices.exists({ index: LOCK_INDEX })) return;
  try {
    await client.indices.create({
      index: LOCK_INDEX,
      settings: {
        number_of_shards: 1,
        auto_expand_replicas: "0-1",
        hidden: true,
      },
      mappings: {
        dynamic: false,
        properties: {
          alias: { type: "keyword" },
          owner: { type: "keyword" },
          expires: { type: "long" },
        },
      },
    });
  } catch (error) {
    // created meanwhile by another build
    const type = (error as { meta?: { body?: { error?: { type?: string } } } })
      .meta?.body?.error?.type;
    if (type !== "resource_already_exists_exception") throw error;
  }
}

/**
 * Takes the lock of `alias`, waiting while another live owner holds it.
 *
 * @param client A connected client.
 * @param alias The alias.
 * @param purpose What the lock is for (shown to waiters).
 * @param options Lease, wait, and a callback when waiting.
 * @returns The held lock (release it in a `finally`).
 * @throws {IndexingError} When another owner holds it beyond `waitMs`, or
 * the cluster fails.
 */
export async function acquireLock(
  client: Client,
  alias: string,
  purpose: string,
  options: LockOptions = {},
): Promise<Lock> {
  const leaseMs = options.leaseMs ?? 30_000;
  const waitMs = options.waitMs ?? 30 * 60_000;
  const owner = `${hostname()}:${Deno.pid}:${crypto.randomUUID().slice(0, 8)}`;
  const started = Date.now();
  let version: { seq: number; term: number };
  let holder: LockHolder;
  const record = (): LockHolder => {
    const now = Date.now();
    return {
      alias,
      owner,
      purpose,
      acquired: holder?.acquired ?? now,
      expires: now + leaseMs,
      leaseMs,
    };
  };
  const versionOf = (r: { _seq_no?: number; _primary_term?: number }) => ({
    seq: r._seq_no!,
    term: r._primary_term!,
  });
  try {
    await ensureLockIndex(client);
    let seen: { seq: number; term: number; since: number } | undefined;
    let told = false;
    for (;;) {
      holder = record();
      try {
        version = versionOf(
          await client.index({
            index: LOCK_INDEX,
            id: alias,
            document: holder,
            op_type: "create",
          }),
        );
        break;
      } catch (error) {
        if (statusOf(error) !== 409) throw error;
      }
      const current = await client.get({ index: LOCK_INDEX, id: alias })
        .catch((error) => {
          if (statusOf(error) === 404) return { found: false } as const;
          throw error;
        });
      if (!current.found) continue; // released meanwhile
      const other = current._source as LockHolder;
      const v = versionOf(current);
      const now = Date.now();
      if (!seen || seen.seq !== v.seq || seen.term !== v.term) {
        seen = { ...v, since: now };
      }
      // the holder's own lease says how often it renews
      const lease = typeof other.leaseMs === "number" && other.leaseMs > 0
        ? other.leaseMs
        : leaseMs;
      const stale = now - seen.since >= lease ||
        (typeof other.expires === "number" && other.expires + lease < now);
      if (stale) {
        try {
          version = versionOf(
            await client.index({
              index: LOCK_INDEX,
              id: alias,
              document: holder,
              if_seq_no: v.seq,
              if_primary_term: v.term,
            }),
          );
          break;
        } catch (error) {
          if (statusOf(error) !== 409) throw error;
          continue; // someone else took it over first
        }
      }
      if (now - started > waitMs) {
        throw new IndexingError(
          `alias "${alias}" is locked by ${other.owner} (${other.purpose}) since ${
            new Date(other.acquired).toISOString()
          }; gave up waiting after ${waitMs} ms`,
        );
      }
      if (!told) {
        told = true;
        options.onWait?.(other);
      }
      await new Promise((r) =>
        setTimeout(r, Math.min(500, Math.max(50, leaseMs / 10)))
      );
    }
  } catch (error) {
    if (error instanceof IndexingError) throw error;
    throw new IndexingError(
      `locking alias "${alias}" failed: ${
        clientError(error, "locking").message
      }`,
      0,
      { cause: error },
    );
  }

  // renewal: every third of the lease; lost on a conflict (taken over) or
  // when no renewal succeeded for a whole lease
  let lost: string | undefined;
  let renewed = Date.now();
  let renewing: Promise<void> | undefined;
  const renew = () => {
    if (lost) return Promise.resolve();
    renewing ??= (async () => {
      try {
        holder = record();
        version = versionOf(
          await client.index({
            index: LOCK_INDEX,
            id: alias,
            document: holder,
            if_seq_no: version.seq,
            if_primary_term: version.term,
          }),
        );
        renewed = Date.now();
      } catch (error) {
        if (statusOf(error) === 409 || statusOf(error) === 404) {
          lost = "another process took it over";
        } else if (Date.now() - renewed > leaseMs) {
          lost = `it could not be renewed for ${leaseMs} ms (${
            clientError(error, "renewing").message
          })`;
        }
      } finally {
        renewing = undefined;
      }
    })();
    return renewing;
  };
  const timer = setInterval(renew, Math.max(10, Math.floor(leaseMs / 3)));
  let released = false;
  return {
    get holder() {
      return holder;
    },
    async describe(text: string) {
      purpose = text;
      await renewing;
      await renew();
    },
    async check() {
      await renewing;
      await renew();
      if (lost) {
        throw new IndexingError(
          `lost the lock of alias "${alias}": ${lost}; nothing was swapped`,
        );
      }
    },
    async release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      await renewing;
      if (lost) return;
      await client.delete({
        index: LOCK_INDEX,
        id: alias,
        if_seq_no: version.seq,
        if_primary_term: version.term,
      }).catch(() => {}); // gone or taken: its lease ends it anyway
    },
  };
}
