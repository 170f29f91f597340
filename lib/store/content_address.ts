/**
 * Content addresses, as Nix 2.8 writes them in a path's `ca` field, and
 * the check an import makes of them:
 *
 * - `text:sha256:<hash>`: a single regular file whose bytes hash to
 *   `<hash>`; its path is the text path of that hash and its references.
 * - `fixed:<algo>:<hash>`: a single regular file (flat ingestion);
 * - `fixed:r:<algo>:<hash>`: any tree, hashed as its NAR (recursive).
 *
 * Fixed content is hashed modulo its own hash part, as Nix's
 * `HashModuloSink`: each occurrence of the path's 32-character hash part is
 * hashed as 32 zero bytes, and after the data, `|<offset>` for each
 * occurrence, in order (with no occurrence, that is the plain hash). The
 * path must be the one the content address gives for the path's name and
 * references (fixed paths may refer to themselves only when recursive
 * sha256).
 *
 * @module
 */
import { Hash, type HashAlgorithm, HashSink, parseHashAlgorithm } from "../hash/hash.ts";
import { WriteBatcher } from "../hash/write_batcher.ts";
import { makeFixedOutputPath, makeTextPath } from "../store_path/make_store_path.ts";
import { StorePath } from "../store_path/store_path.ts";
import { BuildhostError } from "../errors.ts";

/** A content address that cannot be parsed, or that content or path does not match. */
export class ContentAddressError extends BuildhostError {
  override name = "ContentAddressError";
}

/** A parsed content address. */
export interface ContentAddress {
  /** text: a `builtins.toFile`-like file; flat or recursive: fixed output. */
  method: "text" | "flat" | "recursive";
  /** The hash of the contents. */
  hash: Hash;
}

/**
 * Parse a `ca` field.
 *
 * @param ca The text, e.g. `fixed:r:sha256:1b8m...`.
 * @returns The method and hash.
 * @throws {ContentAddressError} When it is not a content address.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseContentAddress } from "./content_address.ts";
 * const ca = parseContentAddress("fixed:r:sha256:1b8m03r63zqhnjf7l5wnldhh7c134ap5vpj0850ymkq1iyzicy5s");
 * assert.equal(ca.method, "recursive");
 * assert.equal(ca.hash.algorithm, "sha256");
 * ```
 */
export function parseContentAddress(ca: string): ContentAddress {
  const bad = (why: string) =>
    new ContentAddressError(`Cannot parse the content address "${ca}": ${why}`);
  let method: ContentAddress["method"];
  let rest: string;
  if (ca.startsWith("text:")) {
    method = "text";
    rest = ca.slice(5);
  } else if (ca.startsWith("fixed:r:")) {
    method = "recursive";
    rest = ca.slice(8);
  } else if (ca.startsWith("fixed:")) {
    method = "flat";
    rest = ca.slice(6);
  } else {
    throw bad(`it starts with neither "text:" nor "fixed:"`);
  }
  const colon = rest.indexOf(":");
  if (colon < 0) throw bad("the hash has no type");
  let algorithm: HashAlgorithm;
  let hash: Hash;
  try {
    algorithm = parseHashAlgorithm(rest.slice(0, colon));
    hash = Hash.parse(rest.slice(colon + 1), algorithm);
  } catch (e) {
    throw bad((e as Error).message);
  }
  if (method === "text" && algorithm !== "sha256") throw bad("a text hash must be sha256");
  return { method, hash };
}

/**
 * The store path a content address gives for a name and references.
 *
 * @param ca The content address.
 * @param name The path's name.
 * @param references Its references (itself included when it refers to itself).
 * @param self The path itself (to tell a self-reference).
 * @param storeDir The store directory.
 * @returns The full store path.
 */
export function contentAddressedPath(
  ca: ContentAddress,
  name: string,
  references: string[],
  self: string,
  storeDir: string,
): string {
  if (ca.method === "text") {
    return makeTextPath(name, ca.hash, references, storeDir).toString(storeDir);
  }
  const others = references.filter((r) => r !== self);
  return makeFixedOutputPath(
    name,
    ca.method,
    ca.hash,
    others,
    others.length !== references.length,
    storeDir,
  ).toString(storeDir);
}

