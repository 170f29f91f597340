/**
 * The order of strings by their bytes, as Nix orders `std::string`s (a
 * `std::map`, a `std::set`, a sorted environment or list of paths): byte
 * by byte on the UTF-8 that buildhost writes for them, shorter first on a
 * common prefix. Every sort of names, keys or paths that Nix sorts uses
 * it, so that what buildhost writes is in Nix's order.
 *
 * A JavaScript string is UTF-16 and its `<` compares code units, which
 * differs from the byte order above U+FFFF (`"\uffff" < "🙂"` in bytes, the
 * opposite in code units). Lone surrogates stand for these bytes:
 *
 * - U+DC80..U+DCFF: the single raw byte 0x80..0xFF (the surrogate escape of
 *   a byte of invalid UTF-8, see `lib/derivation/nix_string.ts`, which
 *   writes them back as those bytes);
 * - any other lone surrogate: U+FFFD (EF BF BD), which is what `TextEncoder`
 *   and Deno write for it (the surrogate escape refuses to write it).
 *
 * @module
 */

const SURROGATE = /[\uD800-\uDFFF]/;

const FFFD = [0xef, 0xbf, 0xbd];

/**
 * The UTF-8 bytes of a string, each surrogate escape U+DC80..U+DCFF as the
 * raw byte 0x80..0xFF it stands for (see `lib/derivation/nix_string.ts`).
 *
 * @param text The string.
 * @param lone The bytes of any other lone surrogate (given it and its
 *   UTF-16 index), or a throw (default: U+FFFD's, as `TextEncoder` writes).
 * @returns The bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { utf8Bytes } from "./utf8_order.ts";
 * assert.deepEqual(utf8Bytes("ü\udcff\ud800"), [0xc3, 0xbc, 0xff, 0xef, 0xbf, 0xbd]);
 * ```
 */
export function utf8Bytes(
  text: string,
  lone: (codePoint: number, index: number) => readonly number[] = () => FFFD,
): number[] {
  const out: number[] = [];
  let index = 0;
  for (const ch of text) {
    const cp = ch.codePointAt(0)!;
    if (cp < 0x80) out.push(cp);
    else if (cp < 0x800) out.push(0xc0 | (cp >> 6), 0x80 | (cp & 0x3f));
    else if (cp >= 0xdc80 && cp <= 0xdcff) out.push(cp - 0xdc00);
    else if (cp >= 0xd800 && cp <= 0xdfff) out.push(...lone(cp, index));
    else if (cp < 0x10000) {
      out.push(0xe0 | (cp >> 12), 0x80 | ((cp >> 6) & 0x3f), 0x80 | (cp & 0x3f));
    } else {
      out.push(
        0xf0 | (cp >> 18),
        0x80 | ((cp >> 12) & 0x3f),
        0x80 | ((cp >> 6) & 0x3f),
        0x80 | (cp & 0x3f),
      );
    }
    index += ch.length;
  }
  return out;
}

/**
 * Compare two strings by their bytes, as Nix compares `std::string`s.
 *
 * @param a One string.
 * @param b The other.
 * @returns Negative, zero or positive.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareUtf8 } from "./utf8_order.ts";
 * assert.ok(compareUtf8("B", "a") < 0);
 * assert.ok(compareUtf8("\uffff", "🙂") < 0); // UTF-16 code units say the opposite
 * assert.ok(compareUtf8("\udcff", "ü") > 0); // the raw byte 0xFF after C3 BC
 * assert.deepEqual(["b", "a\u{1F600}", "a\uFFFD"].sort(compareUtf8), ["a\uFFFD", "a\u{1F600}", "b"]);
 * ```
 */
export function compareUtf8(a: string, b: string): number {
  if (!SURROGATE.test(a) && !SURROGATE.test(b)) return a < b ? -1 : a > b ? 1 : 0;
  const x = utf8Bytes(a), y = utf8Bytes(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) {
    if (x[i] !== y[i]) return x[i]! - y[i]!;
  }
  return x.length - y.length;
}
