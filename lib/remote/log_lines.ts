/**
 * Splitting a build's log, as it streams, into lines (for prefixing each
 * with the derivation and machine it comes from). Memory stays bounded: a
 * line longer than `maxLine` characters is passed on in pieces.
 *
 * @module
 */

/**
 * Turns chunks of a log into lines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogLines } from "./log_lines.ts";
 * const lines: string[] = [];
 * const split = new LogLines((l) => lines.push(l));
 * split.push(new TextEncoder().encode("a\nb"));
 * split.push(new TextEncoder().encode("c\n\nd"));
 * split.end();
 * assert.deepEqual(lines, ["a", "bc", "", "d"]);
 * ```
 */
export class LogLines {
  #decoder = new TextDecoder();
  #partial = "";

  /**
   * @param onLine Gets each line, without its newline (nor a carriage return before it).
   * @param maxLine Longest line passed whole.
   */
  constructor(readonly onLine: (line: string) => void, readonly maxLine = 65536) {}

  /**
   * Take a chunk.
   *
   * @param chunk Bytes of the log.
   */
  push(chunk: Uint8Array): void {
    const parts = (this.#partial + this.#decoder.decode(chunk, { stream: true })).split("\n");
    this.#partial = parts.pop()!;
    for (const p of parts) this.onLine(p.replace(/\r$/, ""));
    while (this.#partial.length > this.maxLine) {
      this.onLine(this.#partial.slice(0, this.maxLine));
      this.#partial = this.#partial.slice(this.maxLine);
    }
  }

  /** The log ended: pass on what is left of the last line. */
  end(): void {
    const rest = this.#partial + this.#decoder.decode();
    this.#partial = "";
    if (rest !== "") this.onLine(rest.replace(/\r$/, ""));
  }
}
