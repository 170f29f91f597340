/**
 * Errors of the wire layer: every one names the byte offset in the stream at
 * which reading or writing went wrong.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** Malformed or unexpected wire data at a known byte offset. */
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

/** The stream ended in the middle of a value. */
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
