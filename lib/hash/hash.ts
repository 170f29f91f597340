/**
 * Cryptographic hashes as Nix prints and parses them.
 *
 * Algorithms: md5 (16 bytes), sha1 (20), sha256 (32), sha512 (64).
 * Encodings: base16 (lower-case hex), nix32 (Nix calls it "base32"), base64,
 * and SRI (`<algo>-<base64>`). A typed hash is written `<algo>:<text>`, where
 * the text's length tells its encoding.
 *
 * @module
 */
import type { Hash as NodeHash } from "node:crypto";
import { sha256 } from "@noble/hashes/sha2.js";
import { BuildhostError } from "../errors.ts";
import { HASH_SIZES, type HashAlgorithm } from "./hash_algorithm.ts";
import { openNettleDigest } from "./nettle_digest.ts";
import { decodeNix32, encodeNix32, Nix32Error, nix32Length } from "./nix_base32.ts";
import { WriteBatcher } from "./write_batcher.ts";

export { HASH_SIZES, type HashAlgorithm };

/**
 * How a hash's bytes are written. `base32` is nix32.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash, type HashEncoding } from "./hash.ts";
 * const enc: HashEncoding = "base16";
 * assert.equal(Hash.of("md5", "").toString(enc), "d41d8cd98f00b204e9800998ecf8427e");
 * ```
 */
export type HashEncoding = "base16" | "base32" | "base64" | "sri";

let nodeCrypto: typeof import("node:crypto") | undefined;

/** The part of Node's global `process` used here. */
interface NodeGlobal {
  process: { getBuiltinModule(id: "node:crypto"): typeof import("node:crypto") };
}

/** What computes a digest: Nettle's or node:crypto's. */
interface Digester {
  update(data: Uint8Array): void;
  digest(): Uint8Array;
}

/** The hasher {@linkcode createHash} has loaded, if any. */
let backend: "nettle" | "node" | undefined;
/** Whether Nettle could not be had (or a test said not to use it). */
let noNettle = false;

/**
 * A hasher: Nettle's through FFI where it can be loaded (see
 * `nettle_digest.ts`), else node:crypto's. Either is loaded at the first
 * hash that needs it, not with this module: loading node:crypto is the
 * costliest part of a session's start (some 45 ms: it brings in most of
 * Deno's Node layer), and a session that hashes nothing, or only a little
 * SHA-256 (see {@linkcode smallSha256}), needs neither.
 */
function createHash(algorithm: HashAlgorithm): Digester {
  if (!noNettle) {
    const nettle = openNettleDigest(algorithm);
    if (nettle) {
      backend = "nettle";
      return nettle;
    }
    noNettle = true;
  }
  backend = "node";
  // Through the global `process`, which Deno sets up when first touched:
  // importing "node:process" would load Node's compatibility layer at start.
  nodeCrypto ??= (globalThis as unknown as NodeGlobal).process.getBuiltinModule("node:crypto");
  const h: NodeHash = nodeCrypto.createHash(algorithm);
  return { update: (data) => h.update(data), digest: () => new Uint8Array(h.digest()) };
}

/**
 * Up to this many bytes, SHA-256 is computed in JavaScript (`@noble/hashes`)
 * while no other hasher is loaded: a store path's fingerprint, a small
 * path's NAR. The others hash faster (their start aside), so anything
 * larger loads one, and once loaded it hashes everything.
 */
export const SMALL_SHA256 = 16 * 1024;

/** Whether `size` bytes of `algorithm` are hashed in JavaScript. */
function smallSha256(algorithm: HashAlgorithm, size: number): boolean {
  return algorithm === "sha256" && backend === undefined && size <= SMALL_SHA256;
}

/** @internal Which hasher is loaded, if any (for tests). */
export function hashBackend(): "nettle" | "node" | undefined {
  return backend;
}

/** @internal Use node:crypto from now on, as when Nettle cannot be loaded (for tests). */
export function useNodeCrypto(): void {
  noNettle = true;
}

const utf8 = new TextEncoder();

/**
 * A hash string that cannot be parsed, or an unknown algorithm.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash, HashError } from "./hash.ts";
 * assert.throws(() => Hash.parse("sha256:abc"), HashError);
 * ```
 */
export class HashError extends BuildhostError {
  override name = "HashError";
}

/**
 * Check that `name` is a hash algorithm.
 *
 * @param name The algorithm's name as written (`sha256`).
 * @returns The same name, typed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseHashAlgorithm } from "./hash.ts";
 * assert.equal(parseHashAlgorithm("sha512"), "sha512");
 * assert.throws(() => parseHashAlgorithm("blake3"), /unknown/);
 * ```
 */
