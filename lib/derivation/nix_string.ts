/**
 * Nix strings as JavaScript strings, losing no byte.
 *
 * Nix strings are bytes; ours are JavaScript strings. `.drv` files are UTF-8
 * in practice, but a Nix string may hold any byte (`"\xff"` written raw in a
 * `.nix` file ends up raw in the `.drv`). To keep every byte, text is decoded
 * as UTF-8 where it is valid, and each byte of an invalid sequence becomes
 * the lone surrogate U+DC80..U+DCFF ("surrogate escape", as Python's
 * `surrogateescape`); encoding turns those back into the bytes. Valid UTF-8
 * therefore reads as ordinary text and any bytes round-trip exactly.
 *
 * Layers that carry Nix strings (the serve protocol's env values, for
 * one) can use the same two functions to stay byte-exact.
 *
 * Sorting follows Nix's `std::map<std::string, ...>`: byte-wise on the UTF-8
 * (not UTF-16 code units, which differ above U+FFFF), with
 * `compareUtf8` (`lib/wire/utf8_order.ts`), which orders a surrogate
 * escape as the byte it stands for.
 *
 * @module
 */
import { compareUtf8, utf8Bytes } from "../wire/utf8_order.ts";
import { DerivationError } from "./derivation_error.ts";

const strictDecoder = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });
const encoder = new TextEncoder();
const SURROGATE = /[\uD800-\uDFFF]/;

/** The byte length of a well-formed UTF-8 sequence at `i`, or 0 (Unicode table 3-7). */
function sequenceLength(b: Uint8Array, i: number): number {
  const b0 = b[i]!;
  let len: number, lo = 0x80, hi = 0xbf;
  if (b0 >= 0xc2 && b0 <= 0xdf) len = 2;
  else if (b0 >= 0xe0 && b0 <= 0xef) {
    len = 3;
    if (b0 === 0xe0) lo = 0xa0;
    else if (b0 === 0xed) hi = 0x9f;
  } else if (b0 >= 0xf0 && b0 <= 0xf4) {
    len = 4;
    if (b0 === 0xf0) lo = 0x90;
    else if (b0 === 0xf4) hi = 0x8f;
  } else return 0;
  if (i + len > b.length) return 0;
  const b1 = b[i + 1]!;
  if (b1 < lo || b1 > hi) return 0;
  for (let k = 2; k < len; k++) {
    const c = b[i + k]!;
    if (c < 0x80 || c > 0xbf) return 0;
  }
  return len;
}

/**
 * Decode bytes as UTF-8, each byte of an invalid sequence becoming
 * U+DC80..U+DCFF.
 *
 * @param bytes The bytes.
 * @returns The text; {@linkcode encodeNixString} gives back the same bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { decodeNixString } from "./nix_string.ts";
 * assert.equal(decodeNixString(new Uint8Array([0x61, 0xc3, 0xbc])), "aü");
 * assert.equal(decodeNixString(new Uint8Array([0x61, 0xff])), "a\udcff");
 * ```
 */
export function decodeNixString(bytes: Uint8Array): string {
  try {
    return strictDecoder.decode(bytes);
  } catch {
    // Invalid UTF-8 somewhere: decode valid runs, escape the other bytes.
  }
  let out = "";
  let run = 0;
  let i = 0;
  while (i < bytes.length) {
    const b0 = bytes[i]!;
    const len = b0 < 0x80 ? 1 : sequenceLength(bytes, i);
    if (len > 0) {
      i += len;
      continue;
    }
    out += strictDecoder.decode(bytes.subarray(run, i)) + String.fromCharCode(0xdc00 + b0);
    i++;
    run = i;
  }
  return out + strictDecoder.decode(bytes.subarray(run));
}

/**
 * Encode text as UTF-8, lone surrogates U+DC80..U+DCFF becoming the bytes
 * 0x80..0xFF.
 *
 * @param text The text.
 * @returns The bytes.
 * @throws {DerivationError} On any other lone surrogate (it stands for no bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeNixString } from "./nix_string.ts";
 * assert.deepEqual(encodeNixString("a\udcff"), new Uint8Array([0x61, 0xff]));
 * assert.deepEqual(encodeNixString("ü"), new Uint8Array([0xc3, 0xbc]));
 * ```
 */
export function encodeNixString(text: string): Uint8Array {
  if (!SURROGATE.test(text)) return encoder.encode(text);
  return new Uint8Array(utf8Bytes(text, (cp, index) => {
    throw new DerivationError(
      `Cannot encode text: it has the lone surrogate U+${
        cp.toString(16).toUpperCase()
      } at index ${index}, which stands for no bytes`,
    );
  }));
}

/**
 * Strings sorted by
 * {@linkcode compareUtf8} and without duplicates (as Nix's sets and maps).
 *
 * @param items Strings.
 * @returns A new sorted array.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sortNixStrings } from "./nix_string.ts";
 * assert.deepEqual(sortNixStrings(["b", "a", "b"]), ["a", "b"]);
 * ```
 */
export function sortNixStrings(items: Iterable<string>): string[] {
  return [...new Set(items)].sort(compareUtf8);
}

/**
 * A map's entries sorted by key with {@linkcode compareUtf8}.
 *
 * @param map The map.
 * @returns A new sorted array of entries.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sortByNixKey } from "./nix_string.ts";
 * assert.deepEqual(sortByNixKey(new Map([["b", 1], ["a", 2]])), [["a", 2], ["b", 1]]);
 * ```
 */
export function sortByNixKey<V>(map: ReadonlyMap<string, V>): [string, V][] {
  return [...map].sort(([a], [b]) => compareUtf8(a, b));
}
