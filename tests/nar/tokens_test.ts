import assert from "node:assert/strict";
import {
  badEntryName,
  compareBytes,
  MAX_ENTRY_NAME_LENGTH,
  MERGED_TOKENS,
  MERGED_WORDS,
  NAR_WORDS,
  TOKENS,
} from "../../lib/nar/tokens.ts";

/** A word in wire framing, built by hand: u64 length, bytes, zero padding to 8. */
function frame(word: string): Uint8Array {
  const bytes = new TextEncoder().encode(word);
  const out = new Uint8Array(8 + Math.ceil(bytes.length / 8) * 8);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(bytes, 8);
  return out;
}

Deno.test("TOKENS are the wire framing of the grammar's words", () => {
  assert.deepEqual(Object.keys(TOKENS).sort(), [...NAR_WORDS].sort());
  for (const w of NAR_WORDS) assert.deepEqual(TOKENS[w], frame(w), w);
  assert.deepEqual(TOKENS[""], new Uint8Array(8));
});

Deno.test("MERGED_TOKENS are their words' framings back to back", () => {
  for (const [name, words] of Object.entries(MERGED_WORDS)) {
    const parts = words.map(frame);
    const want = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) {
      want.set(p, at);
      at += p.length;
    }
    assert.deepEqual(MERGED_TOKENS[name as keyof typeof MERGED_TOKENS], want, name);
  }
});

Deno.test("badEntryName() refuses what Nix refuses and nothing else", () => {
  const b = (s: string) => new TextEncoder().encode(s);
  for (
    const ok of ["a", "...", ".a", "a.", " ", "-", "\n", "ü", "x".repeat(MAX_ENTRY_NAME_LENGTH)]
  ) {
    assert.equal(badEntryName(b(ok)), undefined, JSON.stringify(ok));
  }
  for (
    const [bad, re] of [
      ["", /empty/],
      [".", /not allowed/],
      ["..", /not allowed/],
      ["a/b", /'\/'/],
      ["/", /'\/'/],
      ["a\0", /NUL/],
      ["x".repeat(MAX_ENTRY_NAME_LENGTH + 1), /longer than 255/],
    ] as const
  ) {
    assert.match(badEntryName(b(bad)) ?? "", re, JSON.stringify(bad));
  }
});

Deno.test("compareBytes() orders as memcmp then length", () => {
  const u = (...b: number[]) => new Uint8Array(b);
  assert.equal(compareBytes(u(), u()), 0);
  assert.ok(compareBytes(u(), u(0)) < 0);
  assert.ok(compareBytes(u(0xff), u(0x00, 0xff)) > 0);
  assert.ok(compareBytes(u(1, 2), u(1, 3)) < 0);
  assert.equal(compareBytes(u(1, 2), u(1, 2)), 0);
});
