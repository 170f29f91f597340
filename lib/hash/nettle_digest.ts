/**
 * Digests computed by GNU Nettle (Debian's `libnettle8`, which GnuTLS and so
 * apt itself depend on) through FFI.
 *
 * It is the cheapest way here to hash much: loading the library takes some
 * 5 ms and half a megabyte, where `node:crypto` takes some 45 ms and 10 MB
 * (it brings in most of Deno's Node layer); Nettle uses the CPU's SHA
 * instructions, so its SHA-256 is about as fast. When FFI is not permitted
 * or the library is missing, {@linkcode openNettleDigest} says so and the
 * caller hashes another way.
 *
 * The ABI is Nettle 3's (`libnettle.so.8`): `<algo>_init(ctx)`,
 * `<algo>_update(ctx, length, data)`, `<algo>_digest(ctx, length, digest)`,
 * which also starts the context afresh.
 *
 * @module
 */
import { ffiPermitted } from "../libc.ts";
import { HASH_SIZES, type HashAlgorithm } from "./hash_algorithm.ts";

/** `<algo>_init(ctx)`. */
const INIT = { parameters: ["buffer"], result: "void" } as const;
/** `<algo>_update(ctx, length, data)` and `<algo>_digest(ctx, length, digest)`. */
const CALL = { parameters: ["buffer", "usize", "buffer"], result: "void" } as const;

const SYMBOLS = {
  nettle_md5_init: INIT,
  nettle_md5_update: CALL,
  nettle_md5_digest: CALL,
  nettle_sha1_init: INIT,
  nettle_sha1_update: CALL,
  nettle_sha1_digest: CALL,
  nettle_sha256_init: INIT,
  nettle_sha256_update: CALL,
  nettle_sha256_digest: CALL,
  nettle_sha512_init: INIT,
  nettle_sha512_update: CALL,
  nettle_sha512_digest: CALL,
} as const;

type Nettle = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];

/**
 * An `_update` or `_digest` function. Deno's types ask a BigInt for a
 * `usize`; it takes a number as well, which allocates nothing.
 */
type Call = (ctx: Uint8Array, length: number, data: Uint8Array) => void;

/**
 * Bytes reserved for a context: Nettle's largest, `struct sha512_ctx`, takes
 * 216 on 64-bit machines.
 */
const CONTEXT_SIZE = 512;

/** The library: undefined until asked for, null when it cannot be had. */
let nettle: Nettle | null | undefined;

function load(): Nettle | null {
  if (!ffiPermitted()) return null;
  try {
    return Deno.dlopen("libnettle.so.8", SYMBOLS).symbols;
  } catch {
    return null;
  }
}

/**
 * An incremental digest in Nettle.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openNettleDigest } from "./nettle_digest.ts";
 * const d = openNettleDigest("sha256");
 * if (d) {
 *   d.update(new TextEncoder().encode("abc"));
 *   assert.equal(d.digest().toHex().slice(0, 8), "ba7816bf");
 * }
 * ```
 */
export class NettleDigest {
  #ctx = new Uint8Array(CONTEXT_SIZE);
  #update: Call;
  #digest: Call;

  /** Use {@linkcode openNettleDigest}. */
  constructor(lib: Nettle, readonly algorithm: HashAlgorithm) {
    const init = lib[`nettle_${algorithm}_init`];
    this.#update = lib[`nettle_${algorithm}_update`] as unknown as Call;
    this.#digest = lib[`nettle_${algorithm}_digest`] as unknown as Call;
    init(this.#ctx);
  }

  /** Feed bytes. */
  update(data: Uint8Array): void {
    if (data.length > 0) this.#update(this.#ctx, data.length, data);
  }

  /** The digest of everything fed (the context then starts afresh). */
  digest(): Uint8Array {
    const out = new Uint8Array(HASH_SIZES[this.algorithm]);
    this.#digest(this.#ctx, out.length, out);
    return out;
  }
}

/**
 * A new digest in Nettle, or undefined when FFI is not permitted or
 * `libnettle.so.8` cannot be loaded (the library is loaded at the first call).
 *
 * @param algorithm The algorithm.
 * @returns The digest, or undefined.
 */
export function openNettleDigest(algorithm: HashAlgorithm): NettleDigest | undefined {
  if (nettle === undefined) nettle = load();
  return nettle === null ? undefined : new NettleDigest(nettle, algorithm);
}
