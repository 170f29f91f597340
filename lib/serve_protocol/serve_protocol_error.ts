/**
 * Errors of the serve protocol's codecs: each names what was being read or
 * written (a command's request or reply, or the handshake), the field and
 * the byte offset in the stream.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * Malformed serve-protocol data, or a value that cannot be written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServeProtocolError } from "./serve_protocol_error.ts";
 * const e = new ServeProtocolError("QueryValidPaths request", "lock", 24, "2 is not a bool (0 or 1)");
 * assert.equal(e.message, 'Cannot read QueryValidPaths request at byte 24, field "lock": 2 is not a bool (0 or 1)');
 * assert.equal(e.offset, 24);
 * ```
 */
export class ServeProtocolError extends BuildhostError {
  override name = "ServeProtocolError";
  /**
   * @param command What was being read or written: `"<Command> request"`,
   *   `"<Command> reply"` or `"handshake"`.
   * @param field The field at fault (`"options.maxLogSize"`, `"paths[3]"`).
   * @param offset Byte offset in the stream where the fault is.
   * @param detail What is wrong there.
   * @param action `"read"` (malformed input) or `"write"` (a value that has no wire form).
   * @param options The underlying error, if any.
   */
  constructor(
    readonly command: string,
    readonly field: string,
    readonly offset: number,
    readonly detail: string,
    readonly action: "read" | "write" = "read",
    options?: ErrorOptions,
  ) {
    super(`Cannot ${action} ${command} at byte ${offset}, field "${field}": ${detail}`, options);
  }
}

/**
 * The peer speaks a serve protocol whose major version is not 2.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ServeProtocolError, UnsupportedVersionError } from "./serve_protocol_error.ts";
 * const e = new UnsupportedVersionError("server version", 8, 0x307n);
 * assert.ok(e instanceof ServeProtocolError);
 * assert.equal(e.version, 0x307n);
 * assert.match(e.message, /unsupported serve protocol version 0x307/);
 * ```
 */
export class UnsupportedVersionError extends ServeProtocolError {
  override name = "UnsupportedVersionError";
  /**
   * @param field `"client version"` or `"server version"`.
   * @param offset Byte offset of the version in the stream.
   * @param version The version the peer sent (any u64).
   */
  constructor(field: string, offset: number, readonly version: bigint) {
    super(
      "handshake",
      field,
      offset,
      `unsupported serve protocol version 0x${
        version.toString(16)
      } (only major version 2 is spoken)`,
    );
  }
}

/**
 * A command number that the serve protocol does not have.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { UnknownCommandError } from "./serve_protocol_error.ts";
 * const e = new UnknownCommandError(16, 42n);
 * assert.equal(e.code, 42n);
 * assert.match(e.message, /unknown serve command 42/);
 * ```
 */
export class UnknownCommandError extends ServeProtocolError {
  override name = "UnknownCommandError";
  /**
   * @param offset Byte offset of the command number.
   * @param code The number received.
   */
  constructor(offset: number, readonly code: bigint) {
    super("request", "command", offset, `unknown serve command ${code}`);
  }
}
