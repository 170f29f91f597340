/**
 * Reading Nix's wire format from a web stream.
 *
 * The format (shared by the serve and worker protocols, NAR and export
 * streams):
 * - an integer is a u64, little-endian, 8 bytes;
 * - a bool is a u64 that must be 0 or 1;
 * - a byte string is its length as u64, the bytes, then zero bytes up to the
 *   next multiple of 8 (padding that is not zero is an error);
 * - a list (or set) of strings is a u64 count followed by the strings;
 * - framed data is a sequence of (u64 length, that many bytes, no padding)
 *   frames closed by a frame of length 0.
 *
 * Every read that allocates takes an explicit maximum, so an absurd length
 * prefix is an error before any allocation.
 *
 * @module
 */
import { UnexpectedEofError, WireError } from "./wire_error.ts";

const EMPTY = new Uint8Array(0);
/** Up to this size, readExact allocates its result before the bytes arrive. */
const EAGER_ALLOC = 64 * 1024;
const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * The little-endian u64 in the first 8 bytes of `b`, as a number: exact
 * below 2^53; a larger value comes out as a number that is not a safe
 * integer (so a check against a limit refuses it), its exact value being
 * {@linkcode u64BigInt}. For parsers of many small values, which read them
 * from the bytes at hand without a BigInt or a view for each.
 *
 * @param b At least 8 bytes.
 * @returns The value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { u64Number } from "./wire_reader.ts";
 * assert.equal(u64Number(new Uint8Array([1, 1, 0, 0, 0, 0, 0, 0])), 257);
 * assert.equal(Number.isSafeInteger(u64Number(new Uint8Array(8).fill(0xff))), false);
 * ```
 */
export function u64Number(b: Uint8Array): number {
  const lo = (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  const hi = (b[4]! | (b[5]! << 8) | (b[6]! << 16) | (b[7]! << 24)) >>> 0;
  return hi * 0x1_0000_0000 + lo;
}

/**
 * The little-endian u64 in the first 8 bytes of `b`, exactly.
 *
 * @param b At least 8 bytes.
 * @returns The value.
 */
export function u64BigInt(b: Uint8Array): bigint {
  return new DataView(b.buffer, b.byteOffset, 8).getBigUint64(0, true);
}

/**
 * Where a {@linkcode WireReader} takes its bytes from.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { type ByteSource, WireReader } from "./wire_reader.ts";
 * const src: ByteSource = ReadableStream.from([new Uint8Array(8)]);
 * assert.equal(await new WireReader(src).readU64(), 0n);
 * ```
 */
export type ByteSource = ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>;

/** Whether a source is a stream (asked without naming the global `ReadableStream`). */
function isReadableStream(source: ByteSource): source is ReadableStream<Uint8Array> {
  return typeof (source as ReadableStream<Uint8Array>).getReader === "function";
}

/**
 * A pull reader of wire values over a byte stream, tracking the byte offset
 * for error messages.
 *
 * @example Reading an integer and a string
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "./wire_reader.ts";
 * const bytes = new Uint8Array([7, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 104, 105, 0, 0, 0, 0, 0, 0]);
 * const r = new WireReader(ReadableStream.from([bytes]));
 * assert.equal(await r.readU64(), 7n);
 * assert.equal(await r.readString(10), "hi");
 * ```
 */
export class WireReader {
  #iter: AsyncIterator<Uint8Array>;
  #reader: ReadableStreamDefaultReader<Uint8Array> | undefined;
  #buf: Uint8Array = EMPTY;
  #pos = 0;
  #offset = 0;
  #done = false;

