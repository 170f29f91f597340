import assert from "node:assert/strict";
import { Buffer } from "node:buffer";
import { randomBytes } from "node:crypto";
import { HASH_SIZES, type HashAlgorithm } from "../../lib/hash/hash.ts";
import {
  decodeNix32,
  encodeNix32,
  NIX32_ALPHABET,
  Nix32Error,
  nix32Length,
} from "../../lib/hash/nix_base32.ts";
import { nix, nixFails } from "../_helpers/nix.ts";

const ALGOS = Object.keys(HASH_SIZES) as HashAlgorithm[];
const hex = (b: Uint8Array) => Buffer.from(b).toString("hex");

/** Digests that exercise the edges: all zero, all ones, then random ones. */
function sampleDigests(size: number, random = 6): Uint8Array[] {
  const out = [new Uint8Array(size), new Uint8Array(size).fill(0xff)];
  for (let i = 0; i < random; i++) out.push(new Uint8Array(randomBytes(size)));
  return out;
}

Deno.test("encodeNix32() matches nix-hash --to-base32 for every algorithm", async () => {
  for (const algo of ALGOS) {
    const digests = sampleDigests(HASH_SIZES[algo]);
    const out = await nix("nix-hash", ["--type", algo, "--to-base32", ...digests.map(hex)]);
    assert.deepEqual(out.text.split("\n"), digests.map(encodeNix32), algo);
  }
});

Deno.test("decodeNix32() matches nix-hash --to-base16 for every algorithm", async () => {
  for (const algo of ALGOS) {
    const size = HASH_SIZES[algo];
    const digests = sampleDigests(size);
    const texts = digests.map(encodeNix32);
    const out = await nix("nix-hash", ["--type", algo, "--to-base16", ...texts]);
    assert.deepEqual(out.text.split("\n"), digests.map(hex), algo);
    assert.deepEqual(texts.map((t) => decodeNix32(t, size)), digests);
  }
});

Deno.test("decodeNix32() rejects bits beyond the size, as Nix does", async () => {
  // 8 * size is not a multiple of 5 for these sizes, so the first character has unused bits.
  for (let size = 1; size <= 70; size++) {
    const len = nix32Length(size);
    const spare = len * 5 - size * 8;
    if (spare === 0) {
      assert.equal(decodeNix32("z".repeat(len), size).every((b) => b === 0xff), true);
      continue;
    }
    const maxFirst = (1 << (5 - spare)) - 1; // the largest first digit that fits
    const ok = NIX32_ALPHABET[maxFirst]! + "z".repeat(len - 1);
    assert.ok(decodeNix32(ok, size).every((b) => b === 0xff), `size ${size}`);
    const tooBig = NIX32_ALPHABET[maxFirst + 1]! + "0".repeat(len - 1);
    assert.throws(() => decodeNix32(tooBig, size), /bits set beyond/, `size ${size}`);
  }
  // Nix agrees for md5 (2 spare bits), sha256 (4) and sha512 (3).
  for (const algo of ["md5", "sha256", "sha512"] as const) {
    const len = nix32Length(HASH_SIZES[algo]);
    const spare = len * 5 - HASH_SIZES[algo] * 8;
    const tooBig = NIX32_ALPHABET[1 << (5 - spare)]! + "0".repeat(len - 1);
    assert.throws(() => decodeNix32(tooBig, HASH_SIZES[algo]), Nix32Error);
    assert.match(
      await nixFails("nix-hash", ["--type", algo, "--to-base16", tooBig]),
      /invalid base-32 hash/,
    );
  }
});
