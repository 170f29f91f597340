/**
 * Reading a NAR (see `tokens.ts` for the grammar) as a flat stream of
 * entries, like a tar reader: directories, symlinks and regular files in
 * document order, each file's contents a stream of chunks that is never
 * buffered whole.
 *
 * Contract: read an entry's contents before asking for the next entry, or
 * leave them and the reader skips them. After the first error the reader is
 * finished: the NAR is rejected whole.
 *
 * @module
 */
import { WireReader } from "../wire/wire_reader.ts";
import { WireError } from "../wire/wire_error.ts";
import { NarError } from "./nar_error.ts";
import {
  badEntryName,
  compareBytes,
  MAX_DEPTH,
  MAX_ENTRY_NAME_LENGTH,
  MAX_TARGET_LENGTH,
  MAX_WORD_LENGTH,
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
      /** The contents; iterate at most once. */
      contents: AsyncIterable<Uint8Array>;
    }
  );

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** File contents as read by the consumer: wire errors become NAR errors naming the entry. */
async function* wrapErrors(chunks: AsyncGenerator<Uint8Array>, path: string) {
  try {
    yield* chunks;
  } catch (e) {
    if (e instanceof WireError) throw new NarError(e.offset, path, e.detail);
    throw e;
  }
}

/**
 * Read exactly one NAR from `r` as entries, leaving `r` just after it.
 *
 * @param r The wire reader positioned at the NAR's first byte.
 * @returns The entries in document order.
 * @throws {NarError} On malformed or truncated input, naming the byte offset and entry.
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
  let currentPath = "";
  const start = r.offset;

  const fail = (offset: number, detail: string): never => {
    throw new NarError(offset, currentPath, detail);
  };

  const word = async (limit: number, what: string): Promise<Uint8Array> => {
    const at = r.offset;
    const len = await r.readNumber(`${what} length`, Number.MAX_SAFE_INTEGER);
    if (len > limit) fail(at, `${what} is ${len} bytes long, above the limit of ${limit}`);
    const b = await r.readExact(len);
    await r.readPadding(len);
    return b;
  };

  const text = (b: Uint8Array, at: number, what: string): string => {
    try {
      return utf8.decode(b);
    } catch {
      return fail(at, `${what} is not valid UTF-8`);
    }
  };

  const expect = async (w: NarWord): Promise<void> => {
    const at = r.offset;
    const b = await word(MAX_WORD_LENGTH, "a keyword");
    const got = text(b, at, "a keyword");
    if (got !== w) fail(at, `expected "${w}", found ${JSON.stringify(got)}`);
  };

  const keyword = async (): Promise<[string, number]> => {
    const at = r.offset;
    return [text(await word(MAX_WORD_LENGTH, "a keyword"), at, "a keyword"), at];
  };

  async function* node(path: string, depth: number): AsyncGenerator<NarEntry> {
    currentPath = path;
    if (depth > MAX_DEPTH) fail(r.offset, `directories are nested deeper than ${MAX_DEPTH}`);
    await expect("(");
    await expect("type");
    const [type, typeAt] = await keyword();
    switch (type) {
      case "regular": {
        let [field, at] = await keyword();
        let executable = false;
        if (field === "executable") {
          executable = true;
          const flagAt = r.offset;
          if ((await word(MAX_WORD_LENGTH, "the executable flag")).length !== 0) {
            fail(flagAt, 'the "executable" flag is not followed by ""');
          }
          [field, at] = await keyword();
        }
        if (field !== "contents") fail(at, `expected "contents", found ${JSON.stringify(field)}`);
        const size = await r.readNumber("file size");
        const end = r.offset + size;
        let iterated = false;
        const contents: AsyncIterable<Uint8Array> = {
          [Symbol.asyncIterator]() {
            if (iterated) throw new NarError(r.offset, path, "the contents were already read");
            iterated = true;
            return wrapErrors(r.readChunks(size), path);
          },
        };
        yield { path, type: "regular", executable, size, narOffset: end - size - start, contents };
        currentPath = path;
        // Skip whatever the consumer left unread.
        for await (const _ of r.readChunks(end - r.offset)) { /* skip */ }
        await r.readPadding(size);
        await expect(")");
        return;
      }
      case "symlink": {
        await expect("target");
        const at = r.offset;
        const target = await word(MAX_TARGET_LENGTH, "a symlink target");
        if (target.length === 0) fail(at, "a symlink target is empty");
        if (target.includes(0)) fail(at, "a symlink target contains a NUL byte");
        yield { path, type: "symlink", target: text(target, at, "a symlink target") };
        await expect(")");
        return;
      }
      case "directory": {
        yield { path, type: "directory" };
        let previous: Uint8Array | undefined;
        while (true) {
          currentPath = path;
          const [field, at] = await keyword();
          if (field === ")") return;
          if (field !== "entry") {
            fail(at, `expected "entry" or ")", found ${JSON.stringify(field)}`);
          }
          await expect("(");
          await expect("name");
          const nameAt = r.offset;
          const name = await word(MAX_ENTRY_NAME_LENGTH, "an entry name");
          const bad = badEntryName(name);
          if (bad) fail(nameAt, bad);
          const nameText = text(name, nameAt, "an entry name");
          if (previous && compareBytes(previous, name) >= 0) {
            currentPath = path === "" ? nameText : `${path}/${nameText}`;
            fail(
              nameAt,
              compareBytes(previous, name) === 0
                ? "a directory entry is duplicated"
                : "directory entries are not in ascending order",
            );
          }
          previous = name;
          await expect("node");
          yield* node(path === "" ? nameText : `${path}/${nameText}`, depth + 1);
          currentPath = path;
          await expect(")");
        }
      }
      default:
        fail(typeAt, `unknown node type ${JSON.stringify(type)}`);
    }
  }

  try {
    await expect("nix-archive-1");
    yield* node("", 0);
  } catch (e) {
    if (e instanceof NarError) throw e;
    if (e instanceof WireError) throw new NarError(e.offset, currentPath, e.detail);
    throw e;
  }
}

/**
 * Read a whole stream that must hold exactly one NAR: trailing bytes are an
 * error.
 *
 * @param stream The bytes.
 * @returns The entries.
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
  let last = "";
  for await (const e of readNar(r)) {
    last = e.path;
    yield e;
  }
  const at = r.offset;
  if (!(await r.atEnd())) {
    await r.cancel();
    throw new NarError(at, last, "there are bytes after the end of the archive");
  }
}
