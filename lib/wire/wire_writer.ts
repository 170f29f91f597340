/**
 * Writing Nix's wire format (see `wire_reader.ts` for the grammar) to a web
 * stream or any byte sink, coalescing small values into larger writes.
 *
 * @module
 */

const encoder = new TextEncoder();
const ZEROS = new Uint8Array(8);

/**
 * Anything that accepts chunks of bytes in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ByteSink } from "./wire_writer.ts";
 * const seen: number[] = [];
 * const sink: ByteSink = { write: (c) => void seen.push(c.length) };
 * sink.write(new Uint8Array(3));
 * assert.deepEqual(seen, [3]);
 * ```
 */
export interface ByteSink {
  /** Write one chunk; the sink may keep a reference to it. */
  write(chunk: Uint8Array): Promise<void> | void;
}

/**
 * Encode a u64 little-endian.
 *
 * @param n A non-negative integer below 2^64.
 * @returns Its 8 bytes.
 * @throws {RangeError} When `n` is negative, fractional or 2^64 or more.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeU64 } from "./wire_writer.ts";
 * assert.deepEqual(encodeU64(258), new Uint8Array([2, 1, 0, 0, 0, 0, 0, 0]));
 * ```
 */
export function encodeU64(n: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, toU64(n), true);
  return b;
}

const MAX_U64 = (1n << 64n) - 1n;

/** `n` as a bigint, refusing what a u64 cannot hold (DataView would wrap it silently). */
function toU64(n: number | bigint): bigint {
  const v = BigInt(n); // a RangeError for fractions, NaN and infinities
  if (v < 0n || v > MAX_U64) {
    throw new RangeError(`Cannot write u64: ${n} is outside 0 to 2^64-1`);
  }
  return v;
}

/**
 * The zero padding that follows a byte string of length `len`.
 *
 * @param len The string's length.
 * @returns 0 to 7 zero bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { paddingFor } from "./wire_writer.ts";
 * assert.equal(paddingFor(3).length, 5);
 * ```
 */
export function paddingFor(len: number): Uint8Array {
  return ZEROS.subarray(0, (8 - (len % 8)) % 8);
}

/**
 * Encode a byte string (length, bytes, padding) into one array.
 *
 * @param value A string (encoded as UTF-8) or bytes.
 * @returns The wire form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeString } from "./wire_writer.ts";
 * assert.equal(encodeString("nix-archive-1").length, 8 + 16);
 * ```
 */
export function encodeString(value: string | Uint8Array): Uint8Array {
  const bytes = typeof value === "string" ? encoder.encode(value) : value;
  const padded = bytes.length + paddingFor(bytes.length).length;
  const out = new Uint8Array(8 + padded);
  new DataView(out.buffer).setBigUint64(0, BigInt(bytes.length), true);
  out.set(bytes, 8);
  return out;
}

/**
 * Collects every chunk written into one array: for tests and small messages.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink } from "./wire_writer.ts";
 * const sink = new BufferSink();
 * sink.write(new Uint8Array([1]));
 * sink.write(new Uint8Array([2]));
 * assert.deepEqual(sink.bytes(), new Uint8Array([1, 2]));
 * ```
 */
