/**
 * The hash algorithms Nix knows, and their digest sizes.
 *
 * @module
 */

/**
 * The hash algorithms Nix knows.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type HashAlgorithm, HASH_SIZES } from "./hash_algorithm.ts";
 * const algo: HashAlgorithm = "sha1";
 * assert.equal(HASH_SIZES[algo], 20);
 * ```
 */
export type HashAlgorithm = "md5" | "sha1" | "sha256" | "sha512";

/**
 * Digest size in bytes of each algorithm.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HASH_SIZES } from "./hash_algorithm.ts";
 * assert.equal(HASH_SIZES.sha256, 32);
 * ```
 */
export const HASH_SIZES: Readonly<Record<HashAlgorithm, number>> = {
  md5: 16,
  sha1: 20,
  sha256: 32,
  sha512: 64,
};
