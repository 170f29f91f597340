/**
 * The error of the NAR layer.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * A NAR that is malformed, or a tree that cannot be written as one. Reading
 * errors name the byte offset from the start of the NAR (not of the stream
 * that carries it) and the entry being read; writing errors have offset -1.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NarError } from "./nar_error.ts";
 * const e = new NarError(24, "a/b", "bad");
 * assert.equal(e.message, 'Cannot read NAR at byte 24 (entry "a/b"): bad');
 * assert.equal(new NarError(-1, "", "bad").message, 'Cannot write NAR (entry ""): bad');
 * ```
 */
export class NarError extends BuildhostError {
  override name = "NarError";
  /**
   * @param offset Byte offset in the NAR where the problem is (-1 when writing from a tree).
   * @param path The entry at fault ("" is the root, else `a/b` below it).
   * @param detail What is wrong.
   */
  constructor(readonly offset: number, readonly path: string, readonly detail: string) {
    super(
      offset >= 0
        ? `Cannot read NAR at byte ${offset} (entry "${path}"): ${detail}`
        : `Cannot write NAR (entry "${path}"): ${detail}`,
    );
  }
}
