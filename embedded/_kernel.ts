/**
 * Internal: the dense postings loop in WebAssembly. Adding every posting of
 * a run into its document's sum is most of the time of a batch (MovieLens-
 * 100k: 12,840 postings a user); compiled WebAssembly does it in about 2.0
 * ns a posting against 2.6 for the unrolled JavaScript loop, with the same
 * double sums in the same order. The index's postings and the sums live in
 * one fixed `WebAssembly.Memory`, written once; the module is assembled
 * here from its instructions when the first index is placed (the text form
 * of its one function body is in the comment above `body`).
 *
 * @module
 */

import type { FieldIndex } from "./_plan.ts";

// --- the module, assembled ---------------------------------------------

const I32 = 0x7f, F64 = 0x7c;
// instructions used (WebAssembly 1.0 opcodes)
const LOCAL_GET = 0x20, LOCAL_SET = 0x21, I32_CONST = 0x41;
const I32_ADD = 0x6a, I32_SHL = 0x74, I32_GT_U = 0x4b, I32_GE_U = 0x4f;
const I32_LOAD = 0x28, F32_LOAD = 0x2a, F64_LOAD = 0x2b, F64_STORE = 0x39;
const F64_ADD = 0xa0, F64_MUL = 0xa2, F32_DEMOTE = 0xb6, F64_PROMOTE = 0xbb;
const BLOCK = 0x02, LOOP = 0x03, BR = 0x0c, BR_IF = 0x0d, END = 0x0b;
const EMPTY = 0x40;

// unsigned LEB128
function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

const name = (s: string) => [...uleb(s.length), ...new TextEncoder().encode(s)];
const section = (id: number, body: number[]) => [
  id,
  ...uleb(body.length),
  ...body,
];
const vector = (items: number[][]) => [...uleb(items.length), ...items.flat()];

// the parameters: docs, weights (byte offsets of the field's arrays),
// start, end (postings), sums (byte offset), value (the boost, or the
// score of a keyword field); then the locals
const DOCS = 0, WEIGHTS = 1, START = 2, END_P = 3, SUMS = 4, VALUE = 5;
const P = 6, E = 7, A = 8; // A..A+3: four sums' addresses

const get = (l: number) => [LOCAL_GET, l];
const set = (l: number) => [LOCAL_SET, l];
const i32 = (n: number) => [I32_CONST, n]; // 0 <= n < 64: one byte
// a load's or store's alignment (log2 of bytes) and its offset from the
// address on the stack
const memarg = (align: number, offset: number) => [align, ...uleb(offset)];

// what one posting adds, its weight at `w + offset`
type Added = (offset: number) => number[];
// the stored weight (a boost of 1: fround(1 × w) is w)
const weight: Added = (offset) => [
  ...get(WEIGHTS),
  F32_LOAD,
  ...memarg(2, offset),
  F64_PROMOTE,
];
// fround(boost × weight), as Lucene's linear feature query
const boosted: Added = (offset) => [
  ...get(VALUE),
  ...weight(offset),
  F64_MUL,
  F32_DEMOTE,
  F64_PROMOTE,
];
// one score for every posting (a keyword field)
const score: Added = () => get(VALUE);

// the address of the sum of the document at `p + offset`, into local `a`
const address = (offset: number, a: number) => [
  ...get(SUMS),
  ...get(P),
  I32_LOAD,
  ...memarg(2, offset),
  ...i32(3),
  I32_SHL,
  I32_ADD,
  ...set(a),
];
// sums[a] += added
const addInto = (a: number, added: number[]) => [
  ...get(a),
  ...get(a),
  F64_LOAD,
  ...memarg(3, 0),
  ...added,
  F64_ADD,
  F64_STORE,
  ...memarg(3, 0),
];
const advance = (bytes: number) => [
  ...get(P),
  ...i32(bytes),
  I32_ADD,
  ...set(P),
  ...get(WEIGHTS),
  ...i32(bytes),
  I32_ADD,
  ...set(WEIGHTS),
];

