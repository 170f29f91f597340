import assert from "node:assert/strict";
import fc from "fast-check";
import { UnexpectedEofError, WireError } from "../../lib/wire/wire_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, encodeString, encodeU64, WireWriter } from "../../lib/wire/wire_writer.ts";
import { collect, concat, randomBytes, split, streamOf } from "./_chunks.ts";

const te = new TextEncoder();

function reader(bytes: Uint8Array, sizes?: number[]): WireReader {
  return new WireReader(streamOf(bytes, sizes));
}

/** Assert that `p` rejects with a WireError (of `cls`) at `offset` whose message matches. */
async function rejectsAt(
  p: Promise<unknown>,
  offset: number,
  message: RegExp,
  cls: abstract new (...args: never[]) => WireError = WireError,
): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(e instanceof cls, `expected ${cls.name}, got ${String(e)}`);
    assert.equal(e.offset, offset);
    assert.match(e.message, message);
    return true;
  });
}

Deno.test("readU64() reads 0, 1, 2^53-1 and 2^64-1", async () => {
  const values = [0n, 1n, 2n ** 53n - 1n, 2n ** 64n - 1n];
  const r = reader(concat(...values.map((v) => encodeU64(v))));
  for (const v of values) assert.equal(await r.readU64(), v);
  assert.equal(r.offset, 32);
  assert.ok(await r.atEnd());
});

Deno.test("readU64() is little-endian", async () => {
  const r = reader(new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8]));
  assert.equal(await r.readU64(), 0x0807060504030201n);
});

Deno.test("readNumber() returns numbers up to its limit and names the field above it", async () => {
  const r = reader(concat(encodeU64(2 ** 53 - 1), encodeU64(2 ** 53), encodeU64(11)));
  assert.equal(await r.readNumber("narSize"), 2 ** 53 - 1);
  await rejectsAt(r.readNumber("narSize"), 8, /"narSize" is 9007199254740992, above the limit/);
  await rejectsAt(r.readNumber("count", 10), 16, /byte 16: "count" is 11, above the limit 10/);
});

Deno.test("readBool() reads 0 and 1 and rejects 2 naming the offset", async () => {
  const r = reader(concat(encodeU64(0), encodeU64(1), encodeU64(2)));
  assert.equal(await r.readBool(), false);
  assert.equal(await r.readBool(), true);
  await rejectsAt(r.readBool("keepFailed"), 16, /byte 16: "keepFailed" is 2, not a bool/);
});

Deno.test("readBool() rejects 2^64-1", async () => {
  await rejectsAt(reader(encodeU64(2n ** 64n - 1n)).readBool(), 0, /not a bool/);
});

Deno.test("readString() reads strings of lengths 0 to 17 with their padding", async () => {
  const strings = Array.from({ length: 18 }, (_, n) => "abcdefghijklmnopq".slice(0, n));
  const bytes = concat(...strings.map((s) => encodeString(s)));
  for (const sizes of [[bytes.length], [1], [3, 5, 7]]) {
    const r = reader(bytes, sizes);
    let offset = 0;
    for (const s of strings) {
      assert.equal(await r.readString(17), s);
      offset += 8 + Math.ceil(s.length / 8) * 8;
      assert.equal(r.offset, offset);
    }
    assert.ok(await r.atEnd());
  }
});

Deno.test("readString() reads UTF-8, embedded NULs and CJK text", async () => {
  const samples = ["", "hi", "a\0b", "日本語", "🙂"];
  const r = reader(concat(...samples.map((s) => encodeString(s))), [1]);
  for (const s of samples) assert.equal(await r.readString(64), s);
});

Deno.test("readString() rejects non-zero padding naming the byte", async () => {
  for (let bad = 0; bad < 5; bad++) {
    const bytes = encodeString("abc");
    bytes[8 + 3 + bad] = 1;
    await rejectsAt(reader(bytes).readString(10), 8 + 3 + bad, /padding byte is not zero/);
  }
});

Deno.test("readPadding() checks only what a length needs", async () => {
  const r = reader(new Uint8Array([0, 0, 0, 0, 0, 9]));
  await r.readPadding(16); // none
  await r.readPadding(3); // 5 zero bytes
  assert.equal(r.offset, 5);
  await rejectsAt(r.readPadding(7), 5, /padding byte is not zero/);
});

/** A source that yields `bytes` and throws if asked for anything more. */
async function* onlyThen(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
  throw new Error("the reader went past the length prefix");
}

