/**
 * Nettle's digests through FFI give node:crypto's bytes for every algorithm
 * Nix uses, whatever the sizes and however the input is split.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import fc from "fast-check";
import { openNettleDigest } from "../../lib/hash/nettle_digest.ts";
import type { HashAlgorithm } from "../../lib/hash/hash_algorithm.ts";

const ALGORITHMS: HashAlgorithm[] = ["md5", "sha1", "sha256", "sha512"];

function reference(algorithm: HashAlgorithm, data: Uint8Array): string {
  return createHash(algorithm).update(data).digest("hex");
}

Deno.test("libnettle loads here (the tests' machine has libnettle8, as apt needs it)", () => {
  assert.ok(openNettleDigest("sha256"), "libnettle.so.8 could not be loaded");
});

Deno.test("Nettle's digests equal node:crypto's at the block edges", () => {
  for (const algorithm of ALGORITHMS) {
    for (const n of [0, 1, 55, 56, 63, 64, 65, 111, 112, 127, 128, 129, 1000, (1 << 20) + 3]) {
      const data = new Uint8Array(n).map((_, i) => (i * 131 + n) & 0xff);
      const d = openNettleDigest(algorithm)!;
      d.update(data);
      assert.equal(d.digest().toHex(), reference(algorithm, data), `${algorithm}, ${n} bytes`);
    }
  }
});

Deno.test("Nettle's digests equal node:crypto's for random inputs split anywhere", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...ALGORITHMS),
      fc.uint8Array({ maxLength: 3000 }),
      fc.array(fc.nat({ max: 3000 }), { maxLength: 8 }),
      (algorithm, data, cuts) => {
        const d = openNettleDigest(algorithm)!;
        let at = 0;
        for (const cut of [...cuts].sort((a, b) => a - b)) {
          const to = Math.min(cut, data.length);
          if (to < at) continue;
          d.update(data.subarray(at, to));
          at = to;
        }
        d.update(data.subarray(at));
        assert.equal(d.digest().toHex(), reference(algorithm, data));
      },
    ),
  );
});

Deno.test("a digest starts afresh after it is taken", () => {
  const d = openNettleDigest("sha256")!;
  d.update(new TextEncoder().encode("first"));
  d.digest();
  d.update(new TextEncoder().encode("abc"));
  assert.equal(d.digest().toHex(), reference("sha256", new TextEncoder().encode("abc")));
});
