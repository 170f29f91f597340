import assert from "node:assert/strict";
import {
  BufferSink,
  encodeString,
  encodeU64,
  paddingFor,
  streamSink,
  WireWriter,
} from "../../lib/wire/wire_writer.ts";
import { concat, randomBytes } from "./_chunks.ts";

const te = new TextEncoder();

Deno.test("encodeU64() writes little-endian and takes numbers and bigints", () => {
  assert.deepEqual(encodeU64(0), new Uint8Array(8));
  assert.deepEqual(encodeU64(1n), new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0]));
  assert.deepEqual(encodeU64(2 ** 53 - 1), new Uint8Array([255, 255, 255, 255, 255, 255, 31, 0]));
  assert.deepEqual(encodeU64(2n ** 64n - 1n), new Uint8Array(8).fill(255));
});

Deno.test("encodeU64() and writeU64() refuse values a u64 cannot hold", () => {
  const w = new WireWriter(new BufferSink());
  for (const bad of [-1, -1n, 2n ** 64n, 2 ** 64, 1.5, NaN, Infinity]) {
    assert.throws(() => encodeU64(bad), RangeError, String(bad));
    assert.throws(() => w.writeU64(bad), RangeError, String(bad));
  }
  assert.equal(w.offset, 0);
});

Deno.test("paddingFor() pads to a multiple of 8 with zeros", () => {
  for (let n = 0; n < 20; n++) {
    const p = paddingFor(n);
    assert.equal((n + p.length) % 8, 0);
    assert.ok(p.length < 8);
    assert.ok(p.every((b) => b === 0));
  }
});

Deno.test("encodeString() writes length, bytes and zero padding", () => {
  assert.deepEqual(encodeString(""), new Uint8Array(8));
  assert.deepEqual(
    encodeString("hi"),
    new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 104, 105, 0, 0, 0, 0, 0, 0]),
  );
  assert.deepEqual(encodeString("abcdefgh").length, 16);
  assert.deepEqual(encodeString("日").subarray(0, 8), encodeU64(3));
  assert.deepEqual(
    encodeString(new Uint8Array([0, 1])).subarray(8),
    new Uint8Array([0, 1, 0, 0, 0, 0, 0, 0]),
  );
});

Deno.test("WireWriter writes the same bytes as the encode functions", async () => {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(5).writeBool(false).writeBool(true).writeString("abc").writeStrings(["x", "yz"]);
  w.writeBytes(new Uint8Array([9])).writeRaw(new Uint8Array([1, 2, 3]));
  assert.equal(w.offset, 8 + 8 + 8 + 16 + 8 + 16 + 16 + 16 + 3);
  assert.equal(sink.bytes().length, 0, "nothing is written before flush()");
  await w.flush();
  const want = concat(
    encodeU64(5),
    encodeU64(0),
    encodeU64(1),
    encodeString("abc"),
    encodeU64(2),
    encodeString("x"),
    encodeString("yz"),
    encodeString(new Uint8Array([9])),
    new Uint8Array([1, 2, 3]),
  );
  assert.deepEqual(sink.bytes(), want);
});

Deno.test("WireWriter keeps order when large raw writes bypass the buffer", async () => {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  const big = randomBytes(100_000);
  const many: Uint8Array[] = [];
  w.writeU64(1);
  w.writeRaw(big);
  w.writeU64(2);
  for (let i = 0; i < 10_000; i++) {
    const s = `item ${i}`;
    many.push(encodeString(s));
    w.writeString(s); // fills the 64 KiB buffer several times
  }
  w.writeRaw(big);
  await w.flush();
  assert.deepEqual(sink.bytes(), concat(encodeU64(1), big, encodeU64(2), ...many, big));
  assert.equal(w.offset, sink.bytes().length);
});

Deno.test("writeFramed() skips empty chunks and closes with an empty frame", async () => {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  async function* chunks() {
    yield te.encode("abc");
    yield new Uint8Array(0);
    yield te.encode("d");
  }
  await w.writeFramed(chunks());
  await w.flush();
  assert.deepEqual(
    sink.bytes(),
    concat(encodeU64(3), te.encode("abc"), encodeU64(1), te.encode("d"), encodeU64(0)),
  );
  const empty = new BufferSink();
  const w2 = new WireWriter(empty);
  await w2.writeFramed([]);
  await w2.flush();
  assert.deepEqual(empty.bytes(), encodeU64(0));
});

Deno.test("streamSink() writes to a WritableStream and closes it", async () => {
  const got: Uint8Array[] = [];
  let closed = false;
  const sink = streamSink(
    new WritableStream<Uint8Array>({
      write: (c) => {
        got.push(c.slice());
      },
      close: () => {
        closed = true;
      },
    }),
  );
  const w = new WireWriter(sink);
  w.writeString("to a stream");
  await w.flush();
  await sink.close();
  assert.ok(closed);
  assert.deepEqual(concat(...got), encodeString("to a stream"));
});

Deno.test("flush() reports a failing sink", async () => {
  const w = new WireWriter({
    write: () => Promise.reject(new Error("disk full")),
  });
  w.writeU64(1);
  await assert.rejects(w.flush(), /disk full/);
});

Deno.test("WireWriter keeps chunks in order when flushes overlap and the sink is slow", async () => {
  const got: number[] = [];
  const sink = {
    async write(c: Uint8Array) {
      await new Promise((r) => setTimeout(r, 1));
      got.push(c[0]!);
    },
  };
  const w = new WireWriter(sink);
  const flushes: Promise<void>[] = [];
  for (let i = 0; i < 20; i += 2) {
    // a big chunk goes to the sink on its own, then a small one through the buffer
    w.writeRaw(new Uint8Array(1 << 20).fill(i));
    w.writeRaw(new Uint8Array(8).fill(i + 1));
    flushes.push(w.flush());
  }
  await Promise.all(flushes);
  assert.deepEqual(got, [...Array(20).keys()]);
});
