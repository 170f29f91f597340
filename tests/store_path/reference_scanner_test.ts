import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import fc from "fast-check";
import { encodeNix32, NIX32_ALPHABET } from "../../lib/hash/nix_base32.ts";
import { ReferenceScanner } from "../../lib/store_path/reference_scanner.ts";
import { StorePathError } from "../../lib/store_path/store_path.ts";

import { scan } from "./_chunked_scan.ts";
const te = new TextEncoder();

function randomHashPart(): string {
  return encodeNix32(new Uint8Array(randomBytes(20)));
}

/** The obvious implementation: search the whole text for each candidate. */
function naive(data: Uint8Array, candidates: string[]): Set<string> {
  let text = "";
  for (let i = 0; i < data.length; i += 8192) {
    text += String.fromCharCode(...data.subarray(i, i + 8192));
  }
  return new Set(candidates.filter((c) => text.includes(c)));
}

Deno.test("ReferenceScanner finds a hash part split at every boundary", () => {
  const dep = randomHashPart();
  const other = randomHashPart();
  const data = te.encode(`prefix /nix/store/${dep}-dep/bin/x suffix`);
  for (let cut = 0; cut <= data.length; cut++) {
    const s = new ReferenceScanner([dep, other]);
    s.write(data.subarray(0, cut));
    s.write(data.subarray(cut));
    assert.deepEqual(s.found(), new Set([dep]), `cut at ${cut}`);
  }
  for (let a = 0; a <= data.length; a++) {
    for (let b = a; b <= data.length; b++) {
      const s = new ReferenceScanner([dep, other]);
      s.write(data.subarray(0, a));
      s.write(data.subarray(a, b));
      s.write(data.subarray(b));
      assert.deepEqual(s.found(), new Set([dep]), `cuts at ${a} and ${b}`);
    }
  }
  assert.deepEqual(scan(data, [dep, other], [1]), new Set([dep]));
  assert.deepEqual(scan(data, [dep, other], [2, 1, 5]), new Set([dep]));
});

Deno.test("ReferenceScanner finds hash parts at the very start and end, and whole", () => {
  const h = randomHashPart();
  assert.deepEqual(scan(te.encode(h), [h]), new Set([h]));
  assert.deepEqual(scan(te.encode(h), [h], [1]), new Set([h]));
  assert.deepEqual(scan(te.encode(`${h}!`), [h], [31]), new Set([h]));
  assert.deepEqual(scan(te.encode(`!${h}`), [h], [32]), new Set([h]));
  assert.deepEqual(scan(te.encode(h.slice(0, 31)), [h]), new Set());
  assert.deepEqual(scan(te.encode(`${h.slice(0, 31)}-${h.slice(31)}`), [h], [1]), new Set());
});

Deno.test("ReferenceScanner finds overlapping hash parts inside a long nix32 run", () => {
  const run = Array.from({ length: 100 }, (_, i) => NIX32_ALPHABET[(i * 7) % 32]).join("");
  const a = run.slice(0, 32);
  const b = run.slice(1, 33);
  const c = run.slice(20, 52);
  const d = run.slice(68, 100);
  const absent = randomHashPart();
  const data = te.encode(`x${run}y`);
  for (const sizes of [[data.length], [1], [33], [31, 2], [17]]) {
    assert.deepEqual(scan(data, [a, b, c, d, absent], sizes), new Set([a, b, c, d]), String(sizes));
  }
});

Deno.test("ReferenceScanner finds nothing when nothing is there", () => {
  const cands = [randomHashPart(), randomHashPart()];
  assert.deepEqual(scan(new Uint8Array(0), cands), new Set());
  assert.deepEqual(scan(new Uint8Array(randomBytes(100_000)), cands, [4096]), new Set());
  // the alphabet without one character of each candidate
  assert.deepEqual(
    scan(te.encode(NIX32_ALPHABET.repeat(50)), cands),
    naive(te.encode(NIX32_ALPHABET.repeat(50)), cands),
  );
  assert.deepEqual(scan(te.encode(`/nix/store/${cands[0]}`), []), new Set());
  const s = new ReferenceScanner([]);
  s.write(new Uint8Array(0));
  assert.equal(s.found().size, 0);
});

