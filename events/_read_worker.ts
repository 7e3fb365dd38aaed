/**
 * Internal: a worker that reads and parses an events file
 * (`readEventColumns` in another thread) and posts the column batches,
 * their buffers transferred, as many ahead as the reader allows.
 *
 * Messages in: `{ path, format, options }` to start, `{ credit: n }` to
 * allow n more batches. Out: `{ batch, eventTypes?, read, total }`,
 * `{ done, skipped }`, or `{ error }`.
 *
 * @module
 */

import type { EventFormat } from "./format.ts";
import { EventParseError, readEventColumns, type SkipReport } from "./read.ts";
import { readBuffers } from "./_input.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;

let credit = 0;
let wake: (() => void) | undefined;

scope.onmessage = (event: MessageEvent) => {
  const message = event.data;
  if ("credit" in message) {
    credit += message.credit;
    wake?.();
    return;
  }
  run(message).catch((error) => {
    scope.postMessage({
      error: error instanceof EventParseError
        ? { file: error.file, line: error.line, reason: error.reason }
        : { message: String((error as Error)?.message ?? error) },
    });
  });
};

async function run(start: {
  path: string;
  format: EventFormat;
  options: { onError?: "fail" | "skip"; maxLineBytes?: number };
}) {
  const skipped: SkipReport = { count: 0, first: [] };
  let read = 0, total = 0;
  let types = 0;
  for await (
    const batch of readEventColumns(start.path, start.format, {
      ...start.options,
      skipped,
      onProgress: (r, t) => {
        read = r;
        total = t;
      },
    })
  ) {
    while (credit === 0) await new Promise<void>((r) => wake = r);
    credit--;
    // the bytes may be a view into a buffer still in use (zlib's): copy,
    // unless the buffer is the batch's alone
    const whole = readBuffers.has(batch.bytes.buffer) ||
      (batch.bytes.byteOffset === 0 &&
        batch.bytes.byteLength === batch.bytes.buffer.byteLength);
    const columns = {
      length: batch.length,
      bytes: whole ? batch.bytes : batch.bytes.slice(),
      userStart: batch.userStart,
      userEnd: batch.userEnd,
      itemStart: batch.itemStart,
      itemEnd: batch.itemEnd,
      type: batch.type,
      time: batch.time,
    };
    const eventTypes = batch.eventTypes.length !== types
      ? [...batch.eventTypes]
      : undefined;
    types = batch.eventTypes.length;
    const buffers = new Set<ArrayBuffer>();
    for (const a of Object.values(columns)) {
      if (typeof a !== "number") buffers.add(a.buffer as ArrayBuffer);
    }
    scope.postMessage({ batch: columns, eventTypes, read, total }, [
      ...buffers,
    ]);
  }
  scope.postMessage({
    done: true,
    read,
    total,
    skipped: {
      count: skipped.count,
      first: skipped.first.map((e) => ({
        file: e.file,
        line: e.line,
        reason: e.reason,
      })),
    },
  });
}
