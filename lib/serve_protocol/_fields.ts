/**
 * Field-level readers and writers shared by the serve codecs (private to
 * `lib/serve_protocol/`). Every read names its field; a wire error (short stream,
 * bad padding) becomes a {@linkcode ServeProtocolError} naming the command,
 * the field and the byte offset. Strings are Nix strings (bytes): invalid
 * UTF-8 is kept byte for byte (see `lib/derivation/nix_string.ts`).
 *
 * @module
 */
import { WireError } from "../wire/wire_error.ts";
import { Hash, HashError } from "../hash/hash.ts";
import { u64BigInt, u64Number, type WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { decodeNixString, encodeNixString } from "../derivation/nix_string.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { DerivationError } from "../derivation/derivation_error.ts";
import { DEFAULT_STORE_DIR, StorePath, StorePathError } from "../store_path/store_path.ts";
import { SERVE_LIMITS, type ServeCodecOptions } from "./protocol.ts";
import { ServeProtocolError } from "./serve_protocol_error.ts";

/** Largest value of a C `unsigned int`, as Nix's `readInt` accepts. */
export const MAX_U32 = 0xffffffff;

const EMPTY = new Uint8Array(0);

/** Reads named fields, turning every failure into a ServeProtocolError. */
export class FieldReader {
  readonly storeDir: string;

  constructor(
    readonly wire: WireReader,
    readonly command: string,
    options: ServeCodecOptions = {},
  ) {
    this.storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  }

  /** Throw a ServeProtocolError for `field` at byte `at`. */
  fail(at: number, field: string, detail: string, cause?: unknown): never {
    throw new ServeProtocolError(
      this.command,
      field,
      at,
      detail,
      "read",
      cause === undefined ? undefined : { cause },
    );
  }

  async #wire<T>(field: string, read: () => Promise<T>): Promise<T> {
    try {
      return await read();
    } catch (e) {
      if (e instanceof WireError) this.fail(e.offset, field, e.detail, e);
      throw e;
    }
  }

  /** A raw u64. */
  u64(field: string): Promise<bigint> {
    return this.#wire(field, () => this.wire.readU64());
  }

  // The readers below take their value straight from the reader's current
  // chunk when it holds it (most of the time: fields are small), and wait
  // only at chunk boundaries; a request is parsed without a promise, a
  // BigInt or a view made for each of its numbers.

  /** Eight bytes of a u64 that starts at `at`: from the chunk when it holds them. */
  #u64Bytes(field: string): Uint8Array | Promise<Uint8Array> {
    return this.wire.takeBuffered(8) ?? this.#wire(field, () => this.wire.readExact(8));
  }

  /** The u64 in `b`, read at `at`; above `max`, `tooLarge` says why it fails. */
  #decode(
    b: Uint8Array,
    at: number,
    field: string,
    max: number,
    tooLarge: (value: bigint) => string,
  ): number {
    const n = u64Number(b);
    if (!Number.isSafeInteger(n) || n > max) this.fail(at, field, tooLarge(u64BigInt(b)));
    return n;
  }

  /** A u64 that must not exceed `max` (default: the safe integer limit). */
  async number(field: string, max: number = Number.MAX_SAFE_INTEGER): Promise<number> {
    const at = this.wire.offset;
    return this.#decode(
      await this.#u64Bytes(field),
      at,
      field,
      max,
      (v) => `${v} is above the limit ${max}`,
    );
  }

  /** A bool: a u64 that must be 0 or 1. */
  async bool(field: string): Promise<boolean> {
    const at = this.wire.offset;
    const n = this.#decode(
      await this.#u64Bytes(field),
      at,
      field,
      1,
      (v) => `${v} is not a bool (0 or 1)`,
    );
    return n === 1;
  }

  /** A byte string of at most `limit` bytes; the length is checked before reading it. */
  async bytes(field: string, limit: number): Promise<Uint8Array> {
    const at = this.wire.offset;
    const n = this.#decode(
      await this.#u64Bytes(field),
      at,
      field,
      limit,
      (v) => `its length ${v} is above the limit ${limit}`,
    );
    const padded = n + ((8 - (n % 8)) % 8);
    const b = padded === 0 ? EMPTY : this.wire.takeBuffered(padded);
    if (b) {
      for (let i = n; i < padded; i++) {
        if (b[i] !== 0) this.fail(at + 8 + i, field, "padding byte is not zero");
      }
      return b.subarray(0, n);
    }
    return await this.#wire(field, async () => {
      const b = await this.wire.readExact(n);
      await this.wire.readPadding(n);
      return b;
    });
  }

  /** A Nix string of at most `limit` bytes. */
  async text(field: string, limit: number = SERVE_LIMITS.textLength): Promise<string> {
    return decodeNixString(await this.bytes(field, limit));
  }

  /** A hash in any of Nix's encodings (base16, nix32, SRI, `type:`), sha256 unless it says. */
  async hash(field: string, limit: number = SERVE_LIMITS.shortLength): Promise<Hash> {
    const at = this.wire.offset;
    const text = await this.text(field, limit);
    try {
      return Hash.parse(text, "sha256");
    } catch (e) {
      if (!(e instanceof HashError)) throw e;
      return this.fail(at, field, e.message, e);
    }
  }

  /** A store path in the store directory, checked. */
  async path(field: string): Promise<string> {
    const at = this.wire.offset;
    const p = await this.text(field, SERVE_LIMITS.pathLength);
    this.checkPath(p, at, field);
    return p;
  }

  /** A store path, or `""` for none (undefined). */
  async optionalPath(field: string): Promise<string | undefined> {
    const at = this.wire.offset;
    const p = await this.text(field, SERVE_LIMITS.pathLength);
    if (p === "") return undefined;
    this.checkPath(p, at, field);
    return p;
  }

  /** Check that `p`, read at `at`, is a store path. */
  checkPath(p: string, at: number, field: string): StorePath {
    try {
      return StorePath.parse(p, this.storeDir);
    } catch (e) {
      if (!(e instanceof StorePathError)) throw e;
      return this.fail(at, field, `"${p}" is not a store path: ${e.detail}`, e);
    }
  }

  /** A count of at most `max` items. */
  count(field: string, max: number): Promise<number> {
    return this.number(`${field} count`, max);
  }

  /** A set of store paths (Nix's `StorePathSet`): sorted, duplicates dropped. */
  async pathSet(field: string): Promise<string[]> {
    const n = await this.count(field, SERVE_LIMITS.pathCount);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.path(`${field}[${i}]`));
    return sortedSet(out);
  }

  /** A list of Nix strings, order kept. */
  async texts(field: string, maxCount: number, limit: number): Promise<string[]> {
    const n = await this.count(field, maxCount);
    const out: string[] = [];
    for (let i = 0; i < n; i++) out.push(await this.text(`${field}[${i}]`, limit));
    return out;
  }

  /** A set of Nix strings (Nix's `StringSet`): sorted, duplicates dropped. */
  async textSet(field: string, maxCount: number, limit: number): Promise<string[]> {
    return sortedSet(await this.texts(field, maxCount, limit));
  }
}

