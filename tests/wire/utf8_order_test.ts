import assert from "node:assert/strict";
import fc from "fast-check";
import { compareUtf8 } from "../../lib/wire/utf8_order.ts";

/** memcmp, then length: how `std::string` (Nix's keys, paths, names) orders bytes. */
function memcmp(x: Uint8Array, y: Uint8Array): number {
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

const ESCAPE = /[\uDC80-\uDCFF]/;

Deno.test("compareUtf8() orders text as std::string orders the UTF-8 TextEncoder writes, lone surrogates as U+FFFD", () => {
  fc.assert(
    fc.property(
      fc.string({ unit: "binary", maxLength: 4 }).filter((s) => !ESCAPE.test(s)),
      fc.string({ unit: "binary", maxLength: 4 }).filter((s) => !ESCAPE.test(s)),
      (a, b) => {
        const e = new TextEncoder();
        assert.equal(Math.sign(compareUtf8(a, b)), Math.sign(memcmp(e.encode(a), e.encode(b))));
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("compareUtf8() pins the order of lone surrogates", () => {
  // U+DC80..U+DCFF are the bytes 0x80..0xFF they escape (the property test of
  // tests/derivation/nix_string_test.ts checks every byte string): after ASCII,
  // among the lead bytes
  assert.deepEqual(
    ["\udcff", "é", "\u{1F642}", "z", "\udc80", "\udcc3\udca9"].sort(compareUtf8),
    ["z", "\udc80", "é", "\udcc3\udca9", "\u{1F642}", "\udcff"],
  );
  assert.equal(compareUtf8("\udcc3\udca9", "é"), 0); // the same bytes C3 A9
  // any other lone surrogate is U+FFFD (EF BF BD), high or low
  assert.equal(compareUtf8("\ud800", "\ufffd"), 0);
  assert.equal(compareUtf8("a\udbff", "a\udc00"), 0);
  assert.ok(compareUtf8("\ud800", "\uffef") > 0);
  assert.ok(compareUtf8("\ud800", "\u{10000}") < 0);
  // a surrogate pair is one code point, above every BMP character
  assert.ok(compareUtf8("\ud83d\ude42", "\uffff") > 0);
});
