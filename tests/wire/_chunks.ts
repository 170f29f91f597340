import { randomBytes as nodeRandomBytes } from "node:crypto";

/**
 * Test helpers for the wire tests: feed bytes to a reader in chosen chunkings.
 *
 * @module
 */

/** Join byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Split `bytes` into chunks whose sizes cycle through `sizes` (each at least
 * 1). Chunks are copies, so a reader cannot lean on one shared buffer.
 */
export function split(bytes: Uint8Array, sizes: number[]): Uint8Array[] {
  const out: Uint8Array[] = [];
  let at = 0;
  let i = 0;
  while (at < bytes.length) {
    const n = Math.max(1, sizes[i++ % sizes.length] ?? 1);
    out.push(bytes.slice(at, at + n));
    at += n;
  }
  return out;
}

/** A web stream of `bytes` in chunks of the given sizes (default: one chunk). */
export function streamOf(
  bytes: Uint8Array,
  sizes: number[] = [bytes.length],
): ReadableStream<Uint8Array> {
  return ReadableStream.from(split(bytes, sizes));
}

/** Read an async iterable of chunks into one array. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of chunks) parts.push(c.slice());
  return concat(...parts);
}

/** `n` random bytes (any size; Web Crypto stops at 64 KiB). */
export function randomBytes(n: number): Uint8Array {
  return new Uint8Array(nodeRandomBytes(n));
}
