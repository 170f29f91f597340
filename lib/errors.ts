/**
 * The root of buildhost's typed errors. Every layer has its own subclass whose
 * message says what failed and where (a path, a field, a byte offset), in the
 * voice "Cannot <action>: <state>".
 *
 * @module
 */

/**
 * Base class of every error buildhost throws on purpose.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BuildhostError } from "./errors.ts";
 * assert.ok(new BuildhostError("x") instanceof Error);
 * ```
 */
export class BuildhostError extends Error {
  override name = "BuildhostError";
}

/**
 * Convert a u64 read as a `bigint` into a safe `number`, naming the field when
 * it does not fit.
 *
 * @param value The value read from the wire.
 * @param field What the value is, for the error message.
 * @returns The same value as a number.
 *
 * @example Converting a small value
 * ```ts
 * import assert from "node:assert/strict";
 * import { toSafeNumber } from "./errors.ts";
 * assert.equal(toSafeNumber(42n, "narSize"), 42);
 * ```
 */
export function toSafeNumber(value: bigint, field: string): number {
  if (value > BigInt(Number.MAX_SAFE_INTEGER) || value < 0n) {
    throw new BuildhostError(
      `Cannot use "${field}": ${value} is above the safe integer limit`,
    );
  }
  return Number(value);
}