export class BufferSink implements ByteSink {
  #chunks: Uint8Array[] = [];
  /** Keep a copy of the chunk. */
  write(chunk: Uint8Array): void {
    this.#chunks.push(chunk.slice());
  }
  /** Everything written so far, concatenated. */
  bytes(): Uint8Array {
    let n = 0;
    for (const c of this.#chunks) n += c.length;
    const out = new Uint8Array(n);
    let o = 0;
    for (const c of this.#chunks) {
      out.set(c, o);
      o += c.length;
    }
    return out;
  }
}

/**
 * Adapts a WritableStream into a {@linkcode ByteSink} (holding its writer lock).
 *
 * @param stream Where the bytes go.
 * @returns A sink that also closes or releases the stream.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { streamSink } from "./wire_writer.ts";
 * const got: Uint8Array[] = [];
 * const sink = streamSink(new WritableStream({ write: (c) => void got.push(c) }));
 * await sink.write(new Uint8Array([7]));
 * await sink.close();
 * assert.deepEqual(got, [new Uint8Array([7])]);
 * ```
 */
export function streamSink(stream: WritableStream<Uint8Array>): ByteSink & {
  close(): Promise<void>;
  releaseLock(): void;
} {
  const w = stream.getWriter();
  return {
    write: (chunk) => w.write(chunk),
    close: () => w.close(),
    releaseLock: () => w.releaseLock(),
  };
}

const BUFFER_SIZE = 64 * 1024;

/**
 * A writer of wire values. Small values are gathered in a buffer and written
 * to the sink in one chunk on {@linkcode WireWriter.flush} or when the buffer is
 * full; large byte arrays go straight through.
 *
 * @example Encoding a string list
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "./wire_writer.ts";
 * const sink = new BufferSink();
 * const w = new WireWriter(sink);
 * w.writeStrings(["a"]);
 * await w.flush();
 * assert.equal(sink.bytes().length, 24);
 * ```
 */
export class WireWriter {
  #sink: ByteSink;
  #buf = new Uint8Array(BUFFER_SIZE);
  #view = new DataView(this.#buf.buffer);
  #len = 0;
  #pending: Promise<void> = Promise.resolve();
  #offset = 0;

  /** @param sink Where the bytes go. */
  constructor(sink: ByteSink) {
    this.#sink = sink;
  }

  /** Bytes written so far (buffered included). */
  get offset(): number {
    return this.#offset;
  }

  #room(n: number): void {
    if (this.#len + n > this.#buf.length) this.#spill();
  }

  #spill(): void {
    if (this.#len === 0) return;
    const chunk = this.#buf.slice(0, this.#len);
    this.#len = 0;
    const sink = this.#sink;
    this.#pending = this.#pending.then(() => sink.write(chunk));
  }

  /** Append a u64. */
  writeU64(n: number | bigint): this {
    const v = toU64(n);
    this.#room(8);
    this.#view.setBigUint64(this.#len, v, true);
    this.#len += 8;
    this.#offset += 8;
    return this;
  }

  /** Append a bool (u64 0 or 1). */
  writeBool(b: boolean): this {
    return this.writeU64(b ? 1 : 0);
  }

  /** Append raw bytes, with no length and no padding. */
  writeRaw(bytes: Uint8Array): this {
    if (bytes.length > BUFFER_SIZE / 2) {
      this.#spill();
      const sink = this.#sink;
      this.#pending = this.#pending.then(() => sink.write(bytes));
    } else {
      this.#room(bytes.length);
      this.#buf.set(bytes, this.#len);
      this.#len += bytes.length;
    }
    this.#offset += bytes.length;
    return this;
  }

  /** Append a padded byte string. */
  writeBytes(bytes: Uint8Array): this {
    this.writeU64(bytes.length);
    this.writeRaw(bytes);
    return this.writeRaw(paddingFor(bytes.length));
  }

  /** Append a padded UTF-8 string. */
  writeString(s: string): this {
    return this.writeBytes(encoder.encode(s));
  }

  /** Append a list (or set) of strings. */
  writeStrings(list: Iterable<string>): this {
    const items = [...list];
    this.writeU64(items.length);
    for (const s of items) this.writeString(s);
    return this;
  }

  /** Append framed data from chunks, closed by an empty frame. */
  async writeFramed(chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>): Promise<void> {
    for await (const c of chunks) {
      if (c.length === 0) continue;
      this.writeU64(c.length);
      this.writeRaw(c);
      await this.flush();
    }
    this.writeU64(0);
  }

  /**
   * Write out everything buffered and wait until the sink took it. Flushes
   * may overlap (a logger flushing each message without waiting): the sink
   * still gets every chunk in order, since the chain of writes is never cut.
   * After a failed write the writer stays failed.
   */
  async flush(): Promise<void> {
    this.#spill();
    await this.#pending;
  }
}
