import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import fc from "fast-check";
import {
  compressHash,
  Hash,
  HashError,
  HashSink,
  parseHashAlgorithm,
} from "../../lib/hash/hash.ts";
import { ALGOS, randomHashes } from "./_random_hashes.ts";
Deno.test("toString() puts the algorithm in front when asked, except for SRI", () => {
  const h = Hash.of("sha1", "x");
  assert.equal(h.toString("base16", true), `sha1:${h.toString("base16")}`);
  assert.equal(h.toString("base32", true), `sha1:${h.toString("base32")}`);
  assert.equal(h.toString("base64", true), `sha1:${h.toString("base64")}`);
  assert.equal(h.toString("sri", true), h.toString("sri"));
  assert.equal(h.toString(), h.toString("sri"));
  assert.match(h.toString(), /^sha1-/);
});

Deno.test("Hash.parse() reads every encoding, typed, untyped and SRI", () => {
  for (const algo of ALGOS) {
    for (const h of randomHashes(algo, 3)) {
      const forms = [
        h.toString("sri"),
        ...(["base16", "base32", "base64"] as const).map((e) => h.toString(e, true)),
        `${algo}:${h.toString("base16").toUpperCase()}`,
      ];
      for (const text of forms) {
        assert.ok(Hash.parse(text).equals(h), text);
        assert.ok(Hash.parse(text, algo).equals(h), text);
      }
      for (const e of ["base16", "base32", "base64"] as const) {
        const text = h.toString(e);
        assert.ok(Hash.parse(text, algo).equals(h), text);
        assert.throws(() => Hash.parse(text), /no algorithm given/);
      }
    }
  }
});

Deno.test("Hash.parse() throws only HashError on random text", () => {
  const prefix = fc.constantFrom("", "sha256:", "md5-", "sha1:", "sha512-", "x:");
  fc.assert(
    fc.property(
      prefix,
      fc.string({ maxLength: 110 }),
      fc.constantFrom(...ALGOS, undefined),
      (p, s, algo) => {
        try {
          Hash.parse(p + s, algo);
        } catch (e) {
          if (!(e instanceof HashError)) throw e;
        }
      },
    ),
    { numRuns: 500 },
  );
});

Deno.test("parseHashAlgorithm() knows the four algorithms", () => {
  for (const a of ALGOS) assert.equal(parseHashAlgorithm(a), a);
  assert.throws(() => parseHashAlgorithm("SHA256"), HashError);
  assert.throws(() => parseHashAlgorithm("blake3"), /unknown/);
});

Deno.test("new Hash() checks the digest size", () => {
  assert.throws(() => new Hash("sha256", new Uint8Array(20)), /20 bytes, expected 32/);
  const h = new Hash("md5", new Uint8Array(16));
  assert.ok(h.equals(new Hash("md5", new Uint8Array(16))));
  assert.ok(!h.equals(new Hash("md5", new Uint8Array(16).fill(1))));
});

Deno.test("HashSink gives Hash.of() under any chunking and counts bytes", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 500 }),
      fc.array(fc.nat({ max: 500 }), { maxLength: 6 }),
      fc.constantFrom(...ALGOS),
      (data, cuts, algo) => {
        const sink = new HashSink(algo);
        const points = [
          0,
          ...cuts.map((c) => Math.min(c, data.length)).sort((a, b) => a - b),
          data.length,
        ];
        for (let i = 1; i < points.length; i++) sink.write(data.subarray(points[i - 1], points[i]));
        assert.equal(sink.size, data.length);
        assert.ok(sink.digest().equals(Hash.of(algo, data)));
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("compressHash() folds by XOR and pads short input with zeros", () => {
  assert.deepEqual(
    compressHash(new Uint8Array([1, 2, 3, 4, 5]), 2),
    new Uint8Array([1 ^ 3 ^ 5, 2 ^ 4]),
  );
  assert.deepEqual(compressHash(new Uint8Array([7]), 3), new Uint8Array([7, 0, 0]));
  assert.equal(Buffer.from(compressHash(new Uint8Array(0), 4)).toString("hex"), "00000000");
});
