/**
 * Worker for `chaos_reader_test.ts`: reads one file with the public reader
 * API and posts what came of it, so that a reader that hangs can be ended
 * (`Worker.terminate`) and counted.
 *
 * @module
 */
import { readEventBatches, type SkipReport } from "../events/read.ts";
import type { Event } from "../events/format.ts";

/** The question. */
export interface ReadJob {
  path: string;
  format?: string;
  onError: "fail" | "skip";
}

/** The answer. */
export type ReadOutcome =
  | { ok: true; events: Event[]; skipped: number; firstSkipped: string[] }
  | { ok: false; name: string; message: string; stack?: string };

const scope = self as unknown as {
  onmessage: (e: MessageEvent<ReadJob>) => void;
  postMessage: (o: ReadOutcome) => void;
};

scope.onmessage = async ({ data }) => {
  if (data.path === "") {
    return scope.postMessage({
      ok: true,
      events: [],
      skipped: 0,
      firstSkipped: [],
    }); // ready?
  }
  const skipped: SkipReport = { count: 0, first: [] };
  try {
    const events: Event[] = [];
    for await (
      const batch of readEventBatches(data.path, data.format, {
        onError: data.onError,
        skipped,
      })
    ) {
      for (const e of batch) events.push(e);
    }
    scope.postMessage({
      ok: true,
      events,
      skipped: skipped.count,
      firstSkipped: skipped.first.map((e) => e.message),
    });
  } catch (error) {
    const e = error as Error;
    scope.postMessage({
      ok: false,
      name: e?.name ?? typeof error,
      message: e?.message ?? String(error),
      stack: e?.stack,
    });
  }
};