/** Writes named fields, refusing values that have no wire form with a ServeProtocolError. */
export class FieldWriter {
  readonly storeDir: string;

  constructor(
    readonly wire: WireWriter,
    readonly command: string,
    options: ServeCodecOptions = {},
  ) {
    this.storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  }

  /** Throw a ServeProtocolError for `field` at the current offset. */
  fail(field: string, detail: string, cause?: unknown): never {
    throw new ServeProtocolError(
      this.command,
      field,
      this.wire.offset,
      detail,
      "write",
      cause === undefined ? undefined : { cause },
    );
  }

  /** A u64 from a non-negative integer of at most `max`. */
  u64(field: string, value: number | bigint, max: number | bigint = 0xffffffffffffffffn): this {
    const ok = typeof value === "bigint"
      ? value >= 0n && value <= BigInt(max)
      : Number.isSafeInteger(value) && value >= 0 && value <= Number(max);
    if (!ok) this.fail(field, `${value} is not an integer from 0 to ${max}`);
    this.wire.writeU64(value);
    return this;
  }

  /** A bool as u64 0 or 1. */
  bool(field: string, value: boolean): this {
    if (typeof value !== "boolean") this.fail(field, `${String(value)} is not a bool`);
    this.wire.writeBool(value);
    return this;
  }

  /** A Nix string (lone surrogates U+DC80..U+DCFF stand for raw bytes). */
  text(field: string, value: string, limit: number = SERVE_LIMITS.textLength): this {
    let bytes: Uint8Array;
    try {
      bytes = encodeNixString(value);
    } catch (e) {
      if (!(e instanceof DerivationError)) throw e;
      return this.fail(field, e.message, e);
    }
    if (bytes.length > limit) {
      this.fail(field, `its length ${bytes.length} is above the limit ${limit}`);
    }
    this.wire.writeBytes(bytes);
    return this;
  }

  /** A store path, checked. */
  path(field: string, value: string): this {
    this.checkPath(field, value);
    return this.text(field, value, SERVE_LIMITS.pathLength);
  }

  /** A store path, or `""` for none. */
  optionalPath(field: string, value: string | undefined): this {
    return value === undefined ? this.text(field, "") : this.path(field, value);
  }

  /** Check that `value` is a store path. */
  checkPath(field: string, value: string): StorePath {
    try {
      return StorePath.parse(value, this.storeDir);
    } catch (e) {
      if (!(e instanceof StorePathError)) throw e;
      return this.fail(field, `"${value}" is not a store path: ${e.detail}`, e);
    }
  }

  /** A set of store paths, written sorted without duplicates (as Nix's `StorePathSet`). */
  pathSet(field: string, paths: Iterable<string>): this {
    const list = sortedSet(paths);
    this.u64(`${field} count`, list.length);
    list.forEach((p, i) => this.path(`${field}[${i}]`, p));
    return this;
  }

  /** A list of Nix strings in the given order. */
  texts(field: string, list: readonly string[], limit: number): this {
    this.u64(`${field} count`, list.length);
    list.forEach((s, i) => this.text(`${field}[${i}]`, s, limit));
    return this;
  }

  /** A set of Nix strings, written sorted without duplicates (as Nix's `StringSet`). */
  textSet(field: string, list: Iterable<string>, limit: number): this {
    return this.texts(field, sortedSet(list), limit);
  }
}

/** Strings sorted byte-wise (as Nix's sets) without duplicates. */
export function sortedSet(items: Iterable<string>): string[] {
  return [...new Set(items)].sort(compareUtf8);
}