Deno.test("readBytes() rejects absurd lengths before reading or allocating", async () => {
  for (const len of [2n ** 63n, 2n ** 64n - 1n, 2n ** 53n]) {
    const r = new WireReader(onlyThen(encodeU64(len)));
    await rejectsAt(
      r.readBytes(Number.MAX_SAFE_INTEGER, "path"),
      0,
      new RegExp(`"path length" is ${len}, above the limit ${Number.MAX_SAFE_INTEGER}`),
    );
  }
  const r = reader(concat(encodeU64(2n ** 63n), new Uint8Array(8)));
  await rejectsAt(
    r.readString(4096, "deriver"),
    0,
    /"deriver length" is \d+, above the limit 4096/,
  );
});

Deno.test("readBytes() with a huge limit on a short stream fails with EOF, not a RangeError", async () => {
  const len = Number.MAX_SAFE_INTEGER;
  const r = reader(concat(encodeU64(len), new Uint8Array(100)), [7]);
  await rejectsAt(r.readBytes(len), 108, /ended/, UnexpectedEofError);
});

Deno.test("readExact() assembles a large value across many chunks", async () => {
  const data = randomBytes(200_000);
  const r = reader(concat(new Uint8Array([1]), data, new Uint8Array([2])), [4093]);
  assert.deepEqual(await r.readExact(1), new Uint8Array([1]));
  assert.deepEqual(await r.readExact(data.length), data);
  assert.deepEqual(await r.readExact(1), new Uint8Array([2]));
  assert.ok(await r.atEnd());
});

Deno.test("readString() reports invalid UTF-8 as a WireError at the string's offset", async () => {
  const r = reader(concat(encodeU64(5), encodeString(new Uint8Array([0x61, 0xff]))));
  await r.readU64();
  await rejectsAt(r.readString(10, "name"), 8, /"name" is not valid UTF-8/);
  // a lone surrogate half, encoded, and a truncated multi-byte sequence
  for (const bad of [[0xed, 0xa0, 0x80], [0xe6, 0x97]]) {
    await rejectsAt(reader(encodeString(new Uint8Array(bad))).readString(10), 0, /UTF-8/);
  }
});

Deno.test("readStrings() reads a list and enforces the count and length limits", async () => {
  const list = concat(encodeU64(3), encodeString("a"), encodeString(""), encodeString("ccc"));
  assert.deepEqual(await reader(list).readStrings(3, 3), ["a", "", "ccc"]);
  await rejectsAt(
    reader(list).readStrings(2, 3, "references"),
    0,
    /"references count" is 3, above the limit 2/,
  );
  await rejectsAt(
    reader(list).readStrings(3, 2, "refs"),
    32,
    /"refs\[2\] length" is 3, above the limit 2/,
  );
  const huge = concat(encodeU64(2n ** 64n - 1n));
  await rejectsAt(
    reader(huge).readStrings(1_000_000, 10),
    0,
    /"list count" is 18446744073709551615/,
  );
});

Deno.test("atEnd() is true only between messages at the end and does not consume", async () => {
  assert.ok(await reader(new Uint8Array(0)).atEnd());
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(1).writeString("first");
  w.writeU64(2).writeString("second");
  await w.flush();
  const r = reader(sink.bytes(), [1]);
  assert.equal(await r.atEnd(), false);
  assert.equal(r.offset, 0);
  assert.equal(await r.readU64(), 1n);
  assert.equal(await r.readString(10), "first");
  assert.equal(await r.atEnd(), false);
  assert.equal(await r.atEnd(), false);
  assert.equal(await r.readU64(), 2n);
  assert.equal(await r.readString(10), "second");
  assert.ok(await r.atEnd());
  assert.ok(await r.atEnd());
  await rejectsAt(r.readU64(), 48, /ended 8 byte\(s\) short/, UnexpectedEofError);
});

Deno.test("atEnd() skips empty chunks", async () => {
  const r = new WireReader(
    ReadableStream.from([new Uint8Array(0), encodeU64(3), new Uint8Array(0)]),
  );
  assert.equal(await r.atEnd(), false);
  assert.equal(await r.readU64(), 3n);
  assert.ok(await r.atEnd());
});

Deno.test("readChunks() yields exactly n bytes across chunk boundaries", async () => {
  const data = randomBytes(100);
  const chunkings = [[1], [2, 3], [7], [64], [100], [13, 1, 1, 40]];
  for (const sizes of chunkings) {
    const r = reader(data, sizes);
    assert.deepEqual(await r.readExact(8), data.subarray(0, 8));
    const got = await collect(r.readChunks(50));
    assert.deepEqual(got, data.subarray(8, 58));
    assert.equal(r.offset, 58);
    assert.deepEqual(await r.readExact(42), data.subarray(58));
    assert.ok(await r.atEnd());
  }
});

