/**
 * The NAR (Nix ARchive) grammar. Every word below is a wire string: its
 * length as u64 little-endian, its bytes, zero padding to a multiple of 8.
 *
 * ```
 * nar       = "nix-archive-1" node
 * node      = "(" "type" body ")"
 * body      = "regular" [ "executable" "" ] "contents" <bytes>
 *           | "symlink" "target" <target>
 *           | "directory" entry*
 * entry     = "entry" "(" "name" <name> "node" node ")"
 * ```
 *
 * Directory entries come in strictly ascending byte order of their names; a
 * name is 1 to 255 bytes, not `.` or `..`, without `/` or NUL. There is no
 * other field: ownership, times and permissions other than the executable
 * bit are not recorded, which is what makes a NAR canonical.
 *
 * The constants below are the encoded words, so that writers copy bytes and
 * readers compare bytes.
 *
 * @module
 */
import { encodeString } from "../wire/wire_writer.ts";

/**
 * The words of the grammar.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NAR_WORDS } from "./tokens.ts";
 * assert.equal(NAR_WORDS[0], "nix-archive-1");
 * ```
 */
export const NAR_WORDS = [
  "nix-archive-1",
  "(",
  ")",
  "type",
  "regular",
  "executable",
  "",
  "contents",
  "symlink",
  "target",
  "directory",
  "entry",
  "name",
  "node",
] as const;

/**
 * One word of the grammar.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type NarWord, TOKENS } from "./tokens.ts";
 * const w: NarWord = "(";
 * assert.equal(TOKENS[w].length, 16);
 * ```
 */
export type NarWord = typeof NAR_WORDS[number];

/**
 * Each word in its wire encoding.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { TOKENS } from "./tokens.ts";
 * assert.equal(TOKENS["nix-archive-1"].length, 24);
 * ```
 */
export const TOKENS: Readonly<Record<NarWord, Uint8Array>> = Object.fromEntries(
  NAR_WORDS.map((w) => [w, encodeString(w)]),
) as Record<NarWord, Uint8Array>;

/**
 * Longest entry name, in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badEntryName, MAX_ENTRY_NAME_LENGTH } from "./tokens.ts";
 * assert.ok(badEntryName(new Uint8Array(MAX_ENTRY_NAME_LENGTH + 1).fill(97)));
 * ```
 */
export const MAX_ENTRY_NAME_LENGTH = 255;
/**
 * Longest symlink target, in bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_TARGET_LENGTH } from "./tokens.ts";
 * assert.equal(MAX_TARGET_LENGTH, 4095);
 * ```
 */
export const MAX_TARGET_LENGTH = 4095;
/**
 * Longest word the reader accepts where it expects a keyword.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_WORD_LENGTH, NAR_WORDS } from "./tokens.ts";
 * assert.ok(NAR_WORDS.every((w) => w.length <= MAX_WORD_LENGTH));
 * ```
 */
export const MAX_WORD_LENGTH = 32;
/**
 * Deepest directory nesting the reader accepts.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_DEPTH } from "./tokens.ts";
 * assert.ok(MAX_DEPTH >= 100);
 * ```
 */
export const MAX_DEPTH = 256;

const utf8 = new TextEncoder();

/**
 * Why `name` cannot be a directory entry name, or undefined when it can.
 *
 * @param name The name as bytes.
 * @returns A description of the problem, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { badEntryName } from "./tokens.ts";
 * assert.equal(badEntryName(new TextEncoder().encode("ok")), undefined);
 * assert.match(badEntryName(new TextEncoder().encode(".."))!, /not allowed/);
 * ```
 */
export function badEntryName(name: Uint8Array): string | undefined {
  if (name.length === 0) return "an entry name is empty";
  if (name.length > MAX_ENTRY_NAME_LENGTH) {
    return `an entry name is longer than ${MAX_ENTRY_NAME_LENGTH} bytes`;
  }
  if (name.length <= 2 && name.every((b) => b === 0x2e)) {
    return `the entry name "${name.length === 1 ? "." : ".."}" is not allowed`;
  }
  if (name.includes(0x2f)) return "an entry name contains '/'";
  if (name.includes(0)) return "an entry name contains a NUL byte";
  return undefined;
}

/**
 * Compare two byte strings: negative, zero or positive, as `memcmp` then length.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareBytes } from "./tokens.ts";
 * assert.ok(compareBytes(new Uint8Array([1]), new Uint8Array([1, 0])) < 0);
 * ```
 */
export function compareBytes(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const d = a[i]! - b[i]!;
    if (d !== 0) return d;
  }
  return a.length - b.length;
}

/**
 * Encode a name as UTF-8 bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nameBytes } from "./tokens.ts";
 * assert.equal(nameBytes("ü").length, 2);
 * ```
 */
export function nameBytes(name: string): Uint8Array {
  return utf8.encode(name);
}