// local `into` = local `base` + 4 × local `index`: a 4-byte element's
// address
const element = (base: number, index: number, into: number) => [
  ...get(base),
  ...get(index),
  ...i32(2),
  I32_SHL,
  I32_ADD,
  ...set(into),
];

// (func (param $docs i32) (param $weights i32) (param $start i32)
//   (param $end i32) (param $sums i32) (param $value f64)
//   (local $p i32) (local $e i32) (local $a0 i32) ... (local $a3 i32)
//   p = docs + 4 start; weights += 4 start; e = docs + 4 end
//   (block (loop          ;; four postings a step, documents read first
//     (br_if 1 (p + 16 > e))
//     a_k = sums + 8 * i32.load(p + 4k), k = 0..3
//     f64.store(a_k, f64.load(a_k) + added(weights + 4k)), k = 0..3
//     p += 16; weights += 16; (br 0)))
//   (block (loop          ;; the rest, one at a time
//     (br_if 1 (p >= e))
//     a0 = sums + 8 * i32.load(p); f64.store(a0, f64.load(a0) + added(weights))
//     p += 4; weights += 4; (br 0))))
function body(added: Added): number[] {
  const code = [
    // p = docs + (start << 2), weights += start << 2, e = docs + (end << 2)
    ...element(DOCS, START, P),
    ...element(WEIGHTS, START, WEIGHTS),
    ...element(DOCS, END_P, E),
    BLOCK,
    EMPTY,
    LOOP,
    EMPTY,
    ...get(P),
    ...i32(16),
    I32_ADD,
    ...get(E),
    I32_GT_U,
    BR_IF,
    1,
    ...[0, 1, 2, 3].flatMap((k) => address(4 * k, A + k)),
    ...[0, 1, 2, 3].flatMap((k) => addInto(A + k, added(4 * k))),
    ...advance(16),
    BR,
    0,
    END,
    END,
    BLOCK,
    EMPTY,
    LOOP,
    EMPTY,
    ...get(P),
    ...get(E),
    I32_GE_U,
    BR_IF,
    1,
    ...address(0, A),
    ...addInto(A, added(0)),
    ...advance(4),
    BR,
    0,
    END,
    END,
    END,
  ];
  const locals = vector([[6, I32]]); // p, e, a0..a3
  return [...uleb(locals.length + code.length), ...locals, ...code];
}

const EXPORTS = ["weights", "boosted", "score"] as const;

function assemble(): Uint8Array {
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00], // \0asm, version 1
    // type 0: (i32 i32 i32 i32 i32 f64) -> ()
    ...section(
      1,
      vector([[
        0x60,
        ...vector([[I32], [I32], [I32], [I32], [I32], [F64]]),
        0,
      ]]),
    ),
    // import env.memory (no minimum)
    ...section(2, vector([[...name("env"), ...name("memory"), 0x02, 0x00, 0]])),
    ...section(3, vector(EXPORTS.map(() => [0]))),
    ...section(7, vector(EXPORTS.map((e, i) => [...name(e), 0x00, i]))),
    ...section(10, vector([body(weight), body(boosted), body(score)])),
  ]);
}

type Loop = (
  docs: number,
  weights: number,
  start: number,
  end: number,
  sums: number,
  value: number,
) => void;

let compiled: WebAssembly.Module | undefined;

// --- placing an index --------------------------------------------------

// the most bytes placed (postings and sums): a larger index keeps the
// JavaScript loops (memory is 32-bit, and the copy is made beside the
// index)
let limit = 1 << 30;

/**
 * Sets the most bytes an index may take to be placed (tests: 0 keeps
 * every index in JavaScript).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenseKernel, setKernelLimit } from "./_kernel.ts";
 *
 * const previous = setKernelLimit(0);
 * assert.equal(DenseKernel.place(new Map(), 1), undefined);
 * setKernelLimit(previous);
 * ```
 *
 * @param bytes The limit.
 * @returns The previous limit.
 */
export function setKernelLimit(bytes: number): number {
  const previous = limit;
  limit = bytes;
  return previous;
}