/**
 * Finds a pattern in bytes (Horspool): the skip after a mismatch depends on
 * the byte under the pattern's last position, so a 32-byte hash part is
 * looked for at about one position in 28 of random data.
 */
class PatternSearch {
  readonly #skip = new Int32Array(256);

  constructor(readonly pattern: Uint8Array) {
    const m = pattern.length;
    this.#skip.fill(m);
    for (let i = 0; i < m - 1; i++) this.#skip[pattern[i]!] = m - 1 - i;
  }

  /** The first occurrence in `hay` at or after `from`, or -1. */
  find(hay: Uint8Array, from = 0): number {
    const p = this.pattern, m = p.length, skip = this.#skip;
    if (m === 0) return from <= hay.length ? from : -1;
    const last = m - 1, lastByte = p[last]!;
    for (let i = from; i + m <= hay.length;) {
      const c = hay[i + last]!;
      if (c === lastByte) {
        let k = 0;
        while (k < last && hay[i + k] === p[k]) k++;
        if (k === last) return i;
      }
      i += skip[c]!;
    }
    return -1;
  }
}

/**
 * Nix's `HashModuloSink`: a hash of a stream in which every occurrence of
 * `modulus` counts as zero bytes, followed by the offsets of the
 * occurrences.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { HashModuloSink } from "./content_address.ts";
 * const s = new HashModuloSink("sha256", "ab");
 * s.write(new TextEncoder().encode("xa"));
 * s.write(new TextEncoder().encode("by"));
 * assert.ok(s.digest().equals(Hash.of("sha256", "x\0\0y|1")));
 * ```
 */
export class HashModuloSink {
  readonly #sink: HashSink;
  readonly #search: PatternSearch;
  /** The last `modulus.length - 1` bytes (or fewer), not hashed yet. */
  #held = new Uint8Array(0);
  /** Bytes hashed so far (before the held ones). */
  #pos = 0;
  readonly #matches: number[] = [];
  /** Small writes, gathered before they are searched and hashed. */
  readonly #batch = new WriteBatcher((bytes) => this.#take(bytes));

  /**
   * @param algorithm The hash algorithm.
   * @param modulus The string to hash as zeros (a path's hash part).
   */
  constructor(algorithm: HashAlgorithm, modulus: string) {
    this.#sink = new HashSink(algorithm);
    this.#search = new PatternSearch(new TextEncoder().encode(modulus));
  }

  /** Feed bytes (not kept, not changed). */
  write(chunk: Uint8Array): void {
    this.#batch.write(chunk);
  }

