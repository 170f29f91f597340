import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import {
  decodeNix32,
  encodeNix32,
  NIX32_ALPHABET,
  Nix32Error,
  nix32Length,
} from "../../lib/hash/nix_base32.ts";
Deno.test("encodeNix32() has the documented length and alphabet", () => {
  assert.equal(encodeNix32(new Uint8Array(0)), "");
  assert.equal(encodeNix32(new Uint8Array([0])), "00");
  assert.equal(encodeNix32(new Uint8Array([1])), "01");
  assert.equal(encodeNix32(new Uint8Array([0x1f])), "0z");
  assert.equal(encodeNix32(new Uint8Array([0x20])), "10");
  assert.equal(NIX32_ALPHABET.length, 32);
  for (const c of "eout") assert.ok(!NIX32_ALPHABET.includes(c));
  for (const [size, len] of [[16, 26], [20, 32], [32, 52], [64, 103]]) {
    assert.equal(nix32Length(size!), len);
  }
});

Deno.test("decodeNix32() rejects a wrong length", () => {
  for (
    const [text, size] of [["", 1], ["0", 1], ["000", 1], ["0".repeat(51), 32], [
      "0".repeat(53),
      32,
    ]] as const
  ) {
    assert.throws(() => decodeNix32(text, size), (e: unknown) => {
      assert.ok(e instanceof Nix32Error);
      assert.match(e.message, new RegExp(`length ${text.length}, expected ${nix32Length(size)}`));
      assert.equal(e.position, undefined);
      return true;
    });
  }
});

Deno.test("decodeNix32() rejects a bad character naming its position", () => {
  const good = encodeNix32(new Uint8Array(randomBytes(32)));
  for (const bad of ["e", "o", "u", "t", "A", "-", " ", "é", "\0"]) {
    for (const pos of [0, 1, 25, 51]) {
      const text = good.slice(0, pos) + bad + good.slice(pos + 1);
      assert.throws(() => decodeNix32(text, 32), (e: unknown) => {
        assert.ok(e instanceof Nix32Error);
        assert.equal(e.position, pos);
        assert.ok(e.message.includes(`invalid character "${bad}" at position ${pos}`), e.message);
        return true;
      });
    }
  }
});

Deno.test("decodeNix32() round-trips encodeNix32() for every size 0 to 70", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 70 }).chain((n) => fc.uint8Array({ minLength: n, maxLength: n })),
      (bytes) => {
        const text = encodeNix32(bytes);
        assert.equal(text.length, nix32Length(bytes.length));
        assert.deepEqual(decodeNix32(text, bytes.length), bytes);
      },
    ),
    { numRuns: 300 },
  );
  for (let n = 0; n <= 70; n++) {
    const bytes = new Uint8Array(randomBytes(n));
    assert.deepEqual(decodeNix32(encodeNix32(bytes), n), bytes);
  }
});

Deno.test("decodeNix32() throws only Nix32Error on random text", () => {
  fc.assert(
    fc.property(fc.string({ maxLength: 60 }), fc.integer({ min: 0, max: 40 }), (text, size) => {
      try {
        decodeNix32(text, size);
      } catch (e) {
        if (!(e instanceof Nix32Error)) throw e;
      }
    }),
    { numRuns: 300 },
  );
});
