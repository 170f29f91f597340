import assert from "node:assert/strict";
import fc from "fast-check";
import { Hash } from "../../lib/hash/hash.ts";
import { ParallelHashSink } from "../../lib/hash/parallel_hash_sink.ts";

Deno.test("ParallelHashSink gives the same hash as hashing in one go, for any chunking", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom("md5" as const, "sha1" as const, "sha256" as const, "sha512" as const),
      fc.array(fc.uint8Array({ maxLength: 3000 }), { maxLength: 8 }),
      async (algo, chunks) => {
        const sink = new ParallelHashSink(algo);
        const all: number[] = [];
        for (const c of chunks) {
          await sink.write(c);
          all.push(...c);
        }
        assert.equal(sink.size, all.length);
        assert.ok((await sink.digest()).equals(Hash.of(algo, new Uint8Array(all))));
      },
    ),
    { numRuns: 30 },
  );
});

Deno.test("ParallelHashSink handles inputs larger than its buffers, reusing chunks", async () => {
  const sink = new ParallelHashSink("sha256");
  const chunk = new Uint8Array(3 << 20);
  const whole = new Uint8Array(chunk.length * 7);
  for (let i = 0; i < 7; i++) {
    chunk.fill(i * 31 + 1); // the caller reuses its chunk: the sink must have copied it
    whole.set(chunk, i * chunk.length);
    await sink.write(chunk);
  }
  assert.ok((await sink.digest()).equals(Hash.of("sha256", whole)));
});

Deno.test("ParallelHashSink hashes buffers filled in place and handed over, between copied writes", async () => {
  const sink = new ParallelHashSink("sha256");
  const parts: Uint8Array[] = [];
  for (let i = 0; i < 9; i++) {
    if (i % 3 === 0) {
      const c = new Uint8Array(1000 + i).fill(i);
      await sink.write(c);
      parts.push(c.slice());
    } else {
      const b = await sink.buffer();
      const filled = b.subarray(0, (i * 700_001) % b.length).fill(i * 7);
      parts.push(filled.slice());
      sink.adopt(filled);
      assert.equal(b.byteLength, 0, "the buffer was handed over");
    }
  }
  const whole = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  parts.reduce((at, p) => (whole.set(p, at), at + p.length), 0);
  assert.equal(sink.size, whole.length);
  assert.ok((await sink.digest()).equals(Hash.of("sha256", whole)));
  const other = new ParallelHashSink("sha256");
  assert.throws(() => other.adopt(new Uint8Array(8).subarray(1)), RangeError);
  await other.digest();
});