  #take(chunk: Uint8Array): void {
    const search = this.#search;
    const keep = Math.max(search.pattern.length - 1, 0);
    const held = this.#held;
    if (chunk.length >= keep) {
      // The usual case, nothing to zero: the chunk is hashed where it lies.
      const edge = new Uint8Array(held.length + keep);
      edge.set(held);
      edge.set(chunk.subarray(0, keep), held.length);
      if (search.find(edge) < 0 && search.find(chunk) < 0) {
        const done = chunk.length - keep;
        if (held.length > 0) this.#sink.write(held);
        this.#sink.write(chunk.subarray(0, done));
        this.#pos += held.length + done;
        this.#held = chunk.slice(done);
        return;
      }
    }
    // Only the last keep bytes of the data can start an occurrence that the
    // next chunk completes.
    const s = new Uint8Array(held.length + chunk.length);
    s.set(held);
    s.set(chunk, held.length);
    const m = search.pattern.length;
    for (let j = search.find(s); j >= 0; j = search.find(s, j + m)) {
      this.#matches.push(this.#pos + j);
      s.fill(0, j, j + m);
    }
    const done = s.length - Math.min(s.length, keep);
    if (done > 0) this.#sink.write(s.subarray(0, done));
    this.#pos += done;
    this.#held = s.slice(done);
  }

  /** Finish and return the hash (once). */
  digest(): Hash {
    const sink = this.#sink;
    this.#batch.flush();
    if (this.#held.length > 0) sink.write(this.#held);
    const enc = new TextEncoder();
    for (const pos of this.#matches) sink.write(enc.encode(`|${pos}`));
    return sink.digest();
  }
}

/**
 * Checks the contents of an import against its content address as they
 * stream past: feed it the NAR ({@linkcode ContentAddressCheck.wantsNar})
 * or the root file's bytes ({@linkcode ContentAddressCheck.wantsContents}),
 * then {@linkcode ContentAddressCheck.finish}.
 *
 * A recursive SHA-256 address (what `nix-store --add` and most fixed
 * outputs make) wants nothing while the NAR streams past: it is the NAR's
 * SHA-256, which the import computes anyway, counting each occurrence of
 * the path's own hash part as zeros. Only when the NAR's hash is not the
 * address is the NAR hashed that way, read again from the restored files, as
 * Nix does for every such import. Accepting a NAR whose plain hash is the
 * address accepts nothing Nix refuses: such a NAR cannot hold the hash
 * part, which is made from the address, without a SHA-256 preimage.
 */
export class ContentAddressCheck {
  /** The parsed content address. */
  readonly ca: ContentAddress;
  /** What hashes the streamed bytes; none for a recursive SHA-256 address. */
  readonly #sink: HashModuloSink | HashSink | undefined;
  readonly #hashPart: string;
  #rootType: string | undefined;

  /**
   * @param path The full store path being imported.
   * @param ca Its `ca` field.
   * @param references Its references.
   * @param storeDir The store directory.
   * @throws {ContentAddressError} When the ca cannot be parsed or gives
   * another path (checked before any content is read).
   */
  constructor(readonly path: string, ca: string, references: string[], storeDir: string) {
    this.ca = parseContentAddress(ca);
    const parsed = StorePath.parse(path, storeDir);
    let want: string;
    try {
      want = contentAddressedPath(this.ca, parsed.name, references, path, storeDir);
    } catch (e) {
      throw new ContentAddressError(
        `Cannot add "${path}": its content address "${ca}" does not fit its references (${
          (e as Error).message
        })`,
      );
    }
    if (want !== path) {
      throw new ContentAddressError(
        `Cannot add "${path}": its content address "${ca}" and references give the path "${want}"`,
      );
    }
    this.#hashPart = parsed.hashPart;
    this.#sink = this.ca.method === "text"
      ? new HashSink("sha256")
      : this.#byNarHash
      ? undefined
      : new HashModuloSink(this.ca.hash.algorithm, parsed.hashPart);
  }

  /** A recursive SHA-256 address: checked with the NAR's hash (see the class). */
  get #byNarHash(): boolean {
    return this.ca.method === "recursive" && this.ca.hash.algorithm === "sha256";
  }

  /** Whether it wants the NAR fed to it. */
  get wantsNar(): boolean {
    return this.ca.method === "recursive" && !this.#byNarHash;
  }

  /** Whether it wants the root file's contents fed to it (flat and text). */
  get wantsContents(): boolean {
    return this.ca.method !== "recursive";
  }

  /** The type of the root entry (flat and text need a regular file). */
  set rootType(type: string) {
    this.#rootType = type;
  }

  /** Feed bytes. */
  write(chunk: Uint8Array): void {
    this.#sink?.write(chunk);
  }

  /**
   * Compare: the message is Nix's when the hash differs.
   *
   * @param narHash The SHA-256 of the path's NAR.
   * @param nar The NAR again, from what was restored: hashed modulo the
   * path's hash part only when `narHash` is not a recursive SHA-256 address.
   * @throws {ContentAddressError} On a mismatch.
   */
  async finish(narHash: Hash, nar: () => AsyncIterable<Uint8Array>): Promise<void> {
    if (this.wantsContents && this.#rootType !== "regular") {
      throw new ContentAddressError(
        `ca hash mismatch importing path '${this.path}': its content address needs a regular file, it is a ${
          this.#rootType ?? "nothing"
        }`,
      );
    }
    const got = await this.#contentHash(narHash, nar);
    if (!got.equals(this.ca.hash)) {
      throw new ContentAddressError(
        `ca hash mismatch importing path '${this.path}';\n  specified: ${
          this.ca.hash.toString("base32", true)
        }\n  got:       ${got.toString("base32", true)}`,
      );
    }
  }

  async #contentHash(narHash: Hash, nar: () => AsyncIterable<Uint8Array>): Promise<Hash> {
    if (this.#sink) return this.#sink.digest();
    if (narHash.equals(this.ca.hash)) return narHash;
    const modulo = new HashModuloSink("sha256", this.#hashPart);
    for await (const chunk of nar()) modulo.write(chunk);
    return modulo.digest();
  }
}
