/**
 * Gathers small writes into one buffer before they reach a consumer whose
 * every call has a fixed cost (a hash through FFI, a pattern search). A
 * NAR read from the wire arrives as many small pieces (lengths, tokens,
 * names, small files' contents) between its large file chunks; hashing
 * each one on its own cost more than the hashing.
 *
 * @module
 */

/** Writes of at least this many bytes go through at once (after what is gathered). */
export const BATCH_PASS = 4096;
/** How many bytes are gathered before they are handed on. */
export const BATCH_SIZE = 64 * 1024;
/** The gathering buffer's first size; it doubles up to {@linkcode BATCH_SIZE}. */
const BATCH_START = 1024;

/**
 * Hands bytes to `consume` in their order: small writes gathered, large
 * ones as they are. What is handed on is valid only during the call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WriteBatcher } from "./write_batcher.ts";
 * const got: number[][] = [];
 * const b = new WriteBatcher((bytes) => got.push([...bytes]));
 * b.write(new Uint8Array([1]));
 * b.write(new Uint8Array([2, 3]));
 * assert.deepEqual(got, []);
 * b.flush();
 * assert.deepEqual(got, [[1, 2, 3]]);
 * ```
 */
export class WriteBatcher {
  #buffer: Uint8Array | undefined;
  #length = 0;

  /** @param consume Takes the bytes handed on (not to be kept after the call). */
  constructor(private readonly consume: (bytes: Uint8Array) => void) {}

  /** Feed bytes (not kept after the call). */
  write(chunk: Uint8Array): void {
    if (chunk.length >= BATCH_PASS) {
      this.flush();
      this.consume(chunk);
      return;
    }
    let buffer = this.#buffer;
    const end = this.#length + chunk.length;
    if (buffer === undefined || end > buffer.length) {
      if (end > BATCH_SIZE) {
        this.flush();
        buffer = this.#buffer!;
      } else {
        // Grown as needed: most hashes are of small NARs, and a sink is made for each.
        const grown = new Uint8Array(Math.min(BATCH_SIZE, Math.max(BATCH_START, end * 2)));
        if (buffer) grown.set(buffer.subarray(0, this.#length));
        this.#buffer = buffer = grown;
      }
    }
    buffer.set(chunk, this.#length);
    this.#length += chunk.length;
  }

  /** Hand on what is gathered. */
  flush(): void {
    if (this.#length === 0) return;
    const n = this.#length;
    this.#length = 0;
    this.consume(this.#buffer!.subarray(0, n));
  }
}
