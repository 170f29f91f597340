/**
 * Errors of the wire layer: every one names the byte offset in the stream at
 * which reading or writing went wrong.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * Malformed or unexpected wire data at a known byte offset.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireError } from "./wire_error.ts";
 * assert.equal(new WireError(8, "bad").message, "Cannot read wire data at byte 8: bad");
 * ```
 */
export class WireError extends BuildhostError {
  override name = "WireError";
  /**
   * @param offset Byte offset in the stream where the bad value starts.
   * @param detail What is wrong there.
   */
  constructor(readonly offset: number, readonly detail: string) {
    super(`Cannot read wire data at byte ${offset}: ${detail}`);
  }
}

/**
 * The stream ended in the middle of a value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnexpectedEofError } from "./wire_error.ts";
 * assert.equal(new UnexpectedEofError(16, 3).wanted, 3);
 * ```
 */
export class UnexpectedEofError extends WireError {
  override name = "UnexpectedEofError";
  /**
   * @param offset Byte offset at which the stream ended.
   * @param wanted How many more bytes the value needed.
   */
  constructor(offset: number, readonly wanted: number) {
    super(offset, `the stream ended ${wanted} byte(s) short`);
  }
}
