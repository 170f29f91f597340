/**
 * The last lines of a build log, kept for the error of a failed build (Nix's
 * `logTail`, `log-lines` lines), in bounded memory whatever the log: a line
 * longer than {@linkcode MAX_LOG_LINE} characters is cut into pieces of that
 * length as it arrives, each piece counting as a line, so a builder that
 * prints gigabytes without a newline costs at most `lines` pieces.
 *
 * @module
 */

/** The longest line kept whole (characters); longer ones are split. */
export const MAX_LOG_LINE = 8192;

/**
 * The tail of a log fed in chunks of bytes (UTF-8; a character split across
 * chunks is kept whole).
 *
 * @example A long line is cut, the last lines kept
 * ```ts
 * import assert from "node:assert/strict";
 * import { LogTail } from "./log_tail.ts";
 * const tail = new LogTail(2, 4);
 * tail.push(new TextEncoder().encode("a\nbcdefghij"));
 * tail.push(new TextEncoder().encode("k\n"));
 * assert.deepEqual(tail.lines(), ["fghi", "jk"]);
 * tail.push(new TextEncoder().encode("l"));
 * assert.deepEqual(tail.lines(), ["jk", "l"]);
 * ```
 */
export class LogTail {
  readonly #decoder = new TextDecoder();
  readonly #done: string[] = [];
  #current = "";

  /**
   * @param max How many lines to keep.
   * @param maxLine The longest line kept whole (characters).
   */
  constructor(readonly max: number, readonly maxLine: number = MAX_LOG_LINE) {}

  /**
   * Add bytes of the log.
   *
   * @param chunk The bytes, as they came.
   */
  push(chunk: Uint8Array): void {
    const text = this.#decoder.decode(chunk, { stream: true });
    let from = 0;
    for (;;) {
      const nl = text.indexOf("\n", from);
      this.#append(text.slice(from, nl < 0 ? text.length : nl));
      if (nl < 0) return;
      this.#finish(this.#current);
      this.#current = "";
      from = nl + 1;
    }
  }

  #append(part: string): void {
    this.#current += part;
    while (this.#current.length > this.maxLine) {
      this.#finish(this.#current.slice(0, this.maxLine));
      this.#current = this.#current.slice(this.maxLine);
    }
  }

  #finish(line: string): void {
    this.#done.push(line);
    if (this.#done.length > this.max) this.#done.splice(0, this.#done.length - this.max);
  }

  /**
   * The kept lines, oldest first, the unfinished last line included if not
   * empty.
   *
   * @returns At most `max` lines.
   */
  lines(): string[] {
    const all = this.#current === "" ? [...this.#done] : [...this.#done, this.#current];
    return all.slice(-this.max);
  }
}