export function parseHashAlgorithm(name: string): HashAlgorithm {
  if (name in HASH_SIZES) return name as HashAlgorithm;
  throw new HashError(`Cannot use hash algorithm "${name}": unknown (md5, sha1, sha256, sha512)`);
}

const BASE64_RE = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * A digest with its algorithm.
 *
 * @example Parsing and printing
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "./hash.ts";
 * const h = Hash.of("sha256", "hello");
 * assert.equal(h.toString("base16"), "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824");
 * assert.equal(Hash.parse(h.toString("sri")).toString("base32", true), h.toString("base32", true));
 * ```
 */
export class Hash {
  /**
   * @param algorithm The algorithm.
   * @param bytes The digest; its length must fit the algorithm.
   */
  constructor(readonly algorithm: HashAlgorithm, readonly bytes: Uint8Array) {
    if (bytes.length !== HASH_SIZES[algorithm]) {
      throw new HashError(
        `Cannot make a ${algorithm} hash: ${bytes.length} bytes, expected ${HASH_SIZES[algorithm]}`,
      );
    }
  }

  /**
   * Hash bytes or a string (UTF-8) in one go.
   *
   * @param algorithm The algorithm.
   * @param data What to hash.
   */
  static of(algorithm: HashAlgorithm, data: Uint8Array | string): Hash {
    const bytes = typeof data === "string" ? utf8.encode(data) : data;
    if (smallSha256(algorithm, bytes.length)) return new Hash(algorithm, sha256(bytes));
    const h = createHash(algorithm);
    h.update(bytes);
    return new Hash(algorithm, h.digest());
  }

  /**
   * Parse a hash: SRI (`sha256-...`), typed (`sha256:...` in any encoding),
   * or untyped text in any encoding when `algorithm` is given.
   *
   * @param text The hash as written.
   * @param algorithm The algorithm of an untyped hash (must agree with a typed one).
   */
  static parse(text: string, algorithm?: HashAlgorithm): Hash {
    let algo = algorithm;
    let rest = text;
    let sri = false;
    const colon = text.indexOf(":");
    const dash = text.indexOf("-");
    if (colon >= 0) {
      algo = Hash.#checkAlgo(text, text.slice(0, colon), algorithm);
      rest = text.slice(colon + 1);
    } else if (dash >= 0) {
      algo = Hash.#checkAlgo(text, text.slice(0, dash), algorithm);
      rest = text.slice(dash + 1);
      sri = true;
    }
    if (algo === undefined) {
      throw new HashError(`Cannot parse hash "${text}": no algorithm given`);
    }
    const size = HASH_SIZES[algo];
    const at = text.length - rest.length; // where the encoded digest starts in `text`
    const fail = (detail: string) => new HashError(`Cannot parse hash "${text}": ${detail}`);
    if (!sri && rest.length === size * 2) {
      const bad = rest.search(/[^0-9a-fA-F]/);
      if (bad >= 0) {
        throw fail(`invalid base16 character "${rest[bad]}" at position ${at + bad}`);
      }
      return new Hash(algo, Uint8Array.fromHex(rest));
    }
    if (!sri && rest.length === nix32Length(size)) {
      try {
        return new Hash(algo, decodeNix32(rest, size));
      } catch (e) {
        if (!(e instanceof Nix32Error)) throw e;
        throw fail(
          e.position === undefined
            ? e.detail
            : `invalid nix32 character "${rest[e.position]}" at position ${at + e.position}`,
        );
      }
    }
    // Like Nix 2.8: a typed base64 hash has its padded length, an SRI hash any
    // length (padding may be left out); unused trailing bits are ignored.
    if (sri || rest.length === Math.ceil(size / 3) * 4) {
      const bad = rest.search(/[^A-Za-z0-9+/=]/);
      if (bad >= 0 || !BASE64_RE.test(rest)) {
        const pos = bad >= 0 ? bad : rest.indexOf("=");
        throw fail(`invalid base64 character "${rest[pos]}" at position ${at + pos}`);
      }
      // As Node's Buffer reads base64 (and Nix): padding optional, a lone last character ignored.
      const digits = rest.replace(/=+$/, "");
      const bytes = Uint8Array.fromBase64(
        digits.slice(0, digits.length - (digits.length % 4 === 1 ? 1 : 0)),
      );
      if (bytes.length === size) return new Hash(algo, bytes);
      throw fail(`the base64 text holds ${bytes.length} bytes, not ${size} (${algo})`);
    }
    throw fail(
      `length ${rest.length} fits no encoding of ${algo} (base16 ${size * 2}, base32 ${
        nix32Length(size)
      }, base64 ${Math.ceil(size / 3) * 4})`,
    );
  }

  static #checkAlgo(text: string, name: string, expected?: HashAlgorithm): HashAlgorithm {
    if (!(name in HASH_SIZES)) {
      throw new HashError(
        `Cannot parse hash "${text}": unknown algorithm "${name}" (md5, sha1, sha256, sha512)`,
      );
    }
    const algo = name as HashAlgorithm;
    if (expected !== undefined && algo !== expected) {
      throw new HashError(`Cannot parse hash "${text}": algorithm ${algo}, expected ${expected}`);
    }
    return algo;
  }

  /**
   * Print the hash.
   *
   * @param encoding base16, base32 (nix32), base64 or sri.
   * @param withAlgorithm Prefix `<algo>:` (ignored for SRI, which always has it).
   */
  toString(encoding: HashEncoding = "sri", withAlgorithm = false): string {
    let body: string;
    switch (encoding) {
      case "base16":
        body = this.bytes.toHex();
        break;
      case "base32":
        body = encodeNix32(this.bytes);
        break;
      case "base64":
        body = this.bytes.toBase64();
        break;
      case "sri":
        return `${this.algorithm}-${this.bytes.toBase64()}`;
    }
    return withAlgorithm ? `${this.algorithm}:${body}` : body;
  }

  /** True when both hashes have the same algorithm and bytes. */
  equals(other: Hash): boolean {
    return this.algorithm === other.algorithm && this.bytes.length === other.bytes.length &&
      this.bytes.every((b, i) => b === other.bytes[i]);
  }
}

/**
 * An incremental hash that is also a byte sink, counting the bytes it saw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash, HashSink } from "./hash.ts";
 * const s = new HashSink("sha256");
 * s.write(new TextEncoder().encode("hel"));
 * s.write(new TextEncoder().encode("lo"));
 * assert.equal(s.size, 5);
 * assert.ok(s.digest().equals(Hash.of("sha256", "hello")));
 * ```
 */
