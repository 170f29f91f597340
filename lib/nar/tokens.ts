/**
 * The NAR (Nix ARchive) format, as written by Nix 2.8's `nix-store --dump`.
 * This module doc is the spec; `nar_writer.ts` and `nar_reader.ts` follow it.
 *
 * Every word below is a wire string: its length as a u64 little-endian, its
 * bytes, then zero bytes up to the next multiple of 8.
 *
 * ```
 * nar       = "nix-archive-1" node
 * node      = "(" "type" body ")"
 * body      = "regular" [ "executable" "" ] "contents" <contents>
 *           | "symlink" "target" <target>
 *           | "directory" entry*
 * entry     = "entry" "(" "name" <name> "node" node ")"
 * ```
 *
 * - `<contents>` is a wire string too: the file's size as a u64, its bytes,
 *   zero padding. The size is the only length that is not a small word.
 * - `<name>`: 1 to {@linkcode MAX_ENTRY_NAME_LENGTH} bytes, not `.` or `..`,
 *   without `/` or NUL. The entries of a directory come in strictly ascending
 *   byte order of their names (`memcmp`, then length), so a name appears once.
 * - `<target>`: 1 to {@linkcode MAX_TARGET_LENGTH} bytes, without NUL (what
 *   Linux can store in a symlink).
 * - There is nothing else: no owner, time or permission other than the
 *   executable bit, which is what makes a NAR canonical.
 *
 * Merged tokens: some words always come in the same run, so writers copy
 * each run as one precomputed byte string ({@linkcode MERGED_TOKENS}):
 *
 * ```
 * archive    = "nix-archive-1" "(" "type"      the start of every NAR
 * regular    = "regular" "contents"            a file, then its size
 * executable = "regular" "executable" "" "contents"
 * symlink    = "symlink" "target"              then the target
 * directory  = "directory"                     then entries
 * entry      = "entry" "(" "name"              then the name
 * node       = "node" "(" "type"               after the name
 * close      = ")"                             ends a node or an entry
 * ```
 *
 * Limits this implementation adds (Nix 2.8 has none): file sizes are safe
 * integers (below 2^53), directories nest at most {@linkcode MAX_DEPTH} deep,
 * names and targets are UTF-8 (paths are JS strings).
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
 * Each word in its wire encoding (length, bytes, padding).
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
 * The runs of words that always appear together (see the module doc).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MERGED_WORDS } from "./tokens.ts";
 * assert.deepEqual(MERGED_WORDS.entry, ["entry", "(", "name"]);
 * ```
 */
export const MERGED_WORDS = {
  archive: ["nix-archive-1", "(", "type"],
  regular: ["regular", "contents"],
  executable: ["regular", "executable", "", "contents"],
  symlink: ["symlink", "target"],
  directory: ["directory"],
  entry: ["entry", "(", "name"],
  node: ["node", "(", "type"],
  close: [")"],
} as const satisfies Record<string, readonly NarWord[]>;

/**
 * Each run of {@linkcode MERGED_WORDS} as one byte string.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MERGED_TOKENS } from "./tokens.ts";
 * assert.equal(MERGED_TOKENS.archive.length, 24 + 16 + 16);
 * ```
 */
export const MERGED_TOKENS: Readonly<Record<keyof typeof MERGED_WORDS, Uint8Array>> = Object
  .fromEntries(
    Object.entries(MERGED_WORDS).map(([k, words]) => {
      const parts = words.map((w) => TOKENS[w]);
      const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
      let at = 0;
      for (const p of parts) {
        out.set(p, at);
        at += p.length;
      }
      return [k, out];
    }),
  ) as Record<keyof typeof MERGED_WORDS, Uint8Array>;

/**
 * Longest entry name, in bytes (`NAME_MAX` on Linux).
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
 * Longest symlink target, in bytes: `PATH_MAX` (4096) less the final NUL,
 * the most `symlink(2)` stores on Linux (4096 bytes fail with ENAMETOOLONG).
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
 * Longest word the reader accepts where it expects a keyword (the longest,
 * "nix-archive-1", has 13 bytes).
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
 * Deepest directory nesting the reader accepts (a path of that many
 * one-byte names plus slashes already exceeds `PATH_MAX`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { MAX_DEPTH } from "./tokens.ts";
 * assert.ok(MAX_DEPTH * 2 >= 4096);
 * ```
 */
export const MAX_DEPTH = 2048;

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
 * Compare two byte strings as Nix orders entry names: negative, zero or
 * positive, by `memcmp` of the common length, then by length.
 *
 * @param a The first string.
 * @param b The second string.
 * @returns The sign of the comparison.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compareBytes } from "./tokens.ts";
 * assert.ok(compareBytes(new Uint8Array([1]), new Uint8Array([1, 0])) < 0);
 * assert.ok(compareBytes(new Uint8Array([2]), new Uint8Array([1, 0])) > 0);
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
 * @param name The name.
 * @returns Its bytes.
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
