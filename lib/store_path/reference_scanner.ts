/**
 * Finding references: which store paths a file tree refers to. Nix decides
 * this by looking for each candidate's hash part (32 nix32 characters) in
 * the bytes of the path's NAR; the candidates are the paths a build could
 * have seen (its input closure and its own outputs).
 *
 * The search goes through the stream once, in chunks of any size, keeping
 * the last 31 bytes so that a hash part split between two chunks is still
 * found. It only has to look closely at runs of at least 32 nix32
 * characters: a window is checked from its end backwards, and a byte outside
 * the alphabet lets the search jump past it. Inside a run, each window's
 * first four digits are looked up in a bit set of the candidates' first four
 * digits before the window is compared as a whole.
 *
 * @module
 */
import { NIX32_ALPHABET } from "../hash/nix_base32.ts";
import { HASH_PART_LENGTH, StorePathError } from "./store_path.ts";

const WINDOW = HASH_PART_LENGTH;
const TAIL = WINDOW - 1;
/** Marks a byte outside the nix32 alphabet in {@linkcode DIGITS}. */
const NOT_NIX32 = 0xff;
/** The nix32 digit value of each byte, or NOT_NIX32. */
const DIGITS = new Uint8Array(256).fill(NOT_NIX32);
for (let i = 0; i < NIX32_ALPHABET.length; i++) DIGITS[NIX32_ALPHABET.charCodeAt(i)] = i;
/** Candidates are pre-filtered on their first 4 digits (20 bits): a bit set of 2^20 keys. */
const PREFIX_KEYS = 1 << 20;

/**
 * A byte sink (it has `write(chunk)`) that records which of the candidate
 * hash parts occur anywhere in the bytes written to it, including across
 * chunk boundaries.
 *
 * @example Finding a reference split between two chunks
 * ```ts
 * import assert from "node:assert/strict";
 * import { ReferenceScanner } from "./reference_scanner.ts";
 * const dep = "0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn";
 * const other = "1ka9gw6ddkrf0b8k65q7p46xbgb9wdr8";
 * const scanner = new ReferenceScanner([dep, other]);
 * const text = new TextEncoder().encode(`#!/nix/store/${dep}-bash/bin/sh\n`);
 * scanner.write(text.subarray(0, 20));
 * scanner.write(text.subarray(20));
 * assert.deepEqual(scanner.found(), new Set([dep]));
 * ```
 */
export class ReferenceScanner {
  #candidates: Set<string>;
  #prefixBits = new Uint32Array(PREFIX_KEYS / 32);
  #found = new Set<string>();
  /** The last bytes written (at most 31), for matches across chunks. */
  #tail = new Uint8Array(TAIL);
  #tailLength = 0;
  /** Scratch space: the tail followed by the start of the next chunk. */
  #seam = new Uint8Array(2 * TAIL);

  /**
   * Prepare to look for `candidates`.
   *
   * @param candidates The hash parts to look for: 32 nix32 characters each
   * (the part of a store path's base name before the first `-`).
   * @throws {StorePathError} When a candidate is not a hash part.
   */
  constructor(candidates: Iterable<string>) {
    this.#candidates = new Set(candidates);
    for (const c of this.#candidates) {
      if (c.length !== WINDOW || [...c].some((ch) => !NIX32_ALPHABET.includes(ch))) {
        throw new StorePathError(c, "a reference candidate must be a 32-character nix32 hash part");
      }
      const key = prefixKey(new TextEncoder().encode(c), 0);
      this.#prefixBits[key >>> 5]! |= 1 << (key & 31);
    }
  }

  /**
   * Scan the next chunk of the stream. The chunk is not kept.
   *
   * @param chunk The bytes.
   */
  write(chunk: Uint8Array): void {
    if (chunk.length === 0 || this.#found.size === this.#candidates.size) return;
    if (this.#tailLength > 0) {
      // Windows that start in the tail end within the chunk's first 31 bytes.
      const head = Math.min(chunk.length, TAIL);
      this.#seam.set(this.#tail.subarray(0, this.#tailLength));
      this.#seam.set(chunk.subarray(0, head), this.#tailLength);
      this.#scan(this.#seam, this.#tailLength + head);
    }
    this.#scan(chunk, chunk.length);
    if (chunk.length >= TAIL) {
      this.#tail.set(chunk.subarray(chunk.length - TAIL));
      this.#tailLength = TAIL;
    } else {
      const keep = Math.min(this.#tailLength, TAIL - chunk.length);
      this.#tail.copyWithin(0, this.#tailLength - keep, this.#tailLength);
      this.#tail.set(chunk, keep);
      this.#tailLength = keep + chunk.length;
    }
  }

  /**
   * The candidates seen so far.
   *
   * @returns A new set of hash parts.
   */
  found(): Set<string> {
    return new Set(this.#found);
  }

  /** Look at every 32-byte window of `buf[0, end)` made only of nix32 characters. */
  #scan(buf: Uint8Array, end: number): void {
    let start = 0;
    while (start + WINDOW <= end) {
      // Check the window from its last byte backwards: a non-nix32 byte at
      // `j` rules out every window that contains it.
      let j = start + WINDOW - 1;
      while (j >= start && DIGITS[buf[j]!] !== NOT_NIX32) j--;
      if (j >= start) {
        start = j + 1;
        continue;
      }
      // A run of nix32 bytes: try each window while the run goes on. The
      // first four digits of each window, rolled along, filter candidates.
      const bits = this.#prefixBits;
      let key = (DIGITS[buf[start]!]! << 10) | (DIGITS[buf[start + 1]!]! << 5) |
        DIGITS[buf[start + 2]!]!;
      let k = start;
      while (true) {
        key = ((key << 5) | DIGITS[buf[k + 3]!]!) & (PREFIX_KEYS - 1);
        if ((bits[key >>> 5]! & (1 << (key & 31))) !== 0) this.#check(buf, k);
        const next = k + WINDOW; // the byte the next window adds
        if (next >= end || DIGITS[buf[next]!] === NOT_NIX32) {
          start = next + 1;
          break;
        }
        k++;
      }
    }
  }

  /** Record the window at `k` (all nix32, prefix known to match) if it is a candidate. */
  #check(buf: Uint8Array, k: number): void {
    const text = String.fromCharCode(...buf.subarray(k, k + WINDOW));
    if (this.#candidates.has(text)) this.#found.add(text);
  }
}

/** The first four nix32 digits at `buf[k]`, packed into 20 bits. */
function prefixKey(buf: Uint8Array, k: number): number {
  return (DIGITS[buf[k]!]! << 15) | (DIGITS[buf[k + 1]!]! << 10) | (DIGITS[buf[k + 2]!]! << 5) |
    DIGITS[buf[k + 3]!]!;
}
