/**
 * Reading a NAR (see `tokens.ts` for the grammar) as a flat stream of
 * entries, like a tar reader: directories, symlinks and regular files in
 * document order, each file's contents a stream of chunks that is never
 * buffered whole.
 *
 * Contract:
 * - Read an entry's contents before asking for the next entry, or leave them
 *   and the reader skips them. Contents can be iterated once, and only while
 *   their entry is the current one.
 * - Everything the grammar allows is checked before an entry is handed out:
 *   keywords, names (allowed, at most 255 bytes, strictly ascending),
 *   symlink targets (1 to 4095 bytes, no NUL), sizes (safe integers), zero
 *   padding, truncation. Each word's length is checked against its limit
 *   before anything is read.
 * - Errors are {@linkcode NarError}s naming the byte offset from the start of
 *   the NAR and the entry; wire errors from underneath (such as the stream
 *   ending) are converted. After the first error the reader is poisoned:
 *   the contents being read and the next request throw that same error.
 *
 * @module
 */
import { u64BigInt, u64Number, WireReader } from "../wire/wire_reader.ts";
import { WireError } from "../wire/wire_error.ts";
import { NarError } from "./nar_error.ts";
import {
  badEntryName,
  compareBytes,
  MAX_DEPTH,
  MAX_ENTRY_NAME_LENGTH,
  MAX_TARGET_LENGTH,
  MAX_WORD_LENGTH,
  NAR_WORDS,
  type NarWord,
} from "./tokens.ts";

/**
 * One entry of a NAR. `path` is "" for the root, else `a/b/c` below it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NarEntry } from "./nar_reader.ts";
 * const e: NarEntry = { path: "", type: "directory" };
 * assert.equal(e.path, "");
 * ```
 */
export type NarEntry =
  & { path: string }
  & (
    | { type: "directory" }
    | { type: "symlink"; target: string }
    | {
      type: "regular";
      executable: boolean;
      size: number;
      /** Offset of the contents from the start of the NAR. */
      narOffset: number;
      /**
       * The contents; iterate at most once, before asking for the next
       * entry. Each chunk is valid until the next one is requested.
       */
      contents: AsyncIterable<Uint8Array>;
    }
  );

const utf8 = new TextDecoder("utf-8", { fatal: true });
const EMPTY_BYTES = new Uint8Array(0);
const lossy = new TextDecoder();
const encoder = new TextEncoder();

/** The bytes of each word, by its index in NAR_WORDS. */
const WORD_BYTES = NAR_WORDS.map((w) => encoder.encode(w));
const w = (word: NarWord): number => NAR_WORDS.indexOf(word);
const MAGIC = w("nix-archive-1");
const OPEN = w("(");
const CLOSE = w(")");
const TYPE = w("type");
const REGULAR = w("regular");
const EXECUTABLE = w("executable");
const EMPTY = w("");
const CONTENTS = w("contents");
const SYMLINK = w("symlink");
const TARGET = w("target");
const DIRECTORY = w("directory");
const ENTRY = w("entry");
const NAME = w("name");
const NODE = w("node");

/**
 * Bytes as text, with every byte that is not part of valid UTF-8 (and every
 * backslash) written as `\xNN`.
 */
export function escapeBytes(b: Uint8Array): string {
  let out = "";
  let i = 0;
  while (i < b.length) {
    // the longest valid UTF-8 sequence starting at i
    const c = b[i]!;
    const len = c < 0x80
      ? 1
      : c >= 0xc2 && c < 0xe0
      ? 2
      : c >= 0xe0 && c < 0xf0
      ? 3
      : c >= 0xf0 && c < 0xf5
      ? 4
      : 0;
    if (len > 0 && i + len <= b.length) {
      try {
        const s = utf8.decode(b.subarray(i, i + len));
        out += s === "\\" ? "\\x5c" : s;
        i += len;
        continue;
      } catch { /* not valid: escape the byte */ }
    }
    out += `\\x${c.toString(16).padStart(2, "0")}`;
    i++;
  }
  return out;
}

