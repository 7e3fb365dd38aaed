/**
 * Internal: the bytes of an events file, decompressed when it is gzip,
 * in chunks of about 1 MiB, with the share of the file read so far.
 *
 * Whether a file is gzip is read from its first bytes, whatever its name
 * (gzip named `.csv` is read, and so is plain text named `.gz`).
 * Concatenated gzip members (what `cat a.gz b.gz` or parallel gzip tools
 * write) are read as one stream.
 *
 * @module
 */

/** Size of the chunks handed to the parser. */
export const CHUNK_BYTES = 1 << 20;

/**
 * Free bytes kept before each chunk of a plain file (but the first), in its
 * buffer: the reader writes the partial line carried from the chunk before
 * there instead of copying the whole chunk after it.
 */
export const HEADROOM = 4096;

/**
 * The buffers of a plain file's chunks: each one is behind one chunk only
 * (so one batch), and the chunks but the first start {@linkcode HEADROOM}
 * bytes into it. Such a buffer can be handed to another thread as it is.
 */
export const readBuffers: WeakSet<ArrayBufferLike> = new WeakSet();

/** A failure of the input itself (not of a line): the reader adds the line. */
export class InputError extends Error {
  /**
   * Creates the error.
   *
   * @param reason The cause, one line.
   */
  constructor(readonly reason: string, readonly wholeFile = false) {
    super(reason);
  }
}

/** An error of a caller's callback, carried through unchanged. */
export class Passthrough {
  /**
   * Wraps the callback's error.
   *
   * @param error What the callback threw.
   */
  constructor(readonly error: unknown) {}
}

function oneLine(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).split(
    "\n",
  )[0];
}

/** Reports bytes of the file read so far, and its size. */
export type ByteProgress = (read: number, total: number) => void;

/**
 * Opens a file and yields its decompressed bytes.
 *
 * @param path File path.
 * @param onProgress Called after each chunk with file bytes read and size.
 * @returns Chunks of bytes.
 * @throws {InputError} When the file cannot be opened, read or decompressed.
 */
export async function* fileChunks(
  path: string,
  onProgress?: ByteProgress,
): AsyncGenerator<Uint8Array> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (error) {
    throw new InputError(`cannot open: ${oneLine(error)}`, true);
  }
  try {
    const size = (await file.stat()).size;
    let read = 0;
    const first = new Uint8Array(CHUNK_BYTES);
    const n = await readFull(file, first);
    read += n;
    const head = first.subarray(0, n);
    // the content says whether it is gzip, not the name: gzip under
    // any name is read, and so is plain text named .gz
    const gzip = n >= 2 && head[0] === 0x1f && head[1] === 0x8b;
    const progress = () => {
      try {
        onProgress?.(read, size);
      } catch (error) {
        throw new Passthrough(error);
      }
    };
    if (!gzip) {
      progress();
      readBuffers.add(first.buffer);
      if (n > 0) yield head;
      for (;;) {
        const buf = new Uint8Array(HEADROOM + CHUNK_BYTES);
        const got = await readFull(file, buf.subarray(HEADROOM));
        if (got === 0) break;
        read += got;
        progress();
        readBuffers.add(buf.buffer);
        yield buf.subarray(HEADROOM, HEADROOM + got);
      }
      return;
    }
    const compressed = async function* (): AsyncGenerator<Uint8Array> {
      yield head;
      for (;;) {
        const buf = new Uint8Array(CHUNK_BYTES >> 2);
        const got = await readFull(file, buf);
        if (got === 0) return;
        read += got;
        yield buf.subarray(0, got);
      }
    };
    yield* gunzip(compressed(), progress);
  } catch (error) {
    if (error instanceof InputError || error instanceof Passthrough) {
      throw error;
    }
    throw new InputError(`cannot read: ${oneLine(error)}`);
  } finally {
    try {
      file.close();
    } catch {
      // already closed
    }
  }
}

async function readFull(file: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let at = 0;
  while (at < buf.length) {
    const got = await file.read(buf.subarray(at));
    if (got === null) break;
    at += got;
  }
  return at;
}

/**
 * Decompresses gzip (one or several members) into chunks of at least
 * {@linkcode CHUNK_BYTES} (the last one may be shorter).
 *
 * @param source Compressed bytes.
 * @param onChunk Called after each compressed chunk is consumed.
 * @returns Decompressed chunks.
 * @throws {InputError} For corrupt or truncated data.
 */
export async function* gunzip(
  source: AsyncIterable<Uint8Array>,
  onChunk?: () => void,
): AsyncGenerator<Uint8Array> {
  // loaded on first use: plain logs never pay for Node's zlib
  const { createGunzip } = await import("node:zlib");
  const z = createGunzip({ chunkSize: 256 << 10 });
  let failed: unknown;
  const pump = (async () => {
    for await (const chunk of source) {
      if (!z.write(chunk)) {
        await new Promise<void>((resolve) => z.once("drain", () => resolve()));
      }
      onChunk?.();
    }
    z.end();
  })();
  pump.catch((error) => {
    failed = error;
    z.destroy(error);
  });
  const parts: Uint8Array[] = [];
  let size = 0;
  const join = () => {
    const out = parts.length === 1 ? parts[0] : new Uint8Array(size);
    if (parts.length > 1) {
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
    }
    parts.length = 0;
    size = 0;
    return out;
  };
  try {
    for await (const piece of z) {
      const bytes = piece as Uint8Array;
      parts.push(
        new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength),
      );
      size += bytes.byteLength;
      if (size >= CHUNK_BYTES) yield join();
    }
    await pump;
  } catch (error) {
    if (error instanceof InputError || error instanceof Passthrough) {
      throw error;
    }
    if (failed instanceof Passthrough) throw failed;
    if (failed !== undefined) {
      throw failed instanceof InputError
        ? failed
        : new InputError(`cannot read: ${oneLine(failed)}`);
    }
    const message = oneLine(error);
    throw new InputError(
      /unexpected end/i.test(message)
        ? "truncated gzip data (unexpected end of file)"
        : `corrupt gzip data (${message})`,
    );
  } finally {
    z.destroy();
  }
  if (size > 0) yield join();
}
