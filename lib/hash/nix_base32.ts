/**
 * Nix's base-32 encoding ("nix32"): the alphabet `0-9a-z` without `e o u t`,
 * and the bits of the input taken from the last character backwards, so the
 * encoding of `n` bytes has `ceil(n * 8 / 5)` characters.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * The 32 characters of nix32, in digit order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NIX32_ALPHABET } from "./nix_base32.ts";
 * assert.equal(NIX32_ALPHABET.length, 32);
 * assert.ok(!NIX32_ALPHABET.includes("e"));
 * ```
 */
export const NIX32_ALPHABET = "0123456789abcdfghijklmnpqrsvwxyz";

const DIGIT = new Int8Array(128).fill(-1);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGIT[NIX32_ALPHABET.charCodeAt(i)] = i;

/**
 * A string that is not valid nix32 for the expected size.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNix32, Nix32Error } from "./nix_base32.ts";
 * assert.throws(() => decodeNix32("e0", 1), Nix32Error);
 * ```
 */
export class Nix32Error extends BuildhostError {
  override name = "Nix32Error";
  /**
   * @param text The text that failed to decode.
   * @param detail What is wrong with it.
   * @param position Index of the offending character, if one is at fault.
   */
  constructor(readonly text: string, readonly detail: string, readonly position?: number) {
    super(`Cannot decode nix32 "${text}": ${detail}`);
  }
}

/**
 * The length of the nix32 encoding of `size` bytes.
 *
 * @param size Number of bytes.
 * @returns Number of characters.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nix32Length } from "./nix_base32.ts";
 * assert.equal(nix32Length(32), 52);
 * ```
 */
export function nix32Length(size: number): number {
  return Math.ceil((size * 8) / 5);
}

/**
 * Encode bytes as nix32.
 *
 * @param bytes The bytes.
 * @returns The nix32 text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNix32 } from "./nix_base32.ts";
 * assert.equal(encodeNix32(new Uint8Array([0xff])), "7z");
 * ```
 */
export function encodeNix32(bytes: Uint8Array): string {
  const len = nix32Length(bytes.length);
  let out = "";
  for (let n = len - 1; n >= 0; n--) {
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    const c = ((bytes[i] ?? 0) >> j) | ((bytes[i + 1] ?? 0) << (8 - j));
    out += NIX32_ALPHABET[c & 0x1f];
  }
  return out;
}

/**
 * Decode nix32 text into exactly `size` bytes.
 *
 * @param text The nix32 text.
 * @param size The number of bytes it must encode.
 * @returns The bytes.
 * @throws {Nix32Error} On a wrong length, a character outside the alphabet, or
 * bits set beyond `size` bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNix32 } from "./nix_base32.ts";
 * assert.deepEqual(decodeNix32("7z", 1), new Uint8Array([0xff]));
 * ```
 */
export function decodeNix32(text: string, size: number): Uint8Array {
  if (text.length !== nix32Length(size)) {
    throw new Nix32Error(
      text,
      `length ${text.length}, expected ${nix32Length(size)} for ${size} bytes`,
    );
  }
  const out = new Uint8Array(size);
  const len = text.length;
  for (let n = 0; n < len; n++) {
    const pos = len - n - 1;
    const code = text.charCodeAt(pos);
    const digit = code < 128 ? DIGIT[code]! : -1;
    if (digit < 0) {
      throw new Nix32Error(text, `invalid character "${text[pos]}" at position ${pos}`, pos);
    }
    const b = n * 5;
    const i = b >> 3;
    const j = b & 7;
    out[i]! |= (digit << j) & 0xff;
    const carry = digit >> (8 - j);
    if (i + 1 < size) out[i + 1]! |= carry;
    else if (carry !== 0) {
      throw new Nix32Error(text, `bits set beyond ${size} bytes (the first character is too big)`);
    }
  }
  return out;
}
