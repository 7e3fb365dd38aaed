/**
 * Turns a stream of events into binarized, history-capped user × item
 * matrices, one per event type, over a shared user and item dictionary.
 *
 * - **Binarized**: a user who viewed an item five times has one `view`
 *   interaction with it (its most recent timestamp counts).
 * - **History cap**: each user keeps only their `maxHistoryPerUser` most
 *   recent distinct items per event type (default 500, Mahout's
 *   `maxNumInteractions`). Unlike Mahout's downsampling, which drops a heavy
 *   user's interactions at random, the cap keeps their most recent ones. Ties
 *   on timestamp are broken by item id, so the result is deterministic.
 * - **Shared user dictionary**: every user with any event counts towards N,
 *   the number of users in the LLR contingency tables, as in Mahout's
 *   `SimilarityAnalysis`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const builder = new InteractionsBuilder({ maxHistoryPerUser: 2 });
 * builder.add({ user: "u1", item: "a", event: "view", timestamp: 1 });
 * builder.add({ user: "u1", item: "b", event: "view", timestamp: 2 });
 * builder.add({ user: "u1", item: "c", event: "view", timestamp: 3 });
 * builder.add({ user: "u2", item: "a", event: "buy", timestamp: 4 });
 * const interactions = builder.build();
 * assert.equal(interactions.users.size, 2);
 * assert.equal(interactions.matrix("view")!.rowLength(0), 2); // b and c: the most recent
 * ```
 *
 * @module
 */

import type { Event } from "../events/format.ts";
import { EventColumns } from "../events/columns.ts";
import { ConfigError } from "../errors/mod.ts";
import { allocate, IdDictionary, SparseBinaryMatrix } from "./sparse.ts";
import { EventSpill } from "./_event_spill.ts";
import { BASELINE_BYTES } from "./_compute.ts";

/** Events one by one, in arrays, or as column batches, synchronously or not. */
export type EventStream =
  | AsyncIterable<Event | readonly Event[] | EventColumns>
  | Iterable<Event | readonly Event[] | EventColumns>;

/** Mahout's default cap on interactions per user (`maxNumInteractions`). */
export const DEFAULT_MAX_HISTORY_PER_USER = 500;

/** Options for {@linkcode InteractionsBuilder}. */
export interface InteractionOptions {
  /**
   * Keep at most this many of each user's most recent distinct items per
   * event type. Default {@linkcode DEFAULT_MAX_HISTORY_PER_USER} (500).
   */
  maxHistoryPerUser?: number;
  /**
   * How many events to expect (a hint, e.g. from the file size): the user
   * and item dictionaries are sized for it instead of growing.
   */
  expectedEvents?: number;
  /**
   * Bytes the build may use. Here, no limit by default; `buildIndicators`
   * defaults to half the machine's memory (`defaultMemoryBudget`). Once the
   * events read would take more than about half of it, they go to
   * temporary files partitioned by user, and each partition is binarized
   * and capped on its own: the full user dictionary and event columns are
   * never in memory. When a field's co-occurrence state would not fit,
   * `buildIndicators` counts it in item-partitioned passes, and indicator
   * rows past their share go to temporary files. The model is the same
   * whatever the budget.
   */
  memoryBudget?: number;
  /** Directory for temporary files (default: the system's). */
  tempDir?: string;
}

/**
 * Sees each event an {@linkcode InteractionsBuilder} records, by its item's
 * index in the builder's item dictionary ({@linkcode InteractionsBuilder.items}),
 * whatever form the events came in (objects or column batches) and whether
 * or not they go on to temporary files: what a build counts beside the
 * interactions (e.g. its rankings) without a second dictionary.
 */
export interface EventObserver {
  /**
   * Asked once per event type, when the builder first sees it.
   *
   * @param eventType The type's name.
   * @returns What to call for each event of that type (item index,
   * timestamp), or `undefined` when its events do not matter.
   */
  counter(
    eventType: string,
  ): ((item: number, time: number) => void) | undefined;
  /** Bytes the observer holds, counted in the builder's memory budget. */
  readonly byteLength?: number;
}

