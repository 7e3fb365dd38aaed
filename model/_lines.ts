/**
 * Internal: the non-blank lines of a text file (plain, or gzip by `.gz`
 * suffix), streamed: bytes are split at `\n` before decoding, so no string
 * ever holds more than one line.
 *
 * @module
 */

/**
 * Yields `[lineNumber, text]` for each non-blank line (1-based numbers;
 * a trailing `\r` is dropped).
 *
 * @param path File path.
 * @param error Builds the error thrown when the file cannot be read.
 * @returns The lines.
 */
export async function* fileLines(
  path: string,
  error: (message: string) => Error,
): AsyncGenerator<[number, string]> {
  let file: Deno.FsFile;
  try {
    file = await Deno.open(path);
  } catch (e) {
    throw error(`cannot read ${path}: ${(e as Error).message.split("\n")[0]}`);
  }
  let stream: ReadableStream<Uint8Array> = file.readable;
  if (path.endsWith(".gz")) {
    stream = stream.pipeThrough(
      new DecompressionStream("gzip") as unknown as TransformStream<
        Uint8Array,
        Uint8Array
      >,
    );
  }
  const decoder = new TextDecoder();
  let line = 0;
  let carry: Uint8Array[] = [];
  const emit = (bytes: Uint8Array): string | undefined => {
    line++;
    let end = bytes.length;
    if (end > 0 && bytes[end - 1] === 13) end--;
    const text = decoder.decode(bytes.subarray(0, end));
    return text.trim() === "" ? undefined : text;
  };
  const reader = stream.getReader();
  try {
    for (;;) {
      let chunk: ReadableStreamReadResult<Uint8Array>;
      try {
        chunk = await reader.read();
      } catch (e) {
        throw error(
          `${path}:${line + 1}: cannot read: ${
            (e as Error).message.split("\n")[0]
          }`,
        );
      }
      if (chunk.done) break;
      const bytes = chunk.value;
      let start = 0;
      for (let nl = bytes.indexOf(10); nl >= 0; nl = bytes.indexOf(10, start)) {
        let piece = bytes.subarray(start, nl);
        if (carry.length > 0) {
          piece = concat([...carry, piece]);
          carry = [];
        }
        const text = emit(piece);
        if (text !== undefined) yield [line, text];
        start = nl + 1;
      }
      if (start < bytes.length) carry.push(bytes.slice(start));
    }
    if (carry.length > 0) {
      const text = emit(concat(carry));
      if (text !== undefined) yield [line, text];
    }
  } finally {
    reader.releaseLock();
    await stream.cancel().catch(() => {});
  }
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}
