/**
 * Errors of the worker protocol codecs (the field-level ones come from the
 * shared serve field readers, {@linkcode ServeProtocolError}, naming the op,
 * field and byte offset).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A session that cannot go on: bad magic, version, stderr message, op. */
export class WorkerProtocolError extends BuildhostError {
  override name = "WorkerProtocolError";
  /**
   * @param offset Byte offset in the stream at fault.
   * @param detail What is wrong (for the handshake, Nix's own words).
   */
  constructor(readonly offset: number, readonly detail: string, options?: ErrorOptions) {
    super(detail, options);
  }
}

/** An operation number that is not one, or one this side does not serve. */
export class UnknownOpError extends WorkerProtocolError {
  override name = "UnknownOpError";
  /**
   * @param offset Where the op number starts.
   * @param code The op number.
   * @param opName Its name when it is an op buildhost does not serve.
   */
  constructor(offset: number, readonly code: bigint, readonly opName?: string) {
    super(
      offset,
      opName === undefined
        ? `invalid operation ${code}`
        : `operation '${opName}' (${code}) is not supported by buildhost`,
    );
  }
}
