/**
 * Internal: events spilled to disk, partitioned by user, for a build whose
 * events do not fit its memory budget. Every event of a user lands in the
 * same partition (by a hash of the user id's bytes), so each partition can
 * be binarized and capped on its own, with its own user dictionary: the
 * full user dictionary and the full event columns are never in memory.
 *
 * Record: `[type u8][user id length u16][user id bytes][item u32][time f64]`
 * (little-endian), appended to one file per partition through a buffer.
 *
 * @module
 */

const BUFFER_BYTES = 1 << 18;
const MIN_BUFFER_BYTES = 1 << 12;

/** Hash of an id's bytes (FNV-1a), for partitioning. */
export function idHash(bytes: Uint8Array, start: number, end: number): number {
  let h = 0x811c9dc5;
  for (let i = start; i < end; i++) h = Math.imul(h ^ bytes[i], 0x01000193);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}

/** Events on disk, in user partitions. */
export class EventSpill {
  /** Number of partitions. */
  readonly partitions: number;
  readonly #dir: string;
  readonly #buffers: (Uint8Array | undefined)[];
  readonly #views: (DataView | undefined)[];
  readonly #bufferBytes: number;
  readonly #fill: Int32Array;
  readonly #files: (Deno.FsFile | undefined)[];
  #written = 0;

  /**
   * Creates the partitions (files are made as they fill).
   *
   * @param partitions How many.
   * @param dir A directory for the files.
   * @param bufferBytes Bytes all the write buffers may take together.
   */
  constructor(partitions: number, dir: string, bufferBytes = 64 << 20) {
    this.partitions = partitions;
    this.#dir = dir;
    this.#bufferBytes = Math.max(
      MIN_BUFFER_BYTES,
      Math.min(BUFFER_BYTES, Math.floor(bufferBytes / partitions)),
    );
    this.#buffers = new Array(partitions).fill(undefined);
    this.#views = new Array(partitions).fill(undefined);
    this.#fill = new Int32Array(partitions);
    this.#files = new Array(partitions).fill(undefined);
  }

  /** Bytes held in memory (the buffers). */
  get byteLength(): number {
    let n = 0;
    for (const b of this.#buffers) n += b?.length ?? 0;
    return n;
  }

  /** Bytes written to disk so far. */
  get bytesWritten(): number {
    return this.#written;
  }

  #path(p: number): string {
    return `${this.#dir}/events-${p}.bin`;
  }

  #flush(p: number) {
    const n = this.#fill[p];
    if (n === 0) return;
    const file = this.#files[p] ??= Deno.openSync(this.#path(p), {
      write: true,
      create: true,
      truncate: true,
    });
    const bytes = this.#buffers[p]!.subarray(0, n);
    let at = 0;
    while (at < n) at += file.writeSync(bytes.subarray(at));
    this.#written += n;
    this.#fill[p] = 0;
  }

  /**
   * Appends one event.
   *
   * @param type Event type number (below 256).
   * @param user Bytes holding the user id.
   * @param start Its first byte.
   * @param end One past its last byte.
   * @param item Item index.
   * @param time Timestamp.
   */
  add(
    type: number,
    user: Uint8Array,
    start: number,
    end: number,
    item: number,
    time: number,
  ): void {
    const len = end - start;
    if (len > 0xffff) {
      throw new RangeError(`user id longer than 65535 bytes`);
    }
    const p = idHash(user, start, end) % this.partitions;
    const size = this.#bufferBytes;
    if (this.#fill[p] + len + 15 > size) this.#flush(p);
    let buf = this.#buffers[p], view = this.#views[p];
    if (!buf || buf.length < len + 15) {
      buf = this.#buffers[p] = new Uint8Array(Math.max(size, len + 15));
      view = this.#views[p] = new DataView(buf.buffer);
    }
    let at = this.#fill[p];
    buf[at] = type;
    buf[at + 1] = len & 0xff;
    buf[at + 2] = len >>> 8;
    at += 3;
    buf.set(user.subarray(start, end), at);
    at += len;
    view!.setUint32(at, item, true);
    view!.setFloat64(at + 4, time, true);
    this.#fill[p] = at + 12;
  }

  /** Writes what the buffers hold and closes the files. */
  finish(): void {
    for (let p = 0; p < this.partitions; p++) {
      this.#flush(p);
      this.#files[p]?.close();
      this.#files[p] = undefined;
      this.#buffers[p] = this.#views[p] = undefined;
    }
  }

  /**
   * Calls `fn` for every event of partition `p`, in the order added.
   *
   * @param p The partition.
   * @param fn Receives type, the record's bytes with the user id's range,
   * item and time.
   */
  forEach(
    p: number,
    fn: (
      type: number,
      bytes: Uint8Array,
      start: number,
      end: number,
      item: number,
      time: number,
    ) => void,
  ): void {
    let bytes: Uint8Array;
    try {
      bytes = Deno.readFileSync(this.#path(p));
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) return; // no event
      throw error;
    }
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.length);
    let at = 0;
    while (at < bytes.length) {
      const type = bytes[at];
      const len = bytes[at + 1] | (bytes[at + 2] << 8);
      const start = at + 3, end = start + len;
      fn(
        type,
        bytes,
        start,
        end,
        view.getUint32(end, true),
        view.getFloat64(end + 4, true),
      );
      at = end + 12;
    }
  }

  /** Removes partition `p`'s file. */
  remove(p: number): void {
    try {
      Deno.removeSync(this.#path(p));
    } catch {
      // no file
    }
  }
}
