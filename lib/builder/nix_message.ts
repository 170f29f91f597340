/**
 * How Nix 2.8 colours the messages it sends in a BuildResult: each value
 * it formats into a message is bold magenta, an error that escaped the
 * build starts with a bold red `error:`, and a build error starts with a
 * colour reset. These escapes are part of the bytes on the wire, so a
 * client shows buildhost's messages exactly as it shows Nix's.
 *
 * @module
 */

/** The prefix of an error that escaped the build (Nix's `Error::msg()`). */
export const ERROR_PREFIX = "\x1b[31;1merror:\x1b[0m";

/** The prefix of a build error's message (Nix's `BuildError`). */
export const RESET = "\x1b[0m";

/**
 * A value as Nix formats it into a message.
 *
 * @param value The value.
 * @returns It, in bold magenta.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { magenta } from "./nix_message.ts";
 * assert.equal(magenta("out"), "\x1b[35;1mout\x1b[0m");
 * ```
 */
export function magenta(value: string): string {
  return `\x1b[35;1m${value}\x1b[0m`;
}
