/**
 * Internal: a whole event log in typed columns (user and item indexes into
 * id dictionaries, a type code, a timestamp: 17 bytes an event, no object
 * or string per event), and the validation protocols of `tune.ts` carved
 * out of it as a mask of held-out events. What `buildTuned` holds instead
 * of event objects, so tuning a log of millions of users stays in the
 * memory class of a plain build.
 *
 * The carving follows `lastKSplit`, `stratifiedSplit` and `timeSplit`
 * (evaluate.ts) rule for rule, including the order of the random draws and
 * of the test users (`_log_test.ts` proves it against them).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { EventLog } from "./_log.ts";
 *
 * const e = (item: string, t: number) => ({ user: "u", item, event: "buy", timestamp: t });
 * const log = await EventLog.read([e("a", 1), e("b", 2)]);
 * const { heldOut, users, relevant } = log.carve({
 *   protocol: "last-k", primaryEvent: "buy", seed: 43, fraction: 0.9,
 * });
 * assert.deepEqual([...heldOut], [0, 1]);
 * assert.equal(log.items.idOf(relevant(0)[0]), "b");
 * assert.deepEqual(log.history(users[0], heldOut, 10), { buy: ["a"] });
 * ```
 *
 * @module
 */

import { EventColumns } from "../events/columns.ts";
import type { Event } from "../events/format.ts";
import type { EventStream } from "../indicators/interactions.ts";
import { IdDictionary } from "../indicators/sparse.ts";
import { mulberry32 } from "../random/mod.ts";

/** Events per column batch handed to a build. */
const BATCH = 1 << 16;

/** A validation protocol and its parameters (defaults as `carveValidation`). */
export interface CarveOptions {
  /** `stratified`, `last-k` or `time`. */
  protocol: "stratified" | "last-k" | "time";
  /** The primary event type. */
  primaryEvent: string;
  /** last-k: items held out per user (default 1). */
  k?: number;
  /** stratified: training share (default 0.75). */
  ratio?: number;
  /** stratified: seed. */
  seed: number;
  /** time: training share of the time range. */
  fraction: number;
}

/** A split of an {@linkcode EventLog}. */
export interface Carved {
  /** 1 for each event left out of training. */
  heldOut: Uint8Array;
  /** Test users (indexes), in the order the Event[] splits give them. */
  users: Int32Array;
  /** Relevant item indexes of test user `users[i]`. */
  relevant: (i: number) => Int32Array;
}

/** An event log in typed columns. */
export class EventLog {
  /** Users, in first-seen order. */
  readonly users: IdDictionary = new IdDictionary();
  /** Items, in first-seen order. */
  readonly items: IdDictionary = new IdDictionary();
  /** Event type names by code. */
  readonly types: string[] = [];
  #typeCode = new Map<string, number>();
  #user = new Int32Array(1024);
  #item = new Int32Array(1024);
  #type = new Uint8Array(1024);
  #time = new Float64Array(1024);
  #length = 0;
  // users' events, grouped (made on demand): user u's event numbers are
  // #byUser[#userPtr[u] .. #userPtr[u + 1]], in log order
  #userPtr?: Uint32Array;
  #byUser?: Int32Array;
  // id bytes for column batches: users' then items' (made on demand)
  #bytes?: { bytes: Uint8Array; user: Uint32Array; item: Uint32Array };

  /** Number of events. */
  get length(): number {
    return this.#length;
  }

  /**
   * Reads every event of a stream (objects, arrays or column batches).
   *
   * @param events The events.
   * @returns The log.
   */
  static async read(events: EventStream): Promise<EventLog> {
    const log = new EventLog();
    for await (const e of events) {
      if (e instanceof EventColumns) log.#addColumns(e);
      else if (Array.isArray(e)) { for (const one of e) log.#add(one); }
      else log.#add(e as Event);
    }
    return log;
  }

  #code(name: string): number {
    let code = this.#typeCode.get(name);
    if (code === undefined) {
      code = this.types.length;
      if (code > 255) throw new RangeError("more than 256 event types");
      this.types.push(name);
      this.#typeCode.set(name, code);
    }
    return code;
  }

