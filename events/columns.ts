/**
 * A batch of events as columns over the bytes they were read from: the
 * reader's fast output. Ids stay bytes (offsets into {@linkcode
 * EventColumns.bytes}) until someone asks for them as strings, so a build
 * can intern them without ever making a string per event.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseEventColumns } from "./read.ts";
 *
 * const csv = "timestamp,visitorid,event,itemid,transactionid\n5,u1,view,i9,\n";
 * for await (const batch of parseEventColumns(csv)) {
 *   assert.equal(batch.length, 1);
 *   assert.equal(batch.item(0), "i9");
 *   assert.equal(batch.eventTypes[batch.type[0]], "view");
 *   assert.deepEqual(batch.toEvents(), [{ user: "u1", item: "i9", event: "view", timestamp: 5 }]);
 * }
 * ```
 *
 * @module
 */

import type { Event } from "./format.ts";

const decoder = new TextDecoder();

/**
 * Decodes UTF-8 bytes, with a fast path for ASCII.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeBytes } from "./columns.ts";
 *
 * assert.equal(decodeBytes(new TextEncoder().encode("x42é"), 1, 5), "42é");
 * ```
 *
 * @param bytes The buffer.
 * @param start First byte.
 * @param end One past the last byte.
 * @returns The text.
 */
export function decodeBytes(
  bytes: Uint8Array,
  start: number,
  end: number,
): string {
  if (end - start > 64) return decoder.decode(bytes.subarray(start, end));
  let s = "";
  for (let i = start; i < end; i++) {
    const b = bytes[i];
    if (b >= 0x80) return decoder.decode(bytes.subarray(start, end));
    s += String.fromCharCode(b);
  }
  return s;
}

/**
 * Events in columns. Event `i` has user bytes
 * `bytes[userStart[i] .. userEnd[i]]`, item bytes likewise, event type
 * `eventTypes[type[i]]` and timestamp `time[i]` (unix ms).
 */
export class EventColumns {
  /** Number of events. */
  readonly length: number;
  /** The bytes the ids point into (shared by the batch; do not modify). */
  readonly bytes: Uint8Array;
  /** Start of each user id in {@linkcode EventColumns.bytes}. */
  readonly userStart: Uint32Array;
  /** End (exclusive) of each user id. */
  readonly userEnd: Uint32Array;
  /** Start of each item id. */
  readonly itemStart: Uint32Array;
  /** End (exclusive) of each item id. */
  readonly itemEnd: Uint32Array;
  /** Event type of each event, an index into {@linkcode EventColumns.eventTypes}. */
  readonly type: Uint8Array;
  /** Timestamp of each event, unix ms. */
  readonly time: Float64Array;
  /**
   * Canonical event type names by code. The array is shared by every batch
   * of one read and may grow as new types appear; codes never change.
   */
  readonly eventTypes: readonly string[];

  /**
   * Wraps columns (not copied).
   *
   * @param columns The columns, each at least `length` long.
   */
  constructor(columns: {
    length: number;
    bytes: Uint8Array;
    userStart: Uint32Array;
    userEnd: Uint32Array;
    itemStart: Uint32Array;
    itemEnd: Uint32Array;
    type: Uint8Array;
    time: Float64Array;
    eventTypes: readonly string[];
  }) {
    this.length = columns.length;
    this.bytes = columns.bytes;
    this.userStart = columns.userStart;
    this.userEnd = columns.userEnd;
    this.itemStart = columns.itemStart;
    this.itemEnd = columns.itemEnd;
    this.type = columns.type;
    this.time = columns.time;
    this.eventTypes = columns.eventTypes;
  }

  /**
   * Columns built from event objects (for callers that have objects).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { EventColumns } from "./columns.ts";
   *
   * const c = EventColumns.fromEvents([{ user: "u", item: "é", event: "buy", timestamp: 3 }]);
   * assert.deepEqual(c.toEvents(), [{ user: "u", item: "é", event: "buy", timestamp: 3 }]);
   * ```
   *
   * @param events The events.
   * @param eventTypes Type names to reuse (extended with new ones).
   * @returns The columns.
   */
  static fromEvents(
    events: readonly Event[],
    eventTypes: string[] = [],
  ): EventColumns {
    const encoder = new TextEncoder();
    const n = events.length;
    const parts: Uint8Array[] = [];
    let size = 0;
    const userStart = new Uint32Array(n), userEnd = new Uint32Array(n);
    const itemStart = new Uint32Array(n), itemEnd = new Uint32Array(n);
    const type = new Uint8Array(n), time = new Float64Array(n);
    const codes = new Map(eventTypes.map((t, i) => [t, i]));
    for (let i = 0; i < n; i++) {
      const e = events[i];
      const u = encoder.encode(e.user), it = encoder.encode(e.item);
      userStart[i] = size;
      size += u.length;
      userEnd[i] = size;
      itemStart[i] = size;
      size += it.length;
      itemEnd[i] = size;
      parts.push(u, it);
      let code = codes.get(e.event);
      if (code === undefined) {
        code = eventTypes.length;
        if (code > 255) {
          throw new RangeError("more than 256 event types in one read");
        }
        eventTypes.push(e.event);
        codes.set(e.event, code);
      }
      type[i] = code;
      time[i] = e.timestamp;
    }
    const bytes = new Uint8Array(size);
    let at = 0;
    for (const p of parts) {
      bytes.set(p, at);
      at += p.length;
    }
    return new EventColumns({
      length: n,
      bytes,
      userStart,
      userEnd,
      itemStart,
      itemEnd,
      type,
      time,
      eventTypes,
    });
  }

  /**
   * User id of event `i`.
   *
   * @param i Event index.
   * @returns The id.
   */
  user(i: number): string {
    return decodeBytes(this.bytes, this.userStart[i], this.userEnd[i]);
  }

  /**
   * Item id of event `i`.
   *
   * @param i Event index.
   * @returns The id.
   */
  item(i: number): string {
    return decodeBytes(this.bytes, this.itemStart[i], this.itemEnd[i]);
  }

  /**
   * The events as objects.
   *
   * @returns One {@linkcode Event} per row.
   */
  toEvents(): Event[] {
    const out: Event[] = new Array(this.length);
    for (let i = 0; i < this.length; i++) {
      out[i] = {
        user: this.user(i),
        item: this.item(i),
        event: this.eventTypes[this.type[i]],
        timestamp: this.time[i],
      };
    }
    return out;
  }
}
