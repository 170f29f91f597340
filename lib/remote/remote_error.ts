/**
 * Errors of the client side: a host that cannot do what was asked.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * A remote host refused or failed a request, or the session cannot carry it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RemoteError } from "./remote_error.ts";
 * const e = new RemoteError("ssh://b", "copy /nix/store/x", "the host is read-only");
 * assert.equal(e.message, "Cannot copy /nix/store/x on ssh://b: the host is read-only");
 * ```
 */
export class RemoteError extends BuildhostError {
  override name = "RemoteError";
  /**
   * @param host The host (as named by the user).
   * @param action What was being done.
   * @param detail Why it failed.
   */
  constructor(readonly host: string, readonly action: string, readonly detail: string) {
    super(`Cannot ${action} on ${host}: ${detail}`);
  }
}