  /** @param source The bytes to read. */
  constructor(source: ByteSource) {
    // Asked without naming the global: touching `ReadableStream` makes Deno
    // load its streams (some 6 ms), which a session that never builds does not need.
    if (isReadableStream(source)) {
      const reader = source.getReader();
      this.#reader = reader;
      this.#iter = {
        next: async () => {
          const r = await reader.read();
          return r.done ? { done: true, value: undefined } : { done: false, value: r.value };
        },
      };
    } else {
      this.#iter = source[Symbol.asyncIterator]();
    }
  }

  /**
   * When set, sees every byte as it is consumed (for example to hash a NAR
   * while it is being parsed). The bytes are valid only during the call.
   */
  tap: ((bytes: Uint8Array) => void) | undefined;

  /** Bytes consumed so far. */
  get offset(): number {
    return this.#offset;
  }

  /**
   * Make at least one unread byte available; false at the end of the stream.
   * Concurrent callers (e.g. one watching for the end of the stream while
   * another reads) share one pending read, so no chunk is ever lost.
   */
  #fill(): Promise<boolean> {
    if (this.#pos < this.#buf.length) return Promise.resolve(true);
    this.#filling ??= this.#pull().finally(() => (this.#filling = undefined));
    return this.#filling;
  }

  #filling: Promise<boolean> | undefined;

  async #pull(): Promise<boolean> {
    while (this.#pos >= this.#buf.length) {
      if (this.#done) return false;
      const r = await this.#iter.next();
      if (r.done) {
        this.#done = true;
        return false;
      }
      this.#buf = r.value;
      this.#pos = 0;
    }
    return true;
  }

  /**
   * True when the stream has ended exactly here (a clean end between
   * messages); false when more bytes follow.
   */
  async atEnd(): Promise<boolean> {
    return !(await this.#fill());
  }

  /**
   * Take the next `n` bytes at once when the current chunk holds them (as
   * {@linkcode WireReader.readExact} would, without waiting), else nothing
   * is consumed and the result is undefined. For parsers of many small
   * values, which then wait only at chunk boundaries.
   *
   * @param n How many bytes (more than 0).
   * @returns The bytes (sharing memory with the chunk), or undefined.
   */
  takeBuffered(n: number): Uint8Array | undefined {
    if (this.#buf.length - this.#pos < n) return undefined;
    const out = this.#buf.subarray(this.#pos, this.#pos + n);
    this.tap?.(out);
    this.#pos += n;
    this.#offset += n;
    return out;
  }

  /**
   * Read exactly `n` bytes. The result may share memory with the input chunk.
   *
   * @param n How many bytes.
   * @returns The bytes.
   */
  async readExact(n: number): Promise<Uint8Array> {
    if (n === 0) return EMPTY;
    await this.#fill();
    const avail = this.#buf.length - this.#pos;
    if (avail >= n) {
      const out = this.#buf.subarray(this.#pos, this.#pos + n);
      this.tap?.(out);
      this.#pos += n;
      this.#offset += n;
      return out;
    }
    // Small values are assembled in place; big ones are gathered piece by
    // piece, so a large length on a short stream allocates only what arrived.
    if (n <= EAGER_ALLOC) {
      const out = new Uint8Array(n);
      let got = 0;
      while (got < n) {
        if (!(await this.#fill())) throw new UnexpectedEofError(this.#offset, n - got);
        const take = Math.min(n - got, this.#buf.length - this.#pos);
        const piece = this.#buf.subarray(this.#pos, this.#pos + take);
        this.tap?.(piece);
        out.set(piece, got);
        this.#pos += take;
        this.#offset += take;
        got += take;
      }
      return out;
    }
    const pieces: Uint8Array[] = [];
    for await (const chunk of this.readChunks(n)) pieces.push(chunk.slice());
    const out = new Uint8Array(n);
    let at = 0;
    for (const p of pieces) {
      out.set(p, at);
      at += p.length;
    }
    return out;
  }

  /**
   * Yield the next `n` bytes in chunks as they arrive, without buffering
   * them. Each chunk is valid until the next one is requested.
   *
   * @param n How many bytes.
   */
  async *readChunks(n: number): AsyncGenerator<Uint8Array> {
    let left = n;
    while (left > 0) {
      if (!(await this.#fill())) throw new UnexpectedEofError(this.#offset, left);
      const take = Math.min(left, this.#buf.length - this.#pos);
      const chunk = this.#buf.subarray(this.#pos, this.#pos + take);
      this.tap?.(chunk);
      this.#pos += take;
      this.#offset += take;
      left -= take;
      yield chunk;
    }
  }

  /** Read a u64 (little-endian) as a bigint. */
  async readU64(): Promise<bigint> {
    return u64BigInt(await this.readExact(8));
  }

  /**
   * Read a u64 that must not exceed `max` (default: the safe integer limit).
   *
   * @param field What the number is, for the error message.
   * @param max The largest acceptable value.
   */
  async readNumber(field: string, max: number = Number.MAX_SAFE_INTEGER): Promise<number> {
    const at = this.#offset;
    const v = await this.readU64();
    if (v > BigInt(max)) throw new WireError(at, `"${field}" is ${v}, above the limit ${max}`);
    return Number(v);
  }

  /** Read a bool: a u64 that is 0 or 1. */
  async readBool(field = "bool"): Promise<boolean> {
    const at = this.#offset;
    const v = await this.readU64();
    if (v > 1n) throw new WireError(at, `"${field}" is ${v}, not a bool (0 or 1)`);
    return v === 1n;
  }

  /** Check and consume the zero padding after a `len`-byte string. */
  async readPadding(len: number): Promise<void> {
    const pad = (8 - (len % 8)) % 8;
    if (pad === 0) return;
    const at = this.#offset;
    const b = await this.readExact(pad);
    for (let i = 0; i < pad; i++) {
      if (b[i] !== 0) throw new WireError(at + i, "padding byte is not zero");
    }
  }

  /**
   * Read the length prefix of a byte string, checking it against `limit`.
   *
   * @param limit The largest acceptable length.
   * @param field What the string is, for the error message.
   */
  async readLength(limit: number, field = "string"): Promise<number> {
    return await this.readNumber(`${field} length`, limit);
  }

  /**
   * Read a padded byte string of at most `limit` bytes.
   *
   * @param limit The largest acceptable length.
   * @param field What the string is, for the error message.
   */
  async readBytes(limit: number, field = "string"): Promise<Uint8Array> {
    const len = await this.readLength(limit, field);
    const b = await this.readExact(len);
    await this.readPadding(len);
    return b;
  }

  /**
   * Read a padded UTF-8 string of at most `limit` bytes.
   *
   * @param limit The largest acceptable length in bytes.
   * @param field What the string is, for the error message.
   */
  async readString(limit: number, field = "string"): Promise<string> {
    const at = this.#offset;
    const b = await this.readBytes(limit, field);
    try {
      return utf8.decode(b);
    } catch {
      throw new WireError(at, `"${field}" is not valid UTF-8`);
    }
  }

  /**
   * Read a list of strings: a count of at most `maxCount`, then strings of at
   * most `maxLength` bytes each.
   */
  async readStrings(maxCount: number, maxLength: number, field = "list"): Promise<string[]> {
    const n = await this.readNumber(`${field} count`, maxCount);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.readString(maxLength, `${field}[${i}]`));
    return out;
  }

  /**
   * Yield framed data (u64 length + unpadded bytes, closed by length 0) in
   * chunks, each frame at most `maxFrame` bytes.
   */
  async *readFramed(maxFrame: number): AsyncGenerator<Uint8Array> {
    while (true) {
      const len = await this.readNumber("frame length", maxFrame);
      if (len === 0) return;
      yield* this.readChunks(len);
    }
  }

  /** Release the underlying stream (if it is a web stream) without reading further. */
  async cancel(reason?: unknown): Promise<void> {
    this.#done = true;
    this.#buf = EMPTY;
    this.#pos = 0;
    if (this.#reader) await this.#reader.cancel(reason).catch(() => {});
    else await this.#iter.return?.().catch(() => {});
  }
}