/** The index of the word `b` is, or -1. */
function wordIndex(b: Uint8Array): number {
  for (let i = 0; i < WORD_BYTES.length; i++) {
    const word = WORD_BYTES[i]!;
    if (word.length !== b.length) continue;
    let j = 0;
    while (j < b.length && word[j] === b[j]) j++;
    if (j === b.length) return i;
  }
  return -1;
}

/**
 * Read exactly one NAR from `r` as entries, leaving `r` just after it (a NAR
 * is not framed: its end is found by parsing it).
 *
 * @param r The wire reader positioned at the NAR's first byte.
 * @returns The entries in document order.
 * @throws {NarError} On malformed or truncated input, naming the byte offset
 * (from the NAR's first byte) and the entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { readNar } from "./nar_reader.ts";
 * import { writeNar } from "./nar_writer.ts";
 * const nar = writeNar({ type: "symlink", target: "/x" });
 * const entries = [];
 * for await (const e of readNar(new WireReader(nar))) entries.push(e);
 * assert.deepEqual(entries, [{ path: "", type: "symlink", target: "/x" }]);
 * ```
 */
export async function* readNar(r: WireReader): AsyncGenerator<NarEntry> {
  const start = r.offset;
  /** The entry being read, for error messages. */
  let path = "";
  /** The first error; once set, everything throws it. */
  let failure: NarError | undefined;
  /** Counts file entries handed out; contents check it to know they are current. */
  let generation = 0;
  /** The text of the last keyword read that was not a word of the grammar. */
  let unknown = "";

  const fail = (at: number, detail: string): never => {
    throw new NarError(at - start, path, detail);
  };
  const poison = (e: unknown, entryPath: string): unknown => {
    if (failure) return failure;
    if (e instanceof NarError) return (failure = e);
    if (e instanceof WireError) {
      return (failure = new NarError(e.offset - start, entryPath, e.detail));
    }
    return e;
  };

  // The helpers below parse from the reader's current chunk without waiting
  // when it holds what they need (most of the time: tokens are small), and
  // return a promise only at chunk boundaries; a NAR of many small entries
  // is parsed mostly synchronously.

  /** The u64 in `b` (read at `at`), which must not exceed `limit`. */
  const decodeNumber = (b: Uint8Array, at: number, limit: number, what: string): number => {
    const n = u64Number(b);
    if (!Number.isSafeInteger(n) || n > limit) {
      fail(at, `${what} is ${u64BigInt(b)}, above the limit of ${limit}`);
    }
    return n;
  };

  /** A u64 that must not exceed `limit` (at most the largest safe integer). */
  const number = (limit: number, what: string): number | Promise<number> => {
    const at = r.offset;
    const b = r.takeBuffered(8);
    if (b) return decodeNumber(b, at, limit, what);
    return r.readExact(8).then((b) => decodeNumber(b, at, limit, what));
  };

  /**
   * A wire string of at most `limit` bytes, handed to `use` with the offset
   * where the string starts, before the padding is checked (the bytes may
   * live in a buffer the source reuses).
   */
  const string = <T>(
    limit: number,
    what: string,
    use: (b: Uint8Array, at: number) => T,
  ): T | Promise<T> => {
    const at = r.offset;
    const lengthBytes = r.takeBuffered(8);
    if (lengthBytes) {
      const len = decodeNumber(lengthBytes, at, limit, `the length of ${what}`);
      const padded = len + ((8 - (len % 8)) % 8);
      const b = padded === 0 ? EMPTY_BYTES : r.takeBuffered(padded);
      if (b) {
        const value = use(b.subarray(0, len), at);
        for (let i = len; i < padded; i++) {
          if (b[i] !== 0) throw new WireError(at + 8 + i, "padding byte is not zero");
        }
        return value;
      }
      return (async () => {
        const value = use(await r.readExact(len), at);
        await r.readPadding(len);
        return value;
      })();
    }
    return (async () => {
      const len = await number(limit, `the length of ${what}`);
      const value = use(await r.readExact(len), at);
      await r.readPadding(len);
      return value;
    })();
  };

  const text = (b: Uint8Array, at: number, what: string): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail(
        at,
        `${what} "${
          escapeBytes(b)
        }" is not valid UTF-8 (handled as text, so it cannot be restored)`,
      );
    }
  };

  /**
   * An entry name as text. A name that is not UTF-8 cannot be a JS string
   * without losing bytes, so it is refused, naming the entry with the bad
   * bytes escaped (`caf\xe9`).
   */
  const entryName = (b: Uint8Array, at: number, dirPath: string): string => {
    try {
      return utf8.decode(b);
    } catch {
      const escaped = escapeBytes(b);
      path = dirPath === "" ? escaped : `${dirPath}/${escaped}`;
      return fail(
        at,
        `the entry name "${escaped}" is not valid UTF-8 (names are handled as text, so it cannot be restored)`,
      );
    }
  };

  /** Read a keyword: the index of the word, or -1 (its text is then in `unknown`). */
  const keyword = (): number | Promise<number> =>
    string(MAX_WORD_LENGTH, "a keyword", (b) => {
      const i = wordIndex(b);
      if (i < 0) unknown = lossy.decode(b);
      return i;
    });
  const found = (i: number): string => JSON.stringify(i < 0 ? unknown : NAR_WORDS[i]);

  const expect = (word: number, context = ""): void | Promise<void> => {
    const at = r.offset;
    const check = (i: number) => {
      if (i !== word) fail(at, `expected "${NAR_WORDS[word]}"${context}, found ${found(i)}`);
    };
    const i = keyword();
    if (typeof i === "number") return check(i);
    return i.then(check);
  };

  /** The contents of the file entry `gen`, which end at stream offset `end`. */
  async function* chunks(gen: number, end: number, entryPath: string) {
    const stale = () =>
      new NarError(
        r.offset - start,
        entryPath,
        "the contents were read after the reader had moved on to the next entry",
      );
    if (gen !== generation) throw stale();
    if (failure) throw failure;
    let moved = false;
    try {
      for await (const c of r.readChunks(end - r.offset)) {
        yield c;
        if (gen !== generation) {
          moved = true;
          break;
        }
      }
    } catch (e) {
      throw poison(e, entryPath);
    }
    if (moved) throw stale();
  }

  const contentsOf = (gen: number, end: number, entryPath: string): AsyncIterable<Uint8Array> => {
    let used = false;
    return {
      [Symbol.asyncIterator]() {
        if (used) throw new NarError(r.offset - start, entryPath, "the contents were already read");
        used = true;
        return chunks(gen, end, entryPath);
      },
    };
  };

  /** The open directories, innermost last, with the last name seen in each. */
  const dirs: { path: string; previous: Uint8Array | undefined }[] = [];
  let nodePath = "";
  /** What an `expect` that has to wait returns. */
  let pending: void | Promise<void>;
  try {
    if ((pending = expect(MAGIC))) await pending;
    nodes: while (true) {
      // A node at `nodePath`: "(" "type" <type> ...
      path = nodePath;
      if ((pending = expect(OPEN))) await pending;
      if ((pending = expect(TYPE))) await pending;
      const typeAt = r.offset;
      let type = keyword();
      if (typeof type !== "number") type = await type;
      if (type === REGULAR) {
        let fieldAt = r.offset;
        let field = keyword();
        if (typeof field !== "number") field = await field;
        let executable = false;
        if (field === EXECUTABLE) {
          executable = true;
          if ((pending = expect(EMPTY, ' after "executable"'))) await pending;
          fieldAt = r.offset;
          field = keyword();
          if (typeof field !== "number") field = await field;
        }
        if (field !== CONTENTS) fail(fieldAt, `expected "contents", found ${found(field)}`);
        let size = number(Number.MAX_SAFE_INTEGER, "the file size");
        if (typeof size !== "number") size = await size;
        const end = r.offset + size;
        const gen = ++generation;
        yield {
          path,
          type: "regular",
          executable,
          size,
          narOffset: r.offset - start,
          contents: contentsOf(gen, end, path),
        };
        if (failure) throw failure;
        generation++; // the contents may no longer be read
        path = nodePath;
        if (r.offset < end) {
          for await (const _ of r.readChunks(end - r.offset)) { /* skip what was not read */ }
        }
        if (size % 8 !== 0) await r.readPadding(size);
        if ((pending = expect(CLOSE))) await pending;
      } else if (type === SYMLINK) {
        if ((pending = expect(TARGET))) await pending;
        const target = await string(MAX_TARGET_LENGTH, "a symlink target", (b, at) => {
          if (b.length === 0) fail(at, "a symlink target is empty");
          if (b.includes(0)) fail(at, "a symlink target contains a NUL byte");
          return text(b, at, "a symlink target");
        });
        if ((pending = expect(CLOSE))) await pending;
        yield { path, type: "symlink", target };
        if (failure) throw failure;
      } else if (type === DIRECTORY) {
        if (dirs.length >= MAX_DEPTH) {
          fail(typeAt, `directories are nested deeper than ${MAX_DEPTH}`);
        }
        yield { path, type: "directory" };
        if (failure) throw failure;
        dirs.push({ path: nodePath, previous: undefined });
      } else {
        fail(typeAt, `unknown node type ${found(type)}`);
      }
      if (type !== DIRECTORY && dirs.length > 0) {
        path = nodePath;
        if ((pending = expect(CLOSE))) await pending; // the entry that held the node
      }

      // The next node: the next entry of the innermost open directory.
      while (true) {
        const dir = dirs[dirs.length - 1];
        if (!dir) break nodes;
        path = dir.path;
        const at = r.offset;
        let next = keyword();
        if (typeof next !== "number") next = await next;
        if (next === CLOSE) {
          dirs.pop();
          // the entry that held the directory
          if (dirs.length > 0 && (pending = expect(CLOSE))) await pending;
          continue;
        }
        if (next !== ENTRY) fail(at, `expected "entry" or ")", found ${found(next)}`);
        if ((pending = expect(OPEN))) await pending;
        if ((pending = expect(NAME))) await pending;
        pending = string(MAX_ENTRY_NAME_LENGTH, "an entry name", (b, nameAt): void => {
          const bad = badEntryName(b);
          if (bad) fail(nameAt, bad);
          const name = entryName(b, nameAt, dir.path);
          nodePath = dir.path === "" ? name : `${dir.path}/${name}`;
          if (dir.previous) {
            const order = compareBytes(dir.previous, b);
            if (order >= 0) {
              path = nodePath;
              fail(
                nameAt,
                order === 0
                  ? "a directory entry is duplicated"
                  : `directory entries are not in ascending order (${
                    JSON.stringify(lossy.decode(dir.previous))
                  } comes first)`,
              );
            }
          }
          dir.previous = b.slice();
        });
        if (pending) await pending;
        path = nodePath;
        if ((pending = expect(NODE))) await pending;
        continue nodes;
      }
    }
  } catch (e) {
    throw poison(e, path);
  }
}

/**
 * Read a whole stream that must hold exactly one NAR: bytes after it are an
 * error. The stream is cancelled when reading stops early or fails.
 *
 * @param stream The bytes.
 * @returns The entries (see {@linkcode readNar}).
 * @throws {NarError} On a malformed NAR or bytes after it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narEntries } from "./nar_reader.ts";
 * import { writeNar } from "./nar_writer.ts";
 * const paths = [];
 * for await (const e of narEntries(writeNar({ type: "symlink", target: "t" }))) paths.push(e.path);
 * assert.deepEqual(paths, [""]);
 * ```
 */
export async function* narEntries(
  stream: ReadableStream<Uint8Array> | AsyncIterable<Uint8Array>,
): AsyncGenerator<NarEntry> {
  const r = new WireReader(stream);
  let complete = false;
  try {
    yield* readNar(r);
    const at = r.offset;
    if (!(await r.atEnd())) {
      throw new NarError(at, "", "there are bytes after the end of the archive");
    }
    complete = true;
  } finally {
    if (!complete) await r.cancel();
  }
}
