/**
 * Run by small_sha256_test.ts in a process of its own: SHA-256 of small
 * inputs without node:crypto, then the switch to it, each checked against
 * WebCrypto. Prints "ok" at the end.
 */
import assert from "node:assert/strict";
import { Hash, HashSink, nodeCryptoLoaded, SMALL_SHA256 } from "../../lib/hash/hash.ts";

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
assert.ok(!nodeCryptoLoaded(), "small SHA-256 hashes never load node:crypto");

// One byte more: node:crypto takes over, with what was written so far.
const big = bytes(SMALL_SHA256 + 1, 7);
assert.deepEqual(sink(big, 5000).bytes, await reference(big));
assert.ok(nodeCryptoLoaded());
for (const n of [0, 100, SMALL_SHA256 + 1]) {
  const data = bytes(n, 3);
  assert.deepEqual(sink(data, 333).bytes, await reference(data), `after the switch, ${n} bytes`);
}
console.log("ok");
