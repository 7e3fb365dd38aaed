/**
 * Internal: batch workers started from a {@linkcode BatchWorkerSource},
 * each sent the state once, then chunks, each to the worker with the
 * fewest in flight. Any worker's failure (its error, a message that cannot
 * be read, a failure it reports) fails every chunk in flight and every
 * later one with one {@linkcode CcoError} naming it: never a hang.
 *
 * @module
 */

import { CcoError } from "../errors/mod.ts";
import type { FromWorker, ToWorker } from "./_batch_answer.ts";
import type { BatchWorkerSource } from "./batch_worker.ts";

type Waiter = {
  resolve: (answer: FromWorker) => void;
  reject: (error: Error) => void;
  worker: number;
};

// a chunk message without its id
type Chunk = ToWorker extends infer M
  ? M extends { id: number } ? Omit<M, "id"> : never
  : never;

/** Workers answering chunks. */
export class WorkerPool {
  #workers: Worker[] = [];
  #load: number[] = [];
  #waiting = new Map<number, Waiter>();
  #failure: Error | undefined;
  #next = 0;

  /**
   * Starts `n` workers and sends each the state (a chunk sent before a
   * worker is ready waits in its queue).
   *
   * @param source The worker module and state.
   * @param n How many.
   */
  constructor(source: BatchWorkerSource, n: number) {
    for (let w = 0; w < n; w++) {
      const worker = new Worker(source.module, { type: "module" });
      this.#workers.push(worker);
      this.#load.push(0);
      worker.onmessage = (event: MessageEvent<FromWorker>) => {
        const answer = event.data;
        if (answer.kind === "failed") {
          this.#fail(w, answer.message);
        } else if (answer.kind !== "ready") {
          const waiter = this.#waiting.get(answer.id);
          if (!waiter) return;
          this.#waiting.delete(answer.id);
          this.#load[w]--;
          waiter.resolve(answer);
        }
      };
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#fail(w, event.message);
      };
      worker.onmessageerror = () => {
        this.#fail(w, "an answer could not be read");
      };
      worker.postMessage({ kind: "init", state: source.state } as ToWorker);
    }
  }

  /**
   * Sends a chunk to the least busy worker.
   *
   * @param chunk The chunk.
   * @param transfer Buffers moved with it.
   * @returns The worker's answer.
   * @throws {CcoError} When a worker failed.
   */
  run(chunk: Chunk, transfer: Transferable[] = []): Promise<FromWorker> {
    if (this.#failure) {
      const failed = Promise.reject(this.#failure);
      failed.catch(() => {});
      return failed;
    }
    let w = 0;
    for (let i = 1; i < this.#load.length; i++) {
      if (this.#load[i] < this.#load[w]) w = i;
    }
    const id = this.#next++;
    this.#load[w]++;
    const answer = new Promise<FromWorker>((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject, worker: w });
    });
    // a failure rejects every chunk in flight: the caller sees it on the
    // first it awaits, the others must not count as unhandled
    answer.catch(() => {});
    this.#workers[w].postMessage({ ...chunk, id } as ToWorker, transfer);
    return answer;
  }

  #fail(w: number, message: string): void {
    if (!this.#failure) {
      this.#failure = new CcoError(
        `batch worker ${w + 1} of ${this.#workers.length} failed: ${message}`,
      );
    }
    for (const waiter of this.#waiting.values()) waiter.reject(this.#failure);
    this.#waiting.clear();
    this.close();
  }

  /** Stops every worker. */
  close(): void {
    for (const worker of this.#workers) worker.terminate();
  }
}
