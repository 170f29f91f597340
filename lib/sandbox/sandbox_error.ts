/**
 * The errors of the sandbox: it cannot be started on this machine (a tool or
 * a kernel feature is missing), or setting it up for one build failed.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * Setting up or running the sandbox failed (not the builder: a builder that
 * fails is a normal result, not an error).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SandboxError } from "./sandbox_error.ts";
 * const e = new SandboxError("mount /build", "mount: permission denied");
 * assert.equal(e.message, "Cannot set up the sandbox (mount /build): mount: permission denied");
 * ```
 */
export class SandboxError extends BuildhostError {
  override name = "SandboxError";
  /**
   * @param step What was being done.
   * @param detail What went wrong, e.g. the messages of the failing tool.
   */
  constructor(readonly step: string, readonly detail: string) {
    super(`Cannot set up the sandbox (${step}): ${detail}`);
  }
}

/**
 * The sandbox cannot run here at all: perl (which sets it up) is missing,
 * or user namespaces are disabled. `missing`
 * names the tool or feature.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { SandboxUnavailableError } from "./sandbox_error.ts";
 * const e = new SandboxUnavailableError("perl", "not found in /usr/bin:/bin (install Debian's perl-base)");
 * assert.match(e.message, /^Cannot start the sandbox: perl is missing/);
 * ```
 */
export class SandboxUnavailableError extends BuildhostError {
  override name = "SandboxUnavailableError";
  /**
   * @param missing The tool or kernel feature that is missing.
   * @param detail How it was looked for, and how to get it.
   */
  constructor(readonly missing: string, readonly detail: string) {
    super(`Cannot start the sandbox: ${missing} is missing: ${detail}`);
  }
}
