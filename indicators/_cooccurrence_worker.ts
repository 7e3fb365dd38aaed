/**
 * Internal: a worker computing indicator rows with the shared kernel
 * (`_cooccurrence.ts`). Messages: `{ field: FieldInput }` sets the field
 * (its arrays in shared memory), `{ id, from, to }` computes rows and
 * answers `{ id, result }` (result arrays transferred).
 *
 * @module
 */

import { type FieldInput, scoreRows, Scratch } from "./_cooccurrence.ts";

interface WorkerScope {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown, transfer?: Transferable[]): void;
}
const scope = self as unknown as WorkerScope;
let field: FieldInput | undefined;
let scratch: Scratch | undefined;

scope.onmessage = (
  event: MessageEvent<
    { field: FieldInput } | { id: number; from: number; to: number }
  >,
) => {
  const message = event.data;
  try {
    if ("field" in message) {
      field = message.field;
      const items = field.otherCounts.length;
      if (!scratch || scratch.counts.length !== items) {
        scratch = new Scratch(items, field.k);
      }
      return;
    }
    const result = scoreRows(field!, message.from, message.to, scratch!);
    scope.postMessage({ id: message.id, result }, [
      result.ptr.buffer as ArrayBuffer,
      result.items.buffer as ArrayBuffer,
      result.scores.buffer as ArrayBuffer,
    ]);
  } catch (error) {
    scope.postMessage({
      id: "id" in message ? message.id : -1,
      error: String((error as Error)?.message ?? error),
    });
  }
};