Deno.test("readChunks() of 0 bytes yields nothing and of too many ends with EOF", async () => {
  const r = reader(new Uint8Array(5), [2]);
  assert.equal((await collect(r.readChunks(0))).length, 0);
  await assert.rejects(collect(r.readChunks(6)), (e: unknown) => {
    assert.ok(e instanceof UnexpectedEofError);
    assert.equal(e.offset, 5);
    assert.equal(e.wanted, 1);
    return true;
  });
});

Deno.test("readChunks() works under random chunkings", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.uint8Array({ minLength: 0, maxLength: 300 }),
      fc.nat({ max: 300 }),
      fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
      async (data, at, sizes) => {
        const k = Math.min(at, data.length);
        const r = reader(data, sizes);
        assert.deepEqual(await collect(r.readChunks(k)), data.subarray(0, k));
        assert.deepEqual(await collect(r.readChunks(data.length - k)), data.subarray(k));
        assert.ok(await r.atEnd());
      },
    ),
    { numRuns: 100 },
  );
});

Deno.test("readFramed() reads frames until the empty one and checks the frame limit", async () => {
  const bytes = concat(
    encodeU64(3),
    te.encode("abc"),
    encodeU64(1),
    te.encode("d"),
    encodeU64(0),
    encodeU64(99),
  );
  for (const sizes of [[bytes.length], [1], [5]]) {
    const r = reader(bytes, sizes);
    assert.deepEqual(await collect(r.readFramed(3)), te.encode("abcd"));
    assert.equal(await r.readU64(), 99n);
  }
  await rejectsAt(
    collect(reader(bytes).readFramed(2)),
    0,
    /"frame length" is 3, above the limit 2/,
  );
});

Deno.test("readFramed() round-trips writeFramed()", async () => {
  const parts = [te.encode("hello"), new Uint8Array(0), randomBytes(70_000)];
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  await w.writeFramed(parts);
  w.writeString("after");
  await w.flush();
  const r = reader(sink.bytes(), [1000]);
  assert.deepEqual(await collect(r.readFramed(100_000)), concat(...parts));
  assert.equal(await r.readString(10), "after");
  assert.ok(await r.atEnd());
});

/** A message of many fields and the reads that take it apart. */
async function writeSample(): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(7).writeBool(true).writeString("hello").writeStrings(["a", "bcdefghij"]);
  w.writeBytes(new Uint8Array([1, 2, 3]));
  await w.writeFramed([te.encode("abc"), te.encode("de")]);
  w.writeU64(2n ** 64n - 1n);
  await w.flush();
  return sink.bytes();
}

async function readSample(r: WireReader): Promise<void> {
  assert.equal(await r.readNumber("n", 10), 7);
  assert.equal(await r.readBool(), true);
  assert.equal(await r.readString(10), "hello");
  assert.deepEqual(await r.readStrings(2, 10), ["a", "bcdefghij"]);
  assert.deepEqual(await r.readBytes(3), new Uint8Array([1, 2, 3]));
  assert.deepEqual(await collect(r.readFramed(3)), te.encode("abcde"));
  assert.equal(await r.readU64(), 2n ** 64n - 1n);
}

Deno.test("a truncated message fails with UnexpectedEofError at the truncation offset", async () => {
  const full = await writeSample();
  await readSample(reader(full));
  for (let cut = 0; cut < full.length; cut++) {
    for (const sizes of [[cut], [1]]) {
      const r = reader(full.subarray(0, cut), sizes);
      await assert.rejects(readSample(r), (e: unknown) => {
        assert.ok(e instanceof UnexpectedEofError, `cut ${cut}: ${String(e)}`);
        assert.equal(e.offset, cut, `cut ${cut}`);
        assert.ok(e.wanted > 0);
        assert.match(e.message, new RegExp(`at byte ${cut}: the stream ended`));
        return true;
      });
    }
  }
});

Deno.test("cancel() releases the source stream", async () => {
  let cancelled: unknown;
  const stream = new ReadableStream<Uint8Array>({
    pull: (c) => c.enqueue(new Uint8Array(8)),
    cancel: (reason) => {
      cancelled = reason;
    },
  });
  const r = new WireReader(stream);
  assert.equal(await r.readU64(), 0n);
  await r.cancel("done");
  assert.equal(cancelled, "done");
  assert.ok(await r.atEnd());
});