/**
 * An index's postings and sums in WebAssembly memory, and the loop that
 * adds runs of postings into the sums.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DenseKernel } from "./_kernel.ts";
 *
 * const docs = Int32Array.from([0, 2, 1]);
 * const weights = Float32Array.from([0.5, 2, 4]);
 * const field = { docCount: 0, sumDocFreq: 0, offsets: new Int32Array(1), docs, weights };
 * const kernel = DenseKernel.place(new Map([["indicators", field]]), 3)!;
 * kernel.add(kernel.fields.get("indicators")!, 0, 3, 1);
 * kernel.add(kernel.fields.get("indicators")!, 1, 3, 0.1);
 * assert.deepEqual([...kernel.sums], [
 *   0.5,
 *   4 + Math.fround(0.1 * 4),
 *   2 + Math.fround(0.1 * 2),
 * ]);
 * ```
 */
export class DenseKernel {
  /** The fields, their arrays in the kernel's memory. */
  readonly fields: Map<string, FieldIndex>;
  /** One sum per document, in the kernel's memory. */
  readonly sums: Float64Array;
  #weights: Loop;
  #boosted: Loop;
  #score: Loop;

  private constructor(
    fields: Map<string, FieldIndex>,
    sums: Float64Array,
    exports: WebAssembly.Exports,
  ) {
    this.fields = fields;
    this.sums = sums;
    this.#weights = exports.weights as Loop;
    this.#boosted = exports.boosted as Loop;
    this.#score = exports.score as Loop;
  }

  /**
   * Copies the fields' postings into a new memory, with room for `size`
   * sums; `undefined` when they are over the limit or WebAssembly is
   * missing.
   *
   * @param fields The index's fields.
   * @param size Its number of documents.
   * @returns The kernel, or `undefined`.
   */
  static place(
    fields: ReadonlyMap<string, FieldIndex>,
    size: number,
  ): DenseKernel | undefined {
    if (typeof WebAssembly !== "object") return undefined;
    // sums first (8-byte aligned), then 4-byte arrays
    let bytes = 8 * size;
    for (const f of fields.values()) {
      bytes += 4 * f.docs.length + (f.weights ? 4 * f.weights.length : 0);
    }
    if (bytes > limit) return undefined;
    const pages = Math.ceil(bytes / 65536);
    const memory = new WebAssembly.Memory({ initial: pages, maximum: pages });
    compiled ??= new WebAssembly.Module(assemble() as BufferSource);
    const instance = new WebAssembly.Instance(compiled, { env: { memory } });
    const buffer = memory.buffer;
    const sums = new Float64Array(buffer, 0, size);
    let at = 8 * size;
    const placed = new Map<string, FieldIndex>();
    for (const [name, f] of fields) {
      const docs = new Int32Array(buffer, at, f.docs.length);
      docs.set(f.docs);
      at += 4 * f.docs.length;
      const copy: FieldIndex = { ...f, docs };
      if (f.weights) {
        const weights = new Float32Array(buffer, at, f.weights.length);
        weights.set(f.weights);
        at += 4 * f.weights.length;
        copy.weights = weights;
      }
      placed.set(name, copy);
    }
    return new DenseKernel(placed, sums, instance.exports);
  }

  /**
   * Adds postings `start` to `end` of a placed field into the sums: each
   * document's sum gets fround(`value` × weight) on a weighted field (the
   * weight itself when `value` is 1), `value` on a keyword field.
   *
   * @param field A field of {@linkcode DenseKernel.fields}.
   * @param start The first posting.
   * @param end The end (exclusive).
   * @param value The boost, or the keyword score.
   */
  add(field: FieldIndex, start: number, end: number, value: number): void {
    const docs = field.docs.byteOffset, sums = this.sums.byteOffset;
    const weights = field.weights;
    if (!weights) this.#score(docs, 0, start, end, sums, value);
    else if (value === 1) {
      this.#weights(docs, weights.byteOffset, start, end, sums, 1);
    } else this.#boosted(docs, weights.byteOffset, start, end, sums, value);
  }
}
