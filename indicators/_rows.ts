/**
 * Internal: the indicator rows of one field, in item order, as the build
 * produces them block by block: kept in memory as the blocks came, or,
 * past a byte allowance, spilled to a temporary file and read back
 * sequentially. Either way {@linkcode RowStore.cursor} walks the rows
 * item by item, as many times as asked. Rows may carry a weight per
 * indicator (learned weights) beside its root LLR.
 *
 * @module
 */

/** A block of consecutive rows. */
export interface RowBlock {
  /** Offsets from 0, one per row plus one. */
  ptr: Uint32Array;
  /** Indicator items. */
  items: Int32Array;
  /** Their root LLR. */
  scores: Float64Array;
  /** Their weights, when the rows carry them (learned weights). */
  weights?: Float64Array;
}

/**
 * Walks rows one item at a time: after `next()`, the row is
 * `items[start .. end]` and `scores[start .. end]` (no copy, no view).
 */
export interface RowCursor {
  /** Moves to the next item's row. */
  next(): void;
  /** Items of the current block. */
  items: Int32Array;
  /** Scores of the current block. */
  scores: Float64Array;
  /** Weights of the current block, when its rows carry them. */
  weights?: Float64Array;
  /** Start of the current row. */
  start: number;
  /** End of the current row. */
  end: number;
  /** Releases the file handle (when reading a spilled store). */
  close(): void;
}

/** Bytes of a spilled block's header. */
const HEAD = 16;

function blockBytes(b: RowBlock): number {
  return b.ptr.byteLength + b.items.byteLength + b.scores.byteLength +
    (b.weights?.byteLength ?? 0);
}

/** Rows of one field, in memory or spilled to a file. */
export class RowStore {
  #blocks: RowBlock[] = [];
  #bytes = 0;
  #maxBytes: number;
  #tempDir: () => string;
  #path?: string;
  #file?: Deno.FsFile;
  #rows = 0;

  /**
   * Creates an empty store.
   *
   * @param maxBytes Spill to a file past this many bytes in memory.
   * @param tempDir Makes (once) the directory for the file.
   */
  constructor(maxBytes: number, tempDir: () => string) {
    this.#maxBytes = maxBytes;
    this.#tempDir = tempDir;
  }

  /** Rows appended. */
  get rows(): number {
    return this.#rows;
  }

  /** Bytes held in memory. */
  get byteLength(): number {
    return this.#bytes;
  }

  /** Whether the rows went to a file. */
  get spilled(): boolean {
    return this.#path !== undefined;
  }

  /**
   * Appends the rows of the next items.
   *
   * @param block The rows.
   */
  append(block: RowBlock): void {
    this.#rows += block.ptr.length - 1;
    if (this.#file) {
      this.#write(block);
      return;
    }
    this.#blocks.push(block);
    this.#bytes += blockBytes(block);
    if (this.#bytes > this.#maxBytes) {
      this.#path = `${this.#tempDir()}/rows-${crypto.randomUUID()}.bin`;
      this.#file = Deno.openSync(this.#path, { write: true, createNew: true });
      for (const b of this.#blocks) this.#write(b);
      this.#blocks = [];
      this.#bytes = 0;
    }
  }

  /** Ends appending (closes the file, if any). */
  finish(): void {
    this.#file?.close();
    this.#file = undefined;
  }

  /** Removes the file, if any. */
  release(): void {
    this.finish();
    if (this.#path) {
      try {
        Deno.removeSync(this.#path);
      } catch {
        // already gone
      }
    }
    this.#blocks = [];
  }

  // [rows u32][nnz u32][weighted u32][0 u32][ptr u32 × (rows + 1)]
  // [items i32 × nnz][pad][scores f64 × nnz][weights f64 × nnz, if weighted]
  #write(b: RowBlock) {
    const rows = b.ptr.length - 1, nnz = b.items.length;
    const head = HEAD + 4 * (rows + 1) + 4 * nnz;
    const pad = (8 - (head % 8)) % 8;
    const columns = b.weights ? 2 : 1;
    const bytes = new Uint8Array(head + pad + 8 * nnz * columns);
    const view = new DataView(bytes.buffer);
    view.setUint32(0, rows, true);
    view.setUint32(4, nnz, true);
    view.setUint32(8, b.weights ? 1 : 0, true);
    new Uint32Array(bytes.buffer, HEAD, rows + 1).set(b.ptr);
    new Int32Array(bytes.buffer, HEAD + 4 * (rows + 1), nnz).set(b.items);
    new Float64Array(bytes.buffer, head + pad, nnz).set(b.scores);
    if (b.weights) {
      new Float64Array(bytes.buffer, head + pad + 8 * nnz, nnz).set(b.weights);
    }
    let at = 0;
    while (at < bytes.length) at += this.#file!.writeSync(bytes.subarray(at));
  }

  /**
   * A cursor from the first row. In memory, rows are views of the blocks;
   * from a file, blocks are read as the cursor reaches them.
   *
   * @returns The cursor.
   */
  cursor(): RowCursor {
    const blocks = this.#blocks;
    const path = this.#path;
    let file: Deno.FsFile | undefined;
    let block: RowBlock | undefined;
    let b = -1;
    let r = 0;
    const empty = { items: new Int32Array(0), scores: new Float64Array(0) };
    const load = (): RowBlock | undefined => {
      if (!path) return blocks[++b];
      file ??= Deno.openSync(path, { read: true });
      const head = new Uint8Array(HEAD);
      if (!readFull(file, head)) return undefined;
      const view = new DataView(head.buffer);
      const rows = view.getUint32(0, true), nnz = view.getUint32(4, true);
      const weighted = view.getUint32(8, true) === 1;
      const size = HEAD + 4 * (rows + 1) + 4 * nnz;
      const pad = (8 - (size % 8)) % 8;
      const bytes = new Uint8Array(size + pad + 8 * nnz * (weighted ? 2 : 1));
      bytes.set(head);
      readFull(file, bytes.subarray(HEAD));
      return {
        ptr: new Uint32Array(bytes.buffer, HEAD, rows + 1),
        items: new Int32Array(bytes.buffer, HEAD + 4 * (rows + 1), nnz),
        scores: new Float64Array(bytes.buffer, size + pad, nnz),
        ...(weighted
          ? {
            weights: new Float64Array(
              bytes.buffer,
              size + pad + 8 * nnz,
              nnz,
            ),
          }
          : {}),
      };
    };
    const cursor: RowCursor = {
      items: empty.items,
      scores: empty.scores,
      start: 0,
      end: 0,
      close() {
        try {
          file?.close();
        } catch {
          // already closed
        }
        file = undefined;
      },
      next() {
        while (!block || r >= block.ptr.length - 1) {
          block = load();
          r = 0;
          if (!block) throw new RangeError("RowStore: read past the last row");
        }
        cursor.items = block.items;
        cursor.scores = block.scores;
        cursor.weights = block.weights;
        cursor.start = block.ptr[r];
        cursor.end = block.ptr[r + 1];
        r++;
      },
    };
    return cursor;
  }
}

function readFull(file: Deno.FsFile, buf: Uint8Array): boolean {
  let at = 0;
  while (at < buf.length) {
    const got = file.readSync(buf.subarray(at));
    if (got === null) {
      if (at === 0) return false;
      throw new Error("RowStore: spill file truncated");
    }
    at += got;
  }
  return true;
}
