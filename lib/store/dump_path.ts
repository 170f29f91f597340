/**
 * Serialising a filesystem tree as a NAR, as `nix-store --dump` does: the
 * lazy {@linkcode NarNode} tree of a path, walked as it is written.
 *
 * - A directory is read when the writer reaches it; its entries are sorted
 *   by the bytes of their names.
 * - A regular file is executable when its owner may execute it (`S_IXUSR`);
 *   its size is taken from `lstat` and exactly that many bytes are read
 *   (a file that shrinks meanwhile is an error; one that grows is cut at the
 *   size, as Nix does). The node offers a `reader`, so the NAR writer reads
 *   the bytes straight into the chunks it gives; its `contents` read in
 *   chunks of 1 MiB from one buffer shared by the tree.
 * - A symlink is stored as its target and never followed, not even at the
 *   top. Anything else (socket, FIFO, device) is an error naming the path.
 *
 * Filesystem calls are synchronous: a tree has many small files, and an
 * async call costs more than reading a few KiB. Only the path's own type
 * needs `lstat` for directories and symlinks (the directory listing gives
 * it); regular files need it for their size and mode.
 *
 * Names are JS strings, so a name that is not valid UTF-8 cannot be dumped:
 * Deno lists it with U+FFFD in place of the bad bytes, which is detected and
 * refused rather than dumped wrongly.
 *
 * @module
 */
import type { NarFileReader, NarNode, WriteNarOptions } from "../nar/nar_writer.ts";
import { writeNar } from "../nar/nar_writer.ts";
import { NarError } from "../nar/nar_error.ts";
import { compareBytes } from "../nar/tokens.ts";
import {
  type FileAccess,
  fileAccess,
  type ReadHandle,
  S_IFDIR,
  S_IFLNK,
  S_IFREG,
} from "./file_access.ts";

/** Bytes read at a time by `contents` (the writer reads through `reader` into its own buffers). */
const CHUNK = 1 << 20;

const encoder = new TextEncoder();

/** Reads exactly `size` bytes of a regular file, or fails naming it. */
class FileReader implements NarFileReader {
  #file: ReadHandle;
  #done = 0;

  constructor(
    fs: FileAccess,
    readonly fsPath: string,
    readonly narPath: string,
    readonly size: number,
  ) {
    this.#file = fs.open(fsPath);
  }

  read(into: Uint8Array): number {
    const n = this.#file.read(into);
    if (n === 0) {
      throw new NarError(
        -1,
        this.narPath,
        `"${this.fsPath}" shrank from ${this.size} to ${this.#done} bytes while it was read`,
      );
    }
    this.#done += n;
    return n;
  }

  [Symbol.dispose](): void {
    this.#file[Symbol.dispose]();
  }
}

/** One 1 MiB buffer for a tree's `contents`, made when first asked for. */
function lazyBuffer(): () => Uint8Array {
  let buf: Uint8Array | undefined;
  return () => (buf ??= new Uint8Array(CHUNK));
}

/** The contents of a regular file as chunks of one buffer shared by the tree's files. */
function* fileChunks(open: () => FileReader, buffer: () => Uint8Array): Generator<Uint8Array> {
  using r = open(); // opened when the chunks are first asked for, so never left open
  const buf = buffer();
  for (let left = r.size; left > 0;) {
    const n = r.read(buf.subarray(0, Math.min(left, buf.length)));
    left -= n;
    yield buf.subarray(0, n);
  }
}

/** Whether a code unit from 0xD800 makes UTF-16 order differ from byte order. */
const NOT_BYTE_ORDER = /[\ud800-\uffff]/;

/** Sort directory entries by the bytes of their names, as Nix does. */
function sortEntries(list: Deno.DirEntry[]): Deno.DirEntry[] {
  // Below U+D800, UTF-16 code unit order is code point order, which is the
  // order of UTF-8 bytes; only other names need their bytes compared.
  if (!list.some((e) => NOT_BYTE_ORDER.test(e.name))) {
    return list.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }
  return list
    .map((e) => [encoder.encode(e.name), e] as const)
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([, e]) => e);
}

