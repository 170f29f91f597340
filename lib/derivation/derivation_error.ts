/**
 * The error of the derivation layer.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * A derivation that cannot be parsed, printed or hashed. Parse errors carry
 * the byte offset in the ATerm and the field being read.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DerivationError } from "./derivation_error.ts";
 * const e = DerivationError.parse("x.drv", 7, "output name", 'expected "("');
 * assert.equal(e.offset, 7);
 * assert.equal(e.field, "output name");
 * assert.equal(e.message, 'Cannot parse derivation "x.drv" at byte 7 (output name): expected "("');
 * ```
 */
export class DerivationError extends BuildhostError {
  override name = "DerivationError";
  /** The byte offset in the ATerm at fault (parse errors only). */
  readonly offset: number | undefined;
  /** The field at fault (`env key`, `output name`, ...), when known. */
  readonly field: string | undefined;

  /**
   * @param message The whole message ("Cannot ...").
   * @param where The offset and field at fault, when known.
   */
  constructor(message: string, where: { offset?: number; field?: string } = {}) {
    super(message);
    this.offset = where.offset;
    this.field = where.field;
  }

  /**
   * A parse error naming the file, byte offset and field.
   *
   * @param file What the ATerm is called (its path).
   * @param offset The byte offset at fault.
   * @param field The field being read.
   * @param detail What is wrong there.
   * @returns The error.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DerivationError } from "./derivation_error.ts";
   * assert.match(DerivationError.parse("a.drv", 0, "constructor", "x").message, /at byte 0/);
   * ```
   */
  static parse(file: string, offset: number, field: string, detail: string): DerivationError {
    return new DerivationError(
      `Cannot parse derivation "${file}" at byte ${offset} (${field}): ${detail}`,
      { offset, field },
    );
  }
}
