/**
 * Run by small_sha256_test.ts in a process of its own: SHA-256 of small
 * inputs in JavaScript, then the switch to the hasher that takes over, each
 * checked against WebCrypto. Prints "ok" at the end.
 *
 * Usage: `_small_sha256_child.ts nettle|node`, the hasher expected to take
 * over; with `node` and FFI permitted, Nettle is ruled out first.
 */
import assert from "node:assert/strict";
import { Hash, hashBackend, HashSink, SMALL_SHA256, useNodeCrypto } from "../../lib/hash/hash.ts";

const expected = Deno.args[0];
assert.ok(expected === "nettle" || expected === "node", `usage: ${Deno.args[0]}`);
if (expected === "node" && Deno.permissions.querySync({ name: "ffi" }).state === "granted") {
  useNodeCrypto();
}

async function reference(data: Uint8Array<ArrayBuffer>): Promise<Uint8Array> {
  return new Uint8Array(await crypto.subtle.digest("SHA-256", data));
}

function bytes(n: number, seed: number): Uint8Array<ArrayBuffer> {
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = (i * 31 + seed) & 0xff;
  return b;
}

/** Hash `data` with a sink, fed in chunks of `chunk` bytes. */
function sink(data: Uint8Array, chunk: number): Hash {
  const s = new HashSink("sha256");
  for (let at = 0; at < data.length; at += chunk) s.write(data.subarray(at, at + chunk));
  assert.equal(s.size, data.length);
  return s.digest();
}

const sizes = [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 4096, SMALL_SHA256 - 1, SMALL_SHA256];
for (const n of sizes) {
  const data = bytes(n, n);
  const want = await reference(data);
  assert.deepEqual(Hash.of("sha256", data).bytes, want, `Hash.of, ${n} bytes`);
  for (const chunk of [1, 7, 64, 1000, SMALL_SHA256]) {
    assert.deepEqual(sink(data, chunk).bytes, want, `sink, ${n} bytes in ${chunk}s`);
  }
}
assert.deepEqual(
  Hash.of("sha256", "hello").toString("base16"),
  "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
);
assert.equal(hashBackend(), undefined, "small SHA-256 hashes load no other hasher");

// One byte more: the other hasher takes over, with what was written so far.
const big = bytes(SMALL_SHA256 + 1, 7);
assert.deepEqual(sink(big, 5000).bytes, await reference(big));
assert.equal(hashBackend(), expected);
for (const n of [0, 100, SMALL_SHA256 + 1]) {
  const data = bytes(n, 3);
  assert.deepEqual(sink(data, 333).bytes, await reference(data), `after the switch, ${n} bytes`);
}
console.log("ok");
