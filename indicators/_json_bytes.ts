/**
 * Internal: a growable byte buffer that JSON text is written into piece by
 * piece (ASCII, UTF-8, numbers, ids straight from an
 * {@linkcode IdDictionary}), for writing many documents without making an
 * object or a string per document.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { JsonBytes } from "./_json_bytes.ts";
 * import { IdDictionary } from "./sparse.ts";
 *
 * const ids = new IdDictionary();
 * ids.intern("42");
 * ids.intern('say "hi"');
 * const out = new JsonBytes();
 * out.ascii("[");
 * out.id(ids, 0);
 * out.ascii(",");
 * out.id(ids, 1);
 * out.ascii(",");
 * out.number(0.5);
 * out.ascii("]");
 * const text = new TextDecoder().decode(out.take());
 * assert.equal(text, JSON.stringify(["42", 'say "hi"', 0.5]));
 * ```
 *
 * @module
 */

import type { IdDictionary } from "./sparse.ts";

const encoder = new TextEncoder();

/** JSON text as bytes, written at the end of a buffer that grows. */
export class JsonBytes {
  #buf: Uint8Array;
  #at = 0;
  // the numbers of one array, for JSON.stringify (V8's fastest number
  // formatting: exactly what it writes for a document)
  #numbers: number[] = [];

  /**
   * Creates an empty buffer.
   *
   * @param size Initial capacity in bytes.
   */
  constructor(size = 1 << 16) {
    this.#buf = new Uint8Array(Math.max(16, size));
  }

  /** Bytes written so far. */
  get length(): number {
    return this.#at;
  }

  /**
   * Makes room for `n` more bytes.
   *
   * @param n Bytes about to be written.
   */
  reserve(n: number): void {
    if (this.#at + n <= this.#buf.length) return;
    const grown = new Uint8Array(Math.max(this.#buf.length * 2, this.#at + n));
    grown.set(this.#buf.subarray(0, this.#at));
    this.#buf = grown;
  }

  /**
   * Writes text known to be ASCII (JSON punctuation, keys, formatted
   * numbers) one code unit a byte.
   *
   * @param text ASCII text.
   */
  ascii(text: string): void {
    const n = text.length;
    this.reserve(n);
    if (n > 64) {
      // native code beats a loop for long text
      this.#at += encoder.encodeInto(text, this.#buf.subarray(this.#at))
        .written;
      return;
    }
    const buf = this.#buf;
    let at = this.#at;
    for (let i = 0; i < n; i++) buf[at++] = text.charCodeAt(i);
    this.#at = at;
  }

  /**
   * Writes any text as UTF-8.
   *
   * @param text The text.
   */
  utf8(text: string): void {
    this.reserve(text.length * 3);
    this.#at += encoder.encodeInto(text, this.#buf.subarray(this.#at))
      .written;
  }

  /**
   * Writes one byte.
   *
   * @param byte The byte.
   */
  byte(byte: number): void {
    if (this.#at === this.#buf.length) this.reserve(1);
    this.#buf[this.#at++] = byte;
  }

  /**
   * Writes bytes as they are.
   *
   * @param bytes The bytes.
   */
  raw(bytes: Uint8Array): void {
    const n = bytes.length;
    this.reserve(n);
    if (n > 32) this.#buf.set(bytes, this.#at);
    else {
      // a loop beats a call for a few bytes
      const buf = this.#buf;
      for (let i = 0, at = this.#at; i < n; i++) buf[at + i] = bytes[i];
    }
    this.#at += n;
  }

  /**
   * Writes the ids of `list[start .. end]` as JSON strings separated by
   * commas (see {@linkcode JsonBytes.id}).
   *
   * @param ids The dictionary.
   * @param list Indexes of ids.
   * @param start First index in `list`.
   * @param end One past the last.
   */
  ids(
    ids: IdDictionary,
    list: ArrayLike<number>,
    start: number,
    end: number,
  ): void {
    for (let q = start; q < end; q++) {
      if (q > start) this.byte(44);
      this.id(ids, list[q]);
    }
  }

  /**
   * Writes the id of index `i` as a JSON string: its bytes between quotes,
   * or `JSON.stringify` of it when it holds a character JSON escapes.
   *
   * @param ids The dictionary.
   * @param i A dense index.
   */
  id(ids: IdDictionary, i: number): void {
    this.reserve(ids.maxIdBytes + 2);
    const buf = this.#buf;
    const start = this.#at;
    buf[start] = 34; // "
    const n = ids.bytesOf(i, buf, start + 1);
    const end = start + 1 + n;
    for (let p = start + 1; p < end; p++) {
      const b = buf[p];
      if (b < 0x20 || b === 34 || b === 92) {
        // a quote, a backslash or a control character: as JSON writes it
        this.#at = start;
        this.utf8(JSON.stringify(ids.idOf(i)));
        return;
      }
    }
    buf[end] = 34;
    this.#at = end + 1;
  }

  /**
   * Writes a number as `JSON.stringify` does (`null` when not finite).
   *
   * @param value The number.
   */
  number(value: number): void {
    if (value === (value | 0)) this.#int(value | 0);
    else this.ascii(JSON.stringify(value));
  }

  /**
   * Writes `values[start .. end]` as a JSON array of numbers, exactly as
   * `JSON.stringify` does.
   *
   * @param values The numbers.
   * @param start First index.
   * @param end One past the last.
   */
  numbers(values: ArrayLike<number>, start: number, end: number): void {
    if (start === end) {
      this.ascii("[]");
      return;
    }
    const list = this.#numbers;
    list.length = 0;
    for (let j = start; j < end; j++) list.push(values[j]);
    this.ascii(JSON.stringify(list));
  }

  /**
   * Writes a list of numbers as a JSON array (`JSON.stringify` of it).
   *
   * @param list The numbers.
   */
  numberArray(list: readonly number[]): void {
    this.ascii(list.length === 0 ? "[]" : JSON.stringify(list));
  }

  /**
   * The bytes written, in an array of their own; the buffer is emptied.
   *
   * @returns The bytes.
   */
  take(): Uint8Array {
    const out = this.#buf.slice(0, this.#at);
    this.#at = 0;
    return out;
  }

  #int(v: number) {
    this.reserve(11);
    const buf = this.#buf;
    let at = this.#at;
    if (v < 0) {
      buf[at++] = 45; // -
      if (v === -2147483648) {
        this.#at = at;
        this.ascii("2147483648");
        return;
      }
      v = -v;
    }
    let digits = 1;
    for (let p = 10; v >= p && digits < 10; p *= 10) digits++;
    for (let d = at + digits - 1; d >= at; d--) {
      const q = (v / 10) | 0;
      buf[d] = 48 + v - 10 * q;
      v = q;
    }
    this.#at = at + digits;
  }
}