  #reserve(n: number) {
    if (this.#length + n <= this.#user.length) return;
    let size = this.#user.length;
    while (size < this.#length + n) size *= 2;
    const at = this.#length;
    const user = new Int32Array(size), item = new Int32Array(size);
    const type = new Uint8Array(size), time = new Float64Array(size);
    user.set(this.#user.subarray(0, at));
    item.set(this.#item.subarray(0, at));
    type.set(this.#type.subarray(0, at));
    time.set(this.#time.subarray(0, at));
    this.#user = user;
    this.#item = item;
    this.#type = type;
    this.#time = time;
  }

  #add(e: Event) {
    this.#reserve(1);
    const at = this.#length++;
    this.#user[at] = this.users.intern(e.user);
    this.#item[at] = this.items.intern(e.item);
    this.#type[at] = this.#code(e.event);
    this.#time[at] = e.timestamp;
  }

  #addColumns(batch: EventColumns) {
    this.#reserve(batch.length);
    const codes = batch.eventTypes.map((t) => this.#code(t));
    const { bytes, userStart, userEnd, itemStart, itemEnd, type, time } = batch;
    for (let k = 0; k < batch.length; k++) {
      const at = this.#length++;
      this.#user[at] = this.users.internBytes(bytes, userStart[k], userEnd[k]);
      this.#item[at] = this.items.internBytes(bytes, itemStart[k], itemEnd[k]);
      this.#type[at] = codes[type[k]];
      this.#time[at] = time[k];
    }
  }

  /** Groups event numbers by user (log order within a user), once. */
  #grouped(): { ptr: Uint32Array; order: Int32Array } {
    if (!this.#userPtr) {
      const n = this.#length, users = this.users.size;
      const ptr = new Uint32Array(users + 1);
      for (let e = 0; e < n; e++) ptr[this.#user[e] + 1]++;
      for (let u = 0; u < users; u++) ptr[u + 1] += ptr[u];
      const fill = ptr.slice(0, users);
      const order = new Int32Array(n);
      for (let e = 0; e < n; e++) order[fill[this.#user[e]]++] = e;
      this.#userPtr = ptr;
      this.#byUser = order;
    }
    return { ptr: this.#userPtr, order: this.#byUser! };
  }

  /**
   * Carves a validation split (see the module doc).
   *
   * @param options The protocol.
   * @returns The held-out mask and the test users.
   */
  carve(options: CarveOptions): Carved {
    const primary = this.#typeCode.get(options.primaryEvent) ?? -1;
    if (options.protocol === "time") return this.#carveByTime(options, primary);
    const { ptr, order } = this.#grouped();
    const heldOut = new Uint8Array(this.#length);
    const users: number[] = [];
    const relPtr: number[] = [0];
    const rel: number[] = [];
    const stamp = new Int32Array(this.items.size).fill(-1);
    const first = new Float64Array(this.items.size);
    const distinct: number[] = [];
    if (options.protocol === "last-k") {
      const k = options.k ?? 1;
      for (let u = 0; u < this.users.size; u++) {
        // each distinct primary item's first time
        distinct.length = 0;
        for (let q = ptr[u]; q < ptr[u + 1]; q++) {
          const e = order[q];
          if (this.#type[e] !== primary) continue;
          const item = this.#item[e], t = this.#time[e];
          if (stamp[item] !== u) {
            stamp[item] = u;
            first[item] = t;
            distinct.push(item);
          } else if (t < first[item]) first[item] = t;
        }
        if (distinct.length < k + 1) continue;
        const times = distinct.map((i) => first[i]).sort((a, b) => a - b);
        const cut = times[times.length - k];
        let before = 0;
        for (let q = ptr[u]; q < ptr[u + 1]; q++) {
          const e = order[q];
          if (this.#time[e] < cut) before++;
          else heldOut[e] = 1;
        }
        if (before === 0) continue;
        users.push(u);
        for (const item of distinct) if (first[item] >= cut) rel.push(item);
        relPtr.push(rel.length);
      }
    } else if (options.protocol === "stratified") {
      const ratio = options.ratio ?? 0.75;
      const random = mulberry32(options.seed);
      const kept = new Int32Array(this.items.size).fill(-1);
      for (let u = 0; u < this.users.size; u++) {
        distinct.length = 0;
        for (let q = ptr[u]; q < ptr[u + 1]; q++) {
          const item = this.#item[order[q]];
          if (stamp[item] !== u) {
            stamp[item] = u;
            distinct.push(item);
          }
        }
        if (distinct.length < 2) continue;
        for (let i = distinct.length - 1; i > 0; i--) {
          const j = Math.floor(random() * (i + 1));
          [distinct[i], distinct[j]] = [distinct[j], distinct[i]];
        }
        const keep = Math.max(1, Math.round(distinct.length * ratio));
        for (let i = 0; i < keep; i++) kept[distinct[i]] = u;
        for (let q = ptr[u]; q < ptr[u + 1]; q++) {
          const e = order[q];
          if (kept[this.#item[e]] !== u) heldOut[e] = 1;
        }
        if (keep < distinct.length) {
          users.push(u);
          for (let i = keep; i < distinct.length; i++) rel.push(distinct[i]);
          relPtr.push(rel.length);
        }
      }
    } else {
      throw new RangeError(`unknown protocol ${options.protocol}`);
    }
    const relevant = Int32Array.from(rel);
    return {
      heldOut,
      users: Int32Array.from(users),
      relevant: (i) => relevant.subarray(relPtr[i], relPtr[i + 1]),
    };
  }

  // the time protocol: train before the cutoff; test users in the order of
  // their first primary event after it
  #carveByTime(options: CarveOptions, primary: number): Carved {
    const n = this.#length;
    let min = Infinity, max = -Infinity;
    for (let e = 0; e < n; e++) {
      const t = this.#time[e];
      if (t < min) min = t;
      if (t > max) max = t;
    }
    const cutoff = min + (max - min) * options.fraction;
    const heldOut = new Uint8Array(n);
    const hasHistory = new Uint8Array(this.users.size);
    const afterRank = new Int32Array(this.users.size).fill(-1);
    const afterUsers: number[] = [];
    for (let e = 0; e < n; e++) {
      const u = this.#user[e];
      if (this.#time[e] < cutoff) hasHistory[u] = 1;
      else {
        heldOut[e] = 1;
        if (this.#type[e] === primary && afterRank[u] < 0) {
          afterRank[u] = afterUsers.length;
          afterUsers.push(u);
        }
      }
    }
    const { ptr, order } = this.#grouped();
    const stamp = new Int32Array(this.items.size).fill(-1);
    const fresh = new Int32Array(this.items.size).fill(-1);
    const users: number[] = [];
    const relPtr: number[] = [0];
    const rel: number[] = [];
    for (const u of afterUsers) {
      if (!hasHistory[u]) continue;
      for (let q = ptr[u]; q < ptr[u + 1]; q++) {
        const e = order[q];
        if (this.#type[e] === primary && !heldOut[e]) {
          stamp[this.#item[e]] = u;
        }
      }
      const from = rel.length;
      for (let q = ptr[u]; q < ptr[u + 1]; q++) {
        const e = order[q];
        const item = this.#item[e];
        if (
          this.#type[e] === primary && heldOut[e] && stamp[item] !== u &&
          fresh[item] !== u
        ) {
          fresh[item] = u;
          rel.push(item);
        }
      }
      if (rel.length > from) {
        users.push(u);
        relPtr.push(rel.length);
      }
    }
    const relevant = Int32Array.from(rel);
    return {
      heldOut,
      users: Int32Array.from(users),
      relevant: (i) => relevant.subarray(relPtr[i], relPtr[i + 1]),
    };
  }

  /**
   * A user's history per event type among the events kept (mask 0), most
   * recent first, at most `maxPerType` distinct items per type: what
   * `histories` (evaluate.ts) gives for that user.
   *
   * @param user A user index.
   * @param heldOut The mask (1: left out).
   * @param maxPerType Newest distinct items kept per type.
   * @returns The history.
   */
  history(
    user: number,
    heldOut: Uint8Array | undefined,
    maxPerType: number,
  ): Record<string, string[]> {
    const { ptr, order } = this.#grouped();
    const events: number[] = [];
    for (let q = ptr[user]; q < ptr[user + 1]; q++) {
      const e = order[q];
      if (!heldOut?.[e]) events.push(e);
    }
    // newest first; equal times keep log order (a stable sort)
    events.sort((a, b) => this.#time[b] - this.#time[a]);
    const out: Record<string, string[]> = {};
    const seen = new Map<number, Set<number>>();
    for (const e of events) {
      const type = this.#type[e];
      let s = seen.get(type);
      if (!s) seen.set(type, s = new Set());
      const item = this.#item[e];
      if (s.has(item) || s.size >= maxPerType) continue;
      s.add(item);
      (out[this.types[type]] ??= []).push(this.items.idOf(item));
    }
    return out;
  }

  /**
   * The events as column batches (what a build reads fastest), those the
   * mask leaves out skipped; may be iterated more than once.
   *
   * @param heldOut The mask (1: left out), or none.
   * @returns The batches.
   */
  columns(heldOut?: Uint8Array): Iterable<EventColumns> {
    const ids = this.#idBytes();
    const n = this.#length, types = this.types;
    const users = this.#user, items = this.#item;
    const codes = this.#type, times = this.#time;
    return {
      *[Symbol.iterator]() {
        let e = 0;
        while (e < n) {
          const userStart = new Uint32Array(BATCH);
          const userEnd = new Uint32Array(BATCH);
          const itemStart = new Uint32Array(BATCH);
          const itemEnd = new Uint32Array(BATCH);
          const type = new Uint8Array(BATCH);
          const time = new Float64Array(BATCH);
          let k = 0;
          for (; e < n && k < BATCH; e++) {
            if (heldOut?.[e]) continue;
            const u = users[e], i = items[e];
            userStart[k] = ids.user[u];
            userEnd[k] = ids.user[u + 1];
            itemStart[k] = ids.item[i];
            itemEnd[k] = ids.item[i + 1];
            type[k] = codes[e];
            time[k] = times[e];
            k++;
          }
          if (k === 0) break;
          yield new EventColumns({
            length: k,
            bytes: ids.bytes,
            userStart,
            userEnd,
            itemStart,
            itemEnd,
            type,
            time,
            eventTypes: types,
          });
        }
      },
    };
  }

  // every id's bytes once, users then items, with their offsets
  #idBytes() {
    if (this.#bytes) return this.#bytes;
    const scratch = new Uint8Array(3 * 65536);
    const parts: Uint8Array[] = [];
    let size = 0;
    const offsets = (dict: IdDictionary) => {
      const off = new Uint32Array(dict.size + 1);
      let chunk = new Uint8Array(1 << 20), at = 0;
      for (let i = 0; i < dict.size; i++) {
        const len = dict.bytesOf(i, scratch);
        if (at + len > chunk.length) {
          parts.push(chunk.subarray(0, at));
          chunk = new Uint8Array(Math.max(1 << 20, len));
          at = 0;
        }
        chunk.set(scratch.subarray(0, len), at);
        at += len;
        off[i] = size;
        size += len;
      }
      parts.push(chunk.subarray(0, at));
      off[dict.size] = size;
      return off;
    };
    const user = offsets(this.users);
    const item = offsets(this.items);
    if (size > 2 ** 32 - 1) {
      throw new RangeError("ids of more than 4 GiB in one log");
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return this.#bytes = { bytes, user, item };
  }
}
