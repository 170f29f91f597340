import assert from "node:assert/strict";
import fc from "fast-check";
import {
  ContentAddressError,
  HashModuloSink,
  parseContentAddress,
} from "../../lib/store/content_address.ts";
import { Hash } from "../../lib/hash/hash.ts";
const enc = new TextEncoder();

Deno.test("HashModuloSink hashes the same however the stream is cut", () => {
  const modulus = "0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn";
  fc.assert(
    fc.property(
      fc.array(fc.constantFrom("a", "0c2d", modulus, modulus.slice(0, 31), "\n"), {
        maxLength: 12,
      }),
      fc.array(fc.nat(400), { maxLength: 6 }),
      (parts, cuts) => {
        const data = enc.encode(parts.join(""));
        const whole = new HashModuloSink("sha256", modulus);
        whole.write(data);
        const pieces = new HashModuloSink("sha256", modulus);
        let at = 0;
        for (const c of [...cuts.map((c) => c % (data.length + 1))].sort((a, b) => a - b)) {
          pieces.write(data.subarray(at, c));
          at = c;
        }
        pieces.write(data.subarray(at));
        // What Nix hashes: the data with each occurrence zeroed, then "|<offset>" per occurrence.
        const zeroed = parts.map((p) => (p === modulus ? "\0".repeat(32) : p)).join("");
        let offset = 0;
        const suffix = parts.map((p) => {
          const s = p === modulus ? `|${offset}` : "";
          offset += p.length;
          return s;
        }).join("");
        const plain = parts.join("").includes(modulus) ? undefined : Hash.of("sha256", data);
        const want = Hash.of("sha256", zeroed + suffix);
        const got = whole.digest();
        // Occurrences that straddle parts (e.g. "0c2d" + the rest) are found too; only check
        // exact expectations where every occurrence is one part.
        const straddles = parts.join("").split(modulus).length - 1 !==
          parts.filter((p) => p === modulus).length;
        if (!straddles) assert.ok(got.equals(want));
        if (plain) assert.ok(got.equals(plain));
        assert.ok(pieces.digest().equals(got));
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("parseContentAddress() reads Nix's three forms and refuses others", () => {
  const h = Hash.of("sha256", "x").toString("base32", true);
  assert.equal(parseContentAddress(`text:${h}`).method, "text");
  assert.equal(parseContentAddress(`fixed:${h}`).method, "flat");
  assert.equal(parseContentAddress(`fixed:r:${h}`).method, "recursive");
  assert.equal(
    parseContentAddress(`fixed:r:${Hash.of("sha1", "x").toString("base32", true)}`)
      .hash.algorithm,
    "sha1",
  );
  for (
    const bad of ["", "fixed:", "fixed:r:sha256:zz", `nar:${h}`, "text:sha1:" + "0".repeat(32)]
  ) {
    assert.throws(() => parseContentAddress(bad), ContentAddressError, bad);
  }
});
