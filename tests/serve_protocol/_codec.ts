/**
 * Helpers for the serve codec tests: encode with a writer, decode from bytes
 * in chosen chunkings, check that a failure is a typed error, and fast-check
 * generators of the protocol's values.
 *
 * @module
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import { NIX32_ALPHABET } from "../../lib/hash/nix_base32.ts";
import { decodeNixString } from "../../lib/derivation/nix_string.ts";
import { compareUtf8 } from "../../lib/wire/utf8_order.ts";
import { BufferSink, encodeString, encodeU64, WireWriter } from "../../lib/wire/wire_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { ServeProtocolError } from "../../lib/serve_protocol/serve_protocol_error.ts";
import { streamOf } from "../wire/_chunks.ts";

export { concat } from "../wire/_chunks.ts";

/** Every minor the codecs know, 0 to 8. */
export const MINORS = [0, 1, 2, 3, 4, 5, 6, 7, 8];

/** The version 2.<minor>. */
export function v(minor: number): number {
  return 0x200 | minor;
}

/** The bytes a writer function produces. */
export async function encode(write: (w: WireWriter) => void): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  write(w);
  await w.flush();
  return sink.bytes();
}

/** A reader over `bytes`, in chunks of the given sizes (default one chunk). */
export function reader(bytes: Uint8Array, sizes?: number[]): WireReader {
  return new WireReader(streamOf(bytes, sizes));
}

/**
 * Decode `bytes` with `read`, requiring that it consumes all of them; also
 * decodes them fed one byte at a time and checks the result is the same.
 */
export async function decode<T>(
  bytes: Uint8Array,
  read: (r: WireReader) => Promise<T>,
): Promise<T> {
  const r = reader(bytes);
  const value = await read(r);
  assert.ok(await r.atEnd(), `decoding left ${bytes.length - r.offset} byte(s) unread`);
  const slow = reader(bytes, [1, 3, 8, 13]);
  assert.deepStrictEqual(await read(slow), value);
  return value;
}

/** u64s and strings as wire bytes: numbers and bigints are u64s, strings are strings. */
export function wire(...items: (number | bigint | string)[]): Uint8Array {
  const parts = items.map((x) => typeof x === "string" ? encodeString(x) : encodeU64(x));
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
 * Assert that `promise` rejects with a ServeProtocolError (never a stray
 * TypeError or RangeError) whose message matches `re` and whose offset is
 * `offset`, when given.
 */
export async function rejectsTyped(
  promise: Promise<unknown>,
  re?: RegExp,
  offset?: number,
): Promise<ServeProtocolError> {
  let error: unknown;
  try {
    await promise;
  } catch (e) {
    error = e;
  }
  assert.ok(error !== undefined, "expected an error, got none");
  assert.ok(error instanceof ServeProtocolError, `not a ServeProtocolError: ${error}`);
  if (re) assert.match(error.message, re);
  if (offset !== undefined) assert.equal(error.offset, offset, error.message);
  return error;
}

/** Assert that `f` throws a ServeProtocolError matching `re`. */
export function throwsTyped(f: () => unknown, re?: RegExp): void {
  assert.throws(f, (e) => {
    assert.ok(e instanceof ServeProtocolError, `not a ServeProtocolError: ${e}`);
    if (re) assert.match(e.message, re);
    return true;
  });
}

/** The recorded store paths' hash part, for hand-built values. */
export const H = "2h1hs7di835bwxjnjd72izy08367yxaj";

/** A store path `/nix/store/<H>-<name>`. */
export function sp(name: string): string {
  return `/nix/store/${H}-${name}`;
}

const NAME_CHARS = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+-._?=";

/** A store path name. */
export const arbName: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(...NAME_CHARS),
  minLength: 1,
  maxLength: 24,
});

/** A store path in /nix/store. */
export const arbPath: fc.Arbitrary<string> = fc.tuple(
  fc.string({ unit: fc.constantFrom(...NIX32_ALPHABET), minLength: 32, maxLength: 32 }),
  arbName,
).map(([h, n]) => `/nix/store/${h}-${n}`);

/** A set of store paths, sorted as the readers return them. */
export const arbPathSet: fc.Arbitrary<string[]> = fc.uniqueArray(arbPath, { maxLength: 5 })
  .map((a) => a.sort(compareUtf8));

/** Any Nix string: arbitrary bytes, decoded as the readers do. */
export const arbText: fc.Arbitrary<string> = fc.uint8Array({ maxLength: 40 }).map(decodeNixString);

/** A sorted set of strings (signatures and the like). */
export const arbTextSet: fc.Arbitrary<string[]> = fc.uniqueArray(
  fc.string({ minLength: 1, maxLength: 20 }),
  { maxLength: 4 },
).map((a) => a.sort(compareUtf8));

/** A sha256 hash. */
export const arbSha256: fc.Arbitrary<Hash> = fc.uint8Array({ minLength: 32, maxLength: 32 })
  .map((b) => new Hash("sha256", b));

/** An output name. */
export const arbOutputName: fc.Arbitrary<string> = fc.string({
  unit: fc.constantFrom(..."abcdefghijklmnopqrstuvwxyz0123456789"),
  minLength: 1,
  maxLength: 8,
});

/** A u64 that fits a safe integer. */
export const arbSafe: fc.Arbitrary<number> = fc.oneof(
  fc.nat(1000),
  fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
);

/** A u32. */
export const arbU32: fc.Arbitrary<number> = fc.oneof(fc.nat(1000), fc.nat(0xffffffff));