Deno.test("WireReader reads from an async iterable", async () => {
  async function* gen() {
    yield encodeU64(1).subarray(0, 3);
    yield encodeU64(1).subarray(3);
    yield encodeString("x");
  }
  const r = new WireReader(gen());
  assert.equal(await r.readU64(), 1n);
  assert.equal(await r.readString(1), "x");
  assert.ok(await r.atEnd());
});

// ---- property tests ----

type Value =
  | { k: "u64"; v: bigint }
  | { k: "bool"; v: boolean }
  | { k: "string"; v: string }
  | { k: "bytes"; v: Uint8Array }
  | { k: "strings"; v: string[] }
  | { k: "framed"; v: Uint8Array[] };

const valueArb: fc.Arbitrary<Value> = fc.oneof(
  fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map((v): Value => ({ k: "u64", v })),
  fc.boolean().map((v): Value => ({ k: "bool", v })),
  fc.string({ unit: "binary", maxLength: 40 }).map((v): Value => ({ k: "string", v })),
  fc.uint8Array({ maxLength: 40 }).map((v): Value => ({ k: "bytes", v })),
  fc.array(fc.string({ maxLength: 12 }), { maxLength: 5 }).map((v): Value => ({ k: "strings", v })),
  fc.array(fc.uint8Array({ maxLength: 20 }), { maxLength: 4 }).map((v): Value => ({
    k: "framed",
    v,
  })),
);

async function writeValues(values: Value[]): Promise<Uint8Array> {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  for (const x of values) {
    switch (x.k) {
      case "u64":
        w.writeU64(x.v);
        break;
      case "bool":
        w.writeBool(x.v);
        break;
      case "string":
        w.writeString(x.v);
        break;
      case "bytes":
        w.writeBytes(x.v);
        break;
      case "strings":
        w.writeStrings(x.v);
        break;
      case "framed":
        await w.writeFramed(x.v);
        break;
    }
  }
  await w.flush();
  return sink.bytes();
}

async function readValue(r: WireReader, k: Value["k"]): Promise<Value> {
  switch (k) {
    case "u64":
      return { k, v: await r.readU64() };
    case "bool":
      return { k, v: await r.readBool() };
    case "string":
      return { k, v: await r.readString(1000) };
    case "bytes":
      return { k, v: (await r.readBytes(1000)).slice() };
    case "strings":
      return { k, v: await r.readStrings(10, 100) };
    case "framed": {
      const all = await collect(r.readFramed(1000));
      return { k, v: [all] };
    }
  }
}

Deno.test("write then read round-trips random values under random chunkings", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(valueArb, { maxLength: 12 }),
      fc.array(fc.integer({ min: 1, max: 33 }), { minLength: 1, maxLength: 8 }),
      async (values, sizes) => {
        const bytes = await writeValues(values);
        const r = reader(bytes, sizes);
        for (const x of values) {
          const got = await readValue(r, x.k);
          if (x.k === "framed") {
            assert.deepEqual(got.v, [concat(...x.v)]);
          } else {
            assert.deepEqual(got, x);
          }
        }
        assert.equal(r.offset, bytes.length);
        assert.ok(await r.atEnd());
      },
    ),
    { numRuns: 150 },
  );
});

Deno.test("random bytes into a fixed read schedule throw only WireError", async () => {
  const schedule = async (r: WireReader) => {
    await r.readU64();
    await r.readBool();
    await r.readString(64, "s");
    await r.readBytes(64, "b");
    await r.readStrings(4, 16, "l");
    await r.readNumber("n", 1000);
    await collect(r.readFramed(32));
    await r.readPadding(3);
  };
  // Mostly small numbers, so that reads get past the length prefixes.
  const byte = fc.oneof(
    fc.constant(0),
    fc.integer({ min: 0, max: 8 }),
    fc.integer({ min: 0, max: 255 }),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(byte, { maxLength: 400 }).map((a) => new Uint8Array(a)),
      fc.array(fc.integer({ min: 1, max: 20 }), { minLength: 1, maxLength: 5 }),
      async (bytes, sizes) => {
        try {
          await schedule(reader(bytes, sizes));
        } catch (e) {
          if (!(e instanceof WireError)) throw e;
          assert.ok(e.offset >= 0 && e.offset <= bytes.length);
        }
      },
    ),
    { numRuns: 300 },
  );
});

Deno.test("split() helper covers the input exactly", () => {
  const data = new Uint8Array([1, 2, 3, 4, 5]);
  assert.deepEqual(split(data, [2]), [
    new Uint8Array([1, 2]),
    new Uint8Array([3, 4]),
    new Uint8Array([5]),
  ]);
  assert.deepEqual(split(new Uint8Array(0), [1]), []);
});