/** Binarized, capped interactions of every event type. */
export interface Interactions {
  /**
   * The users: every user with any event. Only their number is kept once
   * histories are capped (users never appear in a model).
   */
  readonly users: { readonly size: number };
  /** Every item with any event, in first-seen order. */
  readonly items: IdDictionary;
  /** Event types in first-seen order. */
  readonly eventTypes: readonly string[];
  /** Events read per type (before binarizing and capping). */
  readonly eventsRead: Readonly<Record<string, number>>;
  /**
   * The `users.size × items.size` matrix of one event type, or `undefined`
   * when the type never occurred.
   */
  matrix(eventType: string): SparseBinaryMatrix | undefined;
  /**
   * Each item's rank in id string order ({@linkcode IdDictionary.sortRanks}),
   * computed once.
   */
  itemRanks(): Int32Array;
}

const CHUNK = 1 << 16;

/** Growable (user, item, time) columns in fixed-size chunks: no doubling copies. */
class ChunkedColumns {
  users: Int32Array[] = [];
  items: Int32Array[] = [];
  times: Float64Array[] = [];
  length = 0;
  #u = new Int32Array(0);
  #i = new Int32Array(0);
  #t = new Float64Array(0);
  #at = CHUNK;

  push(user: number, item: number, time: number) {
    if (this.#at === CHUNK) {
      this.#u = new Int32Array(CHUNK);
      this.#i = new Int32Array(CHUNK);
      this.#t = new Float64Array(CHUNK);
      this.users.push(this.#u);
      this.items.push(this.#i);
      this.times.push(this.#t);
      this.#at = 0;
    }
    const at = this.#at++;
    this.#u[at] = user;
    this.#i[at] = item;
    this.#t[at] = time;
    this.length++;
  }

  get byteLength(): number {
    return this.users.length * CHUNK * 16;
  }
}

/**
 * Accumulates events, then {@linkcode InteractionsBuilder.build | build}s
 * the capped binary matrices.
 *
 * Memory: 16 bytes per event read (user and item index, timestamp) plus
 * the two id dictionaries (see {@linkcode IdDictionary}); building adds 4
 * bytes per event of one type at a time, and the user dictionary is
 * released first.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { InteractionsBuilder } from "./interactions.ts";
 *
 * const b = new InteractionsBuilder();
 * b.add({ user: "u1", item: "a", event: "transaction", timestamp: 0 });
 * assert.equal(b.build().matrix("transaction")!.nnz, 1);
 * ```
 */
export class InteractionsBuilder {
  #users: IdDictionary | undefined;
  #items: IdDictionary;
  #types: string[] = [];
  #columns: ChunkedColumns[] = [];
  #typeIndex = new Map<string, number>();
  #observer?: EventObserver;
  // per type index: the observer's counter, if any
  #counters: (((item: number, time: number) => void) | undefined)[] = [];
  // per EventColumns.eventTypes array seen: batch code -> type index
  #codeMaps = new WeakMap<readonly string[], Int32Array>();
  #cap: number;
  #spillAt: number;
  #expected: number;
  #tempDir?: string;
  #spill?: EventSpill;
  #spillDir?: string;
  #spilled: number[] = []; // events per type sent to the spill
  #added = 0;
  // addColumns' scratch: the batch's user and item indexes
  #userIndexes = new Int32Array(0);
  #itemIndexes = new Int32Array(0);

  /**
   * Creates an empty builder.
   *
   * @param options History cap; see {@linkcode InteractionOptions}.
   * @throws {ConfigError} When the cap is not a positive integer.
   */
  constructor(options: InteractionOptions = {}) {
    // logs of the RetailRocket kind: about 1 user per 2 events, 1 item per 10
    const expected = Math.max(0, options.expectedEvents ?? 0);
    const budget = options.memoryBudget ?? Infinity;
    this.#spillAt = Math.max(0, (budget - BASELINE_BYTES) * 0.5);
    this.#expected = expected;
    this.#tempDir = options.tempDir;
    // presize only what the budget can hold (about 40 bytes an event)
    const presize = expected * 40 < this.#spillAt ? expected : 0;
    this.#users = new IdDictionary(presize / 2);
    this.#items = new IdDictionary(presize / 10);
    this.#cap = options.maxHistoryPerUser ?? DEFAULT_MAX_HISTORY_PER_USER;
    if (!Number.isInteger(this.#cap) || this.#cap < 1) {
      throw new ConfigError(
        "maxHistoryPerUser",
        `must be a positive integer, got ${this.#cap}`,
      );
    }
  }

  /** Events recorded so far. */
  get events(): number {
    let n = 0;
    for (const c of this.#columns) n += c.length;
    for (const c of this.#spilled) n += c;
    return n;
  }

  /** The item dictionary: every item seen so far, in first-seen order. */
  get items(): IdDictionary {
    return this.#items;
  }

  /**
   * Shows every event recorded from now on to `observer` (one at most).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { InteractionsBuilder } from "./interactions.ts";
   * import { EventColumns } from "../events/columns.ts";
   *
   * const b = new InteractionsBuilder();
   * const seen: [number, number][] = [];
   * b.observe({
   *   counter: (type) => type === "buy" ? (item, time) => seen.push([item, time]) : undefined,
   * });
   * b.add({ user: "u1", item: "a", event: "view", timestamp: 1 });
   * b.addColumns(EventColumns.fromEvents([{ user: "u2", item: "b", event: "buy", timestamp: 2 }]));
   * assert.deepEqual(seen, [[b.items.indexOf("b")!, 2]]);
   * ```
   *
   * @param observer Receives each event's item index and timestamp.
   */
  observe(observer: EventObserver): void {
    this.#observer = observer;
    this.#counters = this.#types.map((t) => observer.counter(t));
  }

  /** Whether events went to temporary files (the memory budget asked). */
  get spilled(): boolean {
    return this.#spill !== undefined;
  }

  /** Bytes held so far (columns and dictionaries), for memory accounting. */
  get byteLength(): number {
    let n = this.#items.byteLength + (this.#users?.byteLength ?? 0) +
      (this.#spill?.byteLength ?? 0) + (this.#observer?.byteLength ?? 0);
    for (const c of this.#columns) n += c.byteLength;
    return n;
  }

  #type(name: string): ChunkedColumns {
    let t = this.#typeIndex.get(name);
    if (t === undefined) {
      t = this.#types.length;
      this.#types.push(name);
      this.#columns.push(new ChunkedColumns());
      this.#spilled.push(0);
      this.#counters.push(this.#observer?.counter(name));
      this.#typeIndex.set(name, t);
    }
    return this.#columns[t];
  }

  // past the budget's share: every event so far to disk, by user partition
  #startSpill() {
    const users = this.#users!;
    const dir = this.#spillDir = Deno.makeTempDirSync({
      prefix: "cco-events-",
      ...(this.#tempDir ? { dir: this.#tempDir } : {}),
    });
    const held = this.events;
    // partitions of about a quarter of the share each, for the log
    // expected (at least 4 times what came so far), of 64 events or more
    const perEvent = this.byteLength / Math.max(1, held);
    const events = Math.max(held * 4, this.#expected);
    const partitions = Math.max(
      1,
      Math.min(
        256,
        Math.ceil(events / 64),
        Math.ceil((events * perEvent) / Math.max(1, this.#spillAt / 4)),
      ),
    );
    const spill = this.#spill = new EventSpill(
      partitions,
      dir,
      Math.max(1 << 20, this.#spillAt / 8),
    );
    // ids kept as bytes are at most as long as they came (65535 at most)
    const bytes = new Uint8Array(3 * 65536);
    this.#columns.forEach((cols, t) => {
      for (let c = 0; c < cols.users.length; c++) {
        const len = Math.min(CHUNK, cols.length - c * CHUNK);
        const u = cols.users[c], i = cols.items[c], time = cols.times[c];
        for (let k = 0; k < len; k++) {
          spill.add(t, bytes, 0, users.bytesOf(u[k], bytes), i[k], time[k]);
        }
      }
      this.#spilled[t] += cols.length;
      this.#columns[t] = new ChunkedColumns();
    });
    this.#users = undefined;
  }

  #built(): never {
    throw new Error("InteractionsBuilder: events added after build()");
  }

  /**
   * Records one event.
   *
   * @param event The event; its timestamp orders the user's history.
   */
  add(event: Event): void {
    if (this.#spill) {
      this.#type(event.event);
      const t = this.#typeIndex.get(event.event)!;
      const bytes = encoder.encode(event.user);
      const item = this.#items.intern(event.item);
      this.#spill.add(t, bytes, 0, bytes.length, item, event.timestamp);
      this.#spilled[t]++;
      this.#counters[t]?.(item, event.timestamp);
      return;
    }
    const users = this.#users ?? this.#built();
    const cols = this.#type(event.event);
    const user = users.intern(event.user);
    const item = this.#items.intern(event.item);
    cols.push(user, item, event.timestamp);
    this.#counters[this.#typeIndex.get(event.event)!]?.(item, event.timestamp);
    if ((this.#added++ & 0x3ff) === 0) this.#check();
  }

  #check() {
    if (!this.#spill && this.byteLength > this.#spillAt) this.#startSpill();
  }

  /**
   * Records a batch of events in columns (what `readEventColumns` yields):
   * ids are interned from their bytes, no string is made.
   *
   * @param batch The events.
   */
  addColumns(batch: EventColumns): void {
    const users = this.#spill ? undefined : this.#users ?? this.#built();
    const items = this.#items;
    let map = this.#codeMaps.get(batch.eventTypes);
    if (!map || map.length < batch.eventTypes.length) {
      const grown = new Int32Array(batch.eventTypes.length);
      batch.eventTypes.forEach((name, code) => {
        this.#type(name);
        grown[code] = this.#typeIndex.get(name)!;
      });
      this.#codeMaps.set(batch.eventTypes, map = grown);
    }
    const columns = this.#columns;
    const { bytes, userStart, userEnd, itemStart, itemEnd, type, time } = batch;
    const spill = this.#spill;
    const counters = this.#counters;
    const n = batch.length;
    if (this.#itemIndexes.length < n) {
      this.#itemIndexes = new Int32Array(n);
      this.#userIndexes = new Int32Array(n);
    }
    const itemIndexes = this.#itemIndexes, userIndexes = this.#userIndexes;
    items.internColumn(bytes, itemStart, itemEnd, n, itemIndexes);
    if (spill) {
      for (let k = 0; k < n; k++) {
        const t = map[type[k]];
        const i = itemIndexes[k];
        spill.add(t, bytes, userStart[k], userEnd[k], i, time[k]);
        this.#spilled[t]++;
        const count = counters[t];
        if (count !== undefined) count(i, time[k]);
      }
      return;
    }
    users!.internColumn(bytes, userStart, userEnd, n, userIndexes);
    for (let k = 0; k < n; k++) {
      const i = itemIndexes[k];
      const t = map[type[k]];
      columns[t].push(userIndexes[k], i, time[k]);
      const count = counters[t];
      if (count !== undefined) count(i, time[k]);
    }
    this.#check();
  }

  /**
   * Records every event of a (possibly async) stream of events, arrays of
   * events, or column batches (as `readEventColumns` yields: fastest).
   *
   * @param events The events.
   * @returns This builder, once the stream is consumed.
   */
  async addAll(events: EventStream): Promise<InteractionsBuilder> {
    for await (const e of events) {
      if (e instanceof EventColumns) this.addColumns(e);
      else if (Array.isArray(e)) { for (const one of e) this.add(one); }
      else this.add(e as Event);
    }
    return this;
  }

  /**
   * Binarizes and caps each event type into a CSR user × item matrix. The
   * builder's event columns and user dictionary are released as it goes:
   * build once, after the last event.
   *
   * @param options `shared`: put the matrices in shared memory (for
   * workers).
   * @returns The interactions.
   */
  build(options: { shared?: boolean } = {}): Interactions {
    const shared = options.shared ?? false;
    if (this.#spill) return this.#buildSpilled(shared);
    const numUsers = (this.#users ?? this.#built()).size;
    this.#users = undefined; // only the count is needed from here on
    const items = this.#items;
    let ranks: Int32Array | undefined;
    const itemRanks = () => ranks ??= items.sortRanks();
    const matrices = new Map<string, SparseBinaryMatrix>();
    const eventsRead: Record<string, number> = {};
    const stamp = new Int32Array(items.size).fill(-1);
    const latest = new Float64Array(items.size);
    this.#types.forEach((type, t) => {
      const cols = this.#columns[t];
      eventsRead[type] = cols.length;
      stamp.fill(-1);
      matrices.set(
        type,
        capAndBinarize(
          cols,
          numUsers,
          this.#cap,
          stamp,
          latest,
          itemRanks,
          shared,
        ),
      );
      this.#columns[t] = new ChunkedColumns(); // release the events
    });
    return {
      users: { size: numUsers },
      items,
      eventTypes: [...this.#types],
      eventsRead,
      matrix: (type) => matrices.get(type),
      itemRanks,
    };
  }

  // partition by partition: local users, capped rows to files per type,
  // then one exact-size CSR per type
  #buildSpilled(shared: boolean): Interactions {
    const spill = this.#spill!;
    const dir = this.#spillDir!;
    this.#spill = undefined;
    spill.finish();
    const items = this.#items;
    let ranks: Int32Array | undefined;
    const itemRanks = () => ranks ??= items.sortRanks();
    const types = this.#types;
    const stamp = new Int32Array(items.size);
    const latest = new Float64Array(items.size);
    const lengths = types.map((_, t) =>
      Deno.openSync(`${dir}/lengths-${t}.bin`, { write: true, create: true })
    );
    const idxs = types.map((_, t) =>
      Deno.openSync(`${dir}/idx-${t}.bin`, { write: true, create: true })
    );
    const nnz = types.map(() => 0);
    let numUsers = 0;
    try {
      for (let p = 0; p < spill.partitions; p++) {
        const local = new IdDictionary();
        const cols = types.map(() => new ChunkedColumns());
        spill.forEach(p, (t, bytes, start, end, item, time) => {
          cols[t].push(local.internBytes(bytes, start, end), item, time);
        });
        spill.remove(p);
        types.forEach((_, t) => {
          stamp.fill(-1);
          const m = capAndBinarize(
            cols[t],
            local.size,
            this.#cap,
            stamp,
            latest,
            itemRanks,
            false,
          );
          cols[t] = new ChunkedColumns();
          const rowLengths = new Uint32Array(local.size);
          for (let u = 0; u < local.size; u++) {
            rowLengths[u] = m.ptr[u + 1] - m.ptr[u];
          }
          writeAll(lengths[t], new Uint8Array(rowLengths.buffer));
          writeAll(
            idxs[t],
            new Uint8Array(m.idx.buffer, m.idx.byteOffset, m.idx.byteLength),
          );
          nnz[t] += m.nnz;
        });
        numUsers += local.size;
      }
    } finally {
      for (const f of [...lengths, ...idxs]) f.close();
    }
    const matrices = new Map<string, SparseBinaryMatrix>();
    const eventsRead: Record<string, number> = {};
    types.forEach((type, t) => {
      eventsRead[type] = this.#spilled[t];
      const ptr = allocate(Uint32Array, numUsers + 1, shared);
      const rowLengths = Deno.readFileSync(`${dir}/lengths-${t}.bin`);
      const view = new Uint32Array(
        rowLengths.buffer,
        rowLengths.byteOffset,
        numUsers,
      );
      for (let u = 0; u < numUsers; u++) ptr[u + 1] = ptr[u] + view[u];
      const idx = allocate(Int32Array, nnz[t], shared);
      readAll(`${dir}/idx-${t}.bin`, new Uint8Array(idx.buffer));
      matrices.set(
        type,
        new SparseBinaryMatrix(numUsers, items.size, ptr, idx),
      );
    });
    Deno.removeSync(dir, { recursive: true });
    return {
      users: { size: numUsers },
      items,
      eventTypes: [...types],
      eventsRead,
      matrix: (type) => matrices.get(type),
      itemRanks,
    };
  }
}

function writeAll(file: Deno.FsFile, bytes: Uint8Array) {
  let at = 0;
  while (at < bytes.length) at += file.writeSync(bytes.subarray(at));
}

function readAll(path: string, into: Uint8Array) {
  const file = Deno.openSync(path, { read: true });
  try {
    let at = 0;
    while (at < into.length) {
      const got = file.readSync(into.subarray(at));
      if (got === null) throw new Error(`${path}: truncated spill file`);
      at += got;
    }
  } finally {
    file.close();
  }
}

const encoder = new TextEncoder();

/**
 * One event type's events → CSR rows: each user's distinct items (latest
 * timestamp each), the `cap` most recent kept (ties by item id), ascending.
 * Counting sort by user in place of a per-user map; `stamp`/`latest` are
 * item-sized scratch arrays shared across types (only users with many
 * events use them: a few events are sorted by item instead, which touches
 * no item-sized array, whose cache misses dominated).
 */
function capAndBinarize(
  cols: ChunkedColumns,
  numUsers: number,
  cap: number,
  stamp: Int32Array,
  latest: Float64Array,
  itemRanks: () => Int32Array,
  shared: boolean,
): SparseBinaryMatrix {
  const n = cols.length;
  // ptr[u + 1] counts user u's events, then (prefix sums) ends them
  const ptr = allocate(Uint32Array, numUsers + 1, shared);
  const chunks = cols.users.length;
  for (let c = 0; c < chunks; c++) {
    const users = cols.users[c];
    const len = Math.min(CHUNK, n - c * CHUNK);
    for (let k = 0; k < len; k++) ptr[users[k] + 1]++;
  }
  for (let u = 0; u < numUsers; u++) ptr[u + 1] += ptr[u];
  // place event numbers at the end of their user's range, moving ptr[u + 1]
  // down to the range's start: afterwards user u's events are
  // order[ptr[u + 1] .. ptr[u + 2]] (the last user's end is n)
  const order = allocate(Int32Array, n, shared);
  for (let c = chunks - 1; c >= 0; c--) {
    const users = cols.users[c];
    const len = Math.min(CHUNK, n - c * CHUNK);
    for (let k = len - 1; k >= 0; k--) {
      order[--ptr[users[k] + 1]] = c * CHUNK + k;
    }
  }
  const rows = new UserRows(cols, order, cap, stamp, latest, itemRanks);
  let nnz = 0;
  let from = ptr[1];
  for (let u = 0; u < numUsers; u++) {
    const to = u + 2 <= numUsers ? ptr[u + 2] : n;
    nnz = rows.write(u, from, to, nnz);
    from = to;
    ptr[u + 1] = nnz;
  }
  ptr[0] = 0;
  let idx = order;
  if (nnz < n) {
    idx = allocate(Int32Array, nnz, shared);
    idx.set(order.subarray(0, nnz));
  }
  return new SparseBinaryMatrix(numUsers, stamp.length, ptr, idx);
}

/** Rows of at most this many events are binarized by sorting. */
const SMALL_ROW = 32;

// one user's row at a time: its distinct items (latest time each), the
// cap most recent kept, ascending, written over the event numbers read
class UserRows {
  #cols: ChunkedColumns;
  #order: Int32Array;
  #cap: number;
  #stamp: Int32Array;
  #latest: Float64Array;
  #itemRanks: () => Int32Array;
  #items = new Int32Array(SMALL_ROW);
  #times = new Float64Array(SMALL_ROW);
  #scratch = new Int32Array(64);

  constructor(
    cols: ChunkedColumns,
    order: Int32Array,
    cap: number,
    stamp: Int32Array,
    latest: Float64Array,
    itemRanks: () => Int32Array,
  ) {
    this.#cols = cols;
    this.#order = order;
    this.#cap = cap;
    this.#stamp = stamp;
    this.#latest = latest;
    this.#itemRanks = itemRanks;
  }

  // user u's events order[from .. to] → its row at order[nnz ..] (which
  // ends before its events do); returns the new nnz
  write(u: number, from: number, to: number, nnz: number): number {
    return to - from <= SMALL_ROW
      ? this.#small(from, to, nnz)
      : this.#large(u, from, to, nnz);
  }

  // a few events: sorted by item as they come (a linear insertion), an
  // item again keeping its latest time; no item-sized arrays touched
  #small(from: number, to: number, nnz: number): number {
    const order = this.#order, items = this.#cols.items;
    const times = this.#cols.times;
    const rowItems = this.#items, rowTimes = this.#times;
    let kept = 0;
    for (let k = from; k < to; k++) {
      const e = order[k];
      const item = items[e >>> 16][e & 0xffff];
      const t = times[e >>> 16][e & 0xffff];
      let p = kept - 1;
      while (p >= 0 && rowItems[p] > item) p--;
      if (p >= 0 && rowItems[p] === item) {
        if (t > rowTimes[p]) rowTimes[p] = t;
        continue;
      }
      for (let q = kept; q > p + 1; q--) {
        rowItems[q] = rowItems[q - 1];
        rowTimes[q] = rowTimes[q - 1];
      }
      rowItems[p + 1] = item;
      rowTimes[p + 1] = t;
      kept++;
    }
    if (kept > this.#cap) {
      for (let j = 0; j < kept; j++) this.#latest[rowItems[j]] = rowTimes[j];
      return this.#keep(rowItems, kept, nnz);
    }
    for (let j = 0; j < kept; j++) order[nnz + j] = rowItems[j];
    return nnz + kept;
  }

  // many events: distinct items by stamping them in item-sized arrays
  #large(u: number, from: number, to: number, nnz: number): number {
    const order = this.#order, items = this.#cols.items;
    const times = this.#cols.times;
    const stamp = this.#stamp, latest = this.#latest;
    let scratch = this.#scratch;
    let kept = 0;
    for (let k = from; k < to; k++) {
      const e = order[k];
      const item = items[e >>> 16][e & 0xffff];
      const t = times[e >>> 16][e & 0xffff];
      if (stamp[item] !== u) {
        stamp[item] = u;
        latest[item] = t;
        if (kept === scratch.length) {
          const grown = new Int32Array(kept * 2);
          grown.set(scratch);
          this.#scratch = scratch = grown;
        }
        scratch[kept++] = item;
      } else if (t > latest[item]) {
        latest[item] = t;
      }
    }
    if (kept > this.#cap) return this.#keep(scratch, kept, nnz);
    const row = scratch.subarray(0, kept);
    row.sort();
    order.set(row, nnz);
    return nnz + kept;
  }

  // the cap most recent of a row's kept items (latest times in #latest),
  // ties by item id, ascending at order[nnz ..]
  #keep(row: Int32Array, kept: number, nnz: number): number {
    const ranks = this.#itemRanks(), latest = this.#latest;
    const sorted = Array.from(row.subarray(0, kept)).sort((a, b) =>
      (latest[b] - latest[a]) || (ranks[a] - ranks[b])
    );
    const cap = this.#cap;
    const out = Int32Array.from(sorted.slice(0, cap)).sort();
    this.#order.set(out, nnz);
    return nnz + cap;
  }
}