/** Refuse names Deno could not give as they are (not valid UTF-8). */
function checkNames(list: Deno.DirEntry[], fsPath: string, narPath: string): void {
  for (let i = 0; i < list.length; i++) {
    const name = list[i]!.name;
    if (!name.includes("\uFFFD")) continue;
    let exists = name !== list[i + 1]?.name;
    if (exists) {
      try {
        Deno.lstatSync(`${fsPath}/${name}`);
      } catch (e) {
        if (!(e instanceof Deno.errors.NotFound)) throw e;
        exists = false;
      }
    }
    if (!exists) {
      throw new NarError(
        -1,
        narPath,
        `"${fsPath}" has an entry whose name is not valid UTF-8 (${
          JSON.stringify(name.replaceAll("\uFFFD", "?"))
        }, a "?" for each bad byte sequence), which cannot be dumped`,
      );
    }
  }
}

/** What the nodes of one tree share: the file calls, and `contents`' buffer. */
interface Tree {
  fs: FileAccess;
  buffer: () => Uint8Array;
}

function directoryNode(tree: Tree, fsPath: string, narPath: string): NarNode {
  return {
    type: "directory",
    *entries() {
      const list = sortEntries([...Deno.readDirSync(fsPath)]);
      checkNames(list, fsPath, narPath);
      for (const e of list) {
        const childFs = `${fsPath}/${e.name}`;
        const childNar = narPath === "" ? e.name : `${narPath}/${e.name}`;
        const node: NarNode = e.isSymlink
          ? { type: "symlink", target: Deno.readLinkSync(childFs) }
          : e.isDirectory
          ? directoryNode(tree, childFs, childNar)
          : nodeOf(tree, childFs, childNar);
        yield [e.name, node];
      }
    },
  };
}

const SPECIAL_KINDS: Record<number, string> = {
  0o010000: "FIFO",
  0o140000: "socket",
  0o020000: "character device",
  0o060000: "block device",
};

/** The node of any path, from its `lstat`. */
function nodeOf(tree: Tree, fsPath: string, narPath: string): NarNode {
  const st = tree.fs.lstat(fsPath);
  if (st.format === S_IFREG) {
    const size = st.size;
    return {
      type: "regular",
      executable: (st.mode & 0o100) !== 0,
      size,
      reader: () => new FileReader(tree.fs, fsPath, narPath, size),
      contents: () => fileChunks(() => new FileReader(tree.fs, fsPath, narPath, size), tree.buffer),
    };
  }
  if (st.format === S_IFDIR) return directoryNode(tree, fsPath, narPath);
  if (st.format === S_IFLNK) return { type: "symlink", target: Deno.readLinkSync(fsPath) };
  throw new NarError(
    -1,
    narPath,
    `"${fsPath}" is a ${
      SPECIAL_KINDS[st.format] ?? "special file"
    }, not a regular file, directory or symlink`,
  );
}

/** A tree's shared parts, made for each dump. */
function newTree(): Tree {
  return { fs: fileAccess(), buffer: lazyBuffer() };
}

/**
 * The NAR tree of a filesystem path (a symlink at the top is not followed).
 * Directories are read and files opened only when the writer reaches them;
 * the `contents` of all files of the tree share one 1 MiB read buffer.
 *
 * @param fsPath The path.
 * @returns Its lazy node.
 * @throws {NarError} When the path is not a regular file, directory or symlink.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narNodeFromPath } from "./dump_path.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal((await narNodeFromPath(dir)).type, "directory");
 * await Deno.remove(dir);
 * ```
 */
export function narNodeFromPath(fsPath: string): Promise<NarNode> {
  try {
    return Promise.resolve(nodeOf(newTree(), fsPath, ""));
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * The NAR of a filesystem path, in chunks, byte for byte what
 * `nix-store --dump` writes. A chunk is valid only until the next one is
 * requested (buffers are reused): copy it to keep it, or supply the buffers
 * with `options.buffers` and keep them (see {@linkcode writeNar}).
 *
 * @param fsPath The path.
 * @param options Where the chunks' buffers come from.
 * @returns The NAR bytes.
 * @throws {NarError} On a special file, a name that is not UTF-8, or a file
 * that shrinks while it is read.
 *
 * @example Hashing a directory like `nix-hash --type sha256`
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashSink } from "../hash/hash.ts";
 * import { dumpPath } from "./dump_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * const sink = new HashSink("sha256");
 * for await (const c of dumpPath(dir)) sink.write(c);
 * assert.equal(sink.size, 288);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function* dumpPath(
  fsPath: string,
  options: WriteNarOptions = {},
): AsyncGenerator<Uint8Array> {
  yield* writeNar(nodeOf(newTree(), fsPath, ""), options);
}