export class HashSink {
  /** The hasher, once the bytes are too many for a small hash. */
  #h: Digester | undefined;
  /** Small writes on their way to the hasher, gathered (each call costs). */
  #batch: WriteBatcher | undefined;
  /** Until then, the bytes (grown by doubling, up to {@linkcode SMALL_SHA256}). */
  #small: Uint8Array | undefined;
  /** Bytes hashed so far. */
  size = 0;
  /** @param algorithm The algorithm. */
  constructor(readonly algorithm: HashAlgorithm) {
    if (smallSha256(algorithm, 0)) this.#small = new Uint8Array(2048);
    else this.#startHasher();
  }
  /** Feed bytes. */
  write(chunk: Uint8Array): void {
    const at = this.size;
    this.size += chunk.length;
    if (this.#batch) {
      this.#batch.write(chunk);
    } else if (this.size <= SMALL_SHA256) {
      let small = this.#small!;
      if (this.size > small.length) {
        const grown = new Uint8Array(Math.min(SMALL_SHA256, Math.max(this.size, small.length * 2)));
        grown.set(small.subarray(0, at));
        this.#small = small = grown;
      }
      small.set(chunk, at);
    } else {
      this.#startHasher().update(this.#small!.subarray(0, at));
      this.#small = undefined;
      this.#batch!.write(chunk);
    }
  }
  #startHasher(): Digester {
    const h = this.#h = createHash(this.algorithm);
    this.#batch = new WriteBatcher((bytes) => h.update(bytes));
    return h;
  }
  /** Finish and return the hash (once). */
  digest(): Hash {
    if (this.#h) {
      this.#batch!.flush();
      return new Hash(this.algorithm, this.#h.digest());
    }
    return new Hash(this.algorithm, sha256(this.#small!.subarray(0, this.size)));
  }
}

/**
 * Fold a digest into `size` bytes by XOR, as Nix's `compressHash` does
 * (store path hash parts are sha256 digests compressed to 20 bytes).
 *
 * @param bytes The digest.
 * @param size The new size.
 * @returns The folded bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { compressHash } from "./hash.ts";
 * assert.deepEqual(compressHash(new Uint8Array([1, 2, 4]), 2), new Uint8Array([5, 2]));
 * ```
 */
export function compressHash(bytes: Uint8Array, size: number): Uint8Array {
  const out = new Uint8Array(size);
  for (let i = 0; i < bytes.length; i++) out[i % size]! ^= bytes[i]!;
  return out;
}
