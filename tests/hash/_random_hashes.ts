/**
 * Random hashes of every algorithm, for the hash tests.
 *
 * @module
 */
import { randomBytes } from "node:crypto";
import { Hash, HASH_SIZES, type HashAlgorithm } from "../../lib/hash/hash.ts";
export const ALGOS = Object.keys(HASH_SIZES) as HashAlgorithm[];

export function randomHashes(algo: HashAlgorithm, n = 5): Hash[] {
  const out = [new Hash(algo, new Uint8Array(HASH_SIZES[algo]))];
  for (let i = 0; i < n; i++) {
    out.push(new Hash(algo, new Uint8Array(randomBytes(HASH_SIZES[algo]))));
  }
  return out;
}
