/**
 * The worker side of parallel batch scoring: a backend that can answer
 * batches in worker threads names a worker module (see
 * {@linkcode BatchWorkerSource}) that calls {@linkcode serveBatchWorker}
 * with how to make the recommender from the state it is sent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveBatchWorker } from "./batch_worker.ts";
 *
 * // a scope standing for the worker's global scope
 * const sent: unknown[] = [];
 * const scope = {
 *   onmessage: null as ((event: MessageEvent) => void) | null,
 *   postMessage: (message: unknown) => void sent.push(message),
 * };
 * serveBatchWorker((state) => ({
 *   recommend: () => Promise.resolve([{ id: String(state), score: 1 }]),
 *   manifest: () => Promise.reject(new Error("unused")),
 * }), scope);
 * const post = (data: unknown) => scope.onmessage!(new MessageEvent("message", { data }));
 * post({ kind: "init", state: "tent" });
 * post({ kind: "requests", id: 7, requests: [{ user: "u", history: ["a"] }] });
 * await new Promise((resolve) => setTimeout(resolve, 10));
 * assert.deepEqual(sent, [
 *   { kind: "ready" },
 *   { kind: "requests", id: 7, results: [{ user: "u", items: ["tent"], scores: [1] }] },
 * ]);
 * ```
 *
 * @module
 */

import {
  answerLines,
  answerRequest,
  type BatchResult,
  type FromWorker,
  type ToWorker,
} from "./_batch_answer.ts";
import type { Recommender } from "./request.ts";

/**
 * Where a backend's batch workers come from: a module that, started as a
 * worker, calls {@linkcode serveBatchWorker}, and the state (structured
 * cloneable) it makes its recommender from.
 */
export interface BatchWorkerSource {
  /** The worker module's URL. */
  module: string;
  /** Sent to the worker once, at its start. */
  state: unknown;
}

/** The part of a worker's global scope {@linkcode serveBatchWorker} uses. */
export interface BatchWorkerScope {
  /** Set to the message handler. */
  onmessage: ((event: MessageEvent) => void) | null;
  /**
   * Sends an answer.
   *
   * @param message The answer.
   * @param transfer Buffers moved with it.
   */
  postMessage(message: unknown, transfer?: Transferable[]): void;
}

/**
 * Answers the batch pool's messages in a worker: makes the recommender from
 * the first message's state, then answers chunks of requests (as results)
 * and chunks of NDJSON lines (as JSON lines) one at a time, in the order
 * they come, exactly as a batch answered in process. A failure other than a
 * refused request is sent back as the worker's failure.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { serveBatchWorker } from "./batch_worker.ts";
 *
 * const sent: { kind: string; message?: string }[] = [];
 * const scope = {
 *   onmessage: null as ((event: MessageEvent) => void) | null,
 *   postMessage: (message: never) => void sent.push(message),
 * };
 * serveBatchWorker(() => {
 *   throw new Error("no model");
 * }, scope);
 * scope.onmessage!(new MessageEvent("message", { data: { kind: "init", state: 0 } }));
 * await new Promise((resolve) => setTimeout(resolve, 10));
 * assert.deepEqual(sent, [{ kind: "failed", message: "no model" }]);
 * ```
 *
 * @param make Makes the recommender from the source's state.
 * @param scope The worker's global scope (default `self`).
 */
export function serveBatchWorker(
  make: (state: unknown) => Recommender | Promise<Recommender>,
  scope: BatchWorkerScope = self as unknown as BatchWorkerScope,
): void {
  let recommender: Recommender | undefined;
  let queue: Promise<void> = Promise.resolve();
  let failed = false;
  const send = (message: FromWorker, transfer: Transferable[] = []) =>
    scope.postMessage(message, transfer);
  const handle = async (message: ToWorker): Promise<void> => {
    if (message.kind === "init") {
      recommender = await make(message.state);
      send({ kind: "ready" });
      return;
    }
    if (!recommender) throw new Error("a chunk came before the model");
    if (message.kind === "requests") {
      const results: BatchResult[] = new Array(message.requests.length);
      for (let i = 0; i < results.length; i++) {
        results[i] = await answerRequest(recommender, message.requests[i]);
      }
      send({ kind: "requests", id: message.id, results });
      return;
    }
    const answer = await answerLines(
      recommender,
      message.bytes,
      message.first,
      message.path,
      message.line,
    );
    const bytes = new TextEncoder().encode(answer.text);
    send({
      kind: "lines",
      id: message.id,
      bytes,
      results: answer.results,
      failed: answer.failed,
      ...(answer.stop ? { stop: answer.stop } : {}),
    }, [bytes.buffer]);
  };
  scope.onmessage = (event: MessageEvent) => {
    queue = queue.then(async () => {
      if (failed) return;
      try {
        await handle(event.data as ToWorker);
      } catch (error) {
        failed = true;
        const message = error instanceof Error ? error.message : String(error);
        send({ kind: "failed", message: message.split("\n")[0] });
      }
    });
  };
}
