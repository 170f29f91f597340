/**
 * The write batcher hands on every byte in order, whatever the sizes of the
 * writes, never more than its buffer at once for small ones, and large ones
 * as they are; the hash sinks built on it hash the same however fed.
 */
import assert from "node:assert/strict";
import fc from "fast-check";
import { BATCH_PASS, BATCH_SIZE, WriteBatcher } from "../../lib/hash/write_batcher.ts";
import { createHash } from "node:crypto";
import { HashSink } from "../../lib/hash/hash.ts";

Deno.test("WriteBatcher hands on every byte in order, small writes gathered", () => {
  fc.assert(
    fc.property(
      fc.array(fc.oneof(fc.nat(100), fc.nat(BATCH_PASS * 2), fc.constant(BATCH_SIZE + 3)), {
        maxLength: 60,
      }),
      (sizes) => {
        let next = 0;
        const writes = sizes.map((n) => Uint8Array.from({ length: n }, () => next++ & 0xff));
        const got: number[] = [];
        const calls: number[] = [];
        const b = new WriteBatcher((bytes) => {
          calls.push(bytes.length);
          for (const x of bytes) got.push(x);
        });
        for (const w of writes) b.write(w);
        b.flush();
        b.flush(); // again: nothing
        assert.equal(got.length, next);
        got.forEach((x, i) => assert.equal(x, i & 0xff));
        for (const n of calls) assert.ok(n > 0 && (n <= BATCH_SIZE || sizes.includes(n)));
        const small = sizes.filter((n) => n < BATCH_PASS);
        if (small.length === sizes.length && next <= BATCH_SIZE && next > 0) {
          assert.deepEqual(calls, [next], "small writes that fit go on in one call");
        }
      },
    ),
    { numRuns: 200 },
  );
});

Deno.test("HashSink hashes as node:crypto does however its bytes are cut", () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ minLength: 0, maxLength: 200_000 }),
      fc.array(fc.nat(200_000), { maxLength: 40 }),
      fc.constantFrom("sha256", "sha1", "sha512", "md5") as fc.Arbitrary<
        "sha256" | "sha1" | "sha512" | "md5"
      >,
      (data, cuts, algo) => {
        const sink = new HashSink(algo);
        let at = 0;
        for (const c of cuts.map((c) => c % (data.length + 1)).sort((a, b) => a - b)) {
          sink.write(data.subarray(at, c));
          at = c;
        }
        sink.write(data.subarray(at));
        assert.equal(sink.size, data.length);
        assert.deepEqual(
          sink.digest().bytes,
          new Uint8Array(createHash(algo).update(data).digest()),
        );
      },
    ),
    { numRuns: 60 },
  );
});
