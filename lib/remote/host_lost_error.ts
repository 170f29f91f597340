/**
 * A host that went away: it could not be reached, its connection closed,
 * its program died, or it sent nothing for longer than the host timeout.
 * Unlike a build that failed on its merits (the host answered with a
 * failure), a lost host's work may be tried again elsewhere.
 *
 * @module
 */
import { UnexpectedEofError } from "../wire/wire_error.ts";
import { RemoteError } from "./remote_error.ts";

/**
 * The host was lost.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostLostError, isHostLoss } from "./host_lost_error.ts";
 * const e = new HostLostError("ssh://b1", "build x", "it sent nothing for 5 seconds");
 * assert.equal(e.message, "Cannot build x on ssh://b1: it sent nothing for 5 seconds");
 * assert.ok(isHostLoss(e));
 * assert.ok(!isHostLoss(new Error("builder failed")));
 * ```
 */
export class HostLostError extends RemoteError {
  override name = "HostLostError";
}

/** The errors of a transport that broke under a request. */
const BROKEN = [
  Deno.errors.BrokenPipe,
  Deno.errors.ConnectionReset,
  Deno.errors.ConnectionAborted,
  Deno.errors.UnexpectedEof,
  Deno.errors.Interrupted,
];

/**
 * Whether an error means the host went away (rather than refused or failed
 * what was asked): a {@linkcode HostLostError}, or a stream that ended or
 * broke in the middle of a request, anywhere in the chain of causes.
 *
 * @param e An error.
 * @returns True for a lost host.
 */
export function isHostLoss(e: unknown): boolean {
  for (let c = e, depth = 0; c instanceof Error && depth < 8; c = c.cause, depth++) {
    if (c instanceof HostLostError || c instanceof UnexpectedEofError) return true;
    if (BROKEN.some((k) => c instanceof k)) return true;
  }
  return false;
}
