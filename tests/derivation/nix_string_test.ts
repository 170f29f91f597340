import assert from "node:assert/strict";
import fc from "fast-check";
import { decodeNixString, encodeNixString } from "../../lib/derivation/nix_string.ts";
import { compareUtf8 } from "../../lib/wire/utf8_order.ts";
import { DerivationError } from "../../lib/derivation/derivation_error.ts";

function compareBytes(x: Uint8Array, y: Uint8Array): number {
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

Deno.test("decodeNixString() then encodeNixString() gives back any bytes", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) => {
      assert.deepEqual(encodeNixString(decodeNixString(bytes)), bytes);
    }),
    { numRuns: 300 },
  );
  // invalid sequences of every kind: overlong, surrogate, too big, truncated, stray continuation
  for (
    const bad of [[0xc0, 0x80], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80]]
  ) {
    const bytes = new Uint8Array([0x61, ...bad, 0x62]);
    assert.deepEqual(encodeNixString(decodeNixString(bytes)), bytes);
    assert.equal(decodeNixString(bytes).length, bad.length + 2);
  }
});

Deno.test("decodeNixString() reads valid UTF-8 as TextDecoder does, BOM included", () => {
  fc.assert(
    fc.property(fc.string({ unit: "grapheme", maxLength: 20 }), (s) => {
      const bytes = new TextEncoder().encode("\ufeff" + s);
      assert.equal(decodeNixString(bytes), "\ufeff" + s);
      assert.deepEqual(encodeNixString("\ufeff" + s), bytes);
    }),
    { numRuns: 100 },
  );
});

Deno.test("encodeNixString() rejects lone surrogates other than raw bytes", () => {
  assert.throws(() => encodeNixString("a\ud800b"), DerivationError);
  assert.throws(() => encodeNixString("\udc7f"), /U\+DC7F at index 0/);
  assert.deepEqual(encodeNixString("\ud83d\udc80"), new TextEncoder().encode("💀"));
});

Deno.test("compareUtf8() orders as the bytes do", () => {
  fc.assert(
    fc.property(fc.uint8Array({ maxLength: 8 }), fc.uint8Array({ maxLength: 8 }), (x, y) => {
      const want = Math.sign(compareBytes(x, y));
      assert.equal(Math.sign(compareUtf8(decodeNixString(x), decodeNixString(y))), want);
    }),
    { numRuns: 300 },
  );
});