Deno.test("ReferenceScanner does not match a hash part with a character outside nix32", () => {
  const h = randomHashPart();
  for (let i = 0; i < 32; i++) {
    for (const bad of ["e", "E", "-", "\0"]) {
      const text = te.encode(h.slice(0, i) + bad + h.slice(i + 1));
      assert.deepEqual(scan(text, [h]), new Set(), `${bad} at ${i}`);
    }
  }
});

Deno.test("ReferenceScanner.found() returns a copy", () => {
  const h = randomHashPart();
  const s = new ReferenceScanner([h]);
  s.write(te.encode(h));
  const f = s.found();
  f.clear();
  assert.deepEqual(s.found(), new Set([h]));
});

Deno.test("new ReferenceScanner() rejects candidates that are not hash parts", () => {
  const h = randomHashPart();
  for (
    const bad of [
      "",
      h.slice(1),
      `${h}0`,
      `e${h.slice(1)}`,
      `/nix/store/${h}-x`,
      `${h.slice(0, 31)}É`,
    ]
  ) {
    assert.throws(() => new ReferenceScanner([h, bad]), (e: unknown) => {
      assert.ok(e instanceof StorePathError);
      assert.match(e.message, /32-character nix32 hash part/);
      return true;
    });
  }
});

Deno.test("ReferenceScanner finds planted hash parts in big random data", () => {
  const data = new Uint8Array(randomBytes(2 << 20));
  // Make the data friendlier to false leads: a third of it nix32 text.
  const alpha = te.encode(NIX32_ALPHABET);
  for (let i = 0; i < data.length; i += 3) data[i] = alpha[data[i]! & 31]!;
  const candidates = Array.from({ length: 1000 }, randomHashPart);
  const planted = candidates.slice(0, 20);
  for (const h of planted) {
    const at = Math.floor(Math.random() * (data.length - 32));
    data.set(te.encode(h), at);
  }
  const want = naive(data, candidates);
  assert.ok(want.size >= 19, "at most one plant overwritten by another");
  assert.deepEqual(scan(data, candidates, [65536]), want);
  assert.deepEqual(scan(data, candidates, [4093, 1, 31, 32, 33]), want);
});

Deno.test("ReferenceScanner agrees with a naive search under random chunkings", () => {
  const hashArb = fc.array(fc.constantFrom(...NIX32_ALPHABET), { minLength: 32, maxLength: 32 })
    .map((a) => a.join(""));
  // Bytes mostly from the nix32 alphabet, so that long runs and near misses are common.
  const byteArb = fc.oneof(
    { weight: 4, arbitrary: fc.constantFrom(...te.encode(NIX32_ALPHABET)) },
    { weight: 1, arbitrary: fc.integer({ min: 0, max: 255 }) },
  );
  fc.assert(
    fc.property(
      fc.array(hashArb, { minLength: 1, maxLength: 6 }),
      fc.array(byteArb, { maxLength: 300 }),
      fc.array(fc.tuple(fc.nat({ max: 5 }), fc.nat({ max: 300 })), { maxLength: 4 }),
      fc.array(fc.integer({ min: 1, max: 70 }), { minLength: 1, maxLength: 6 }),
      (candidates, bytes, plants, sizes) => {
        const data = new Uint8Array(bytes.length + 64);
        data.set(bytes);
        for (const [which, at] of plants) {
          const h = candidates[which % candidates.length]!;
          data.set(te.encode(h), Math.min(at, data.length - 32));
        }
        // a prefix of a candidate, to tempt the prefix filter
        data.set(te.encode(candidates[0]!.slice(0, 20)), data.length - 20);
        assert.deepEqual(scan(data, candidates, sizes), naive(data, candidates));
      },
    ),
    { numRuns: 300 },
  );
});
