/**
 * Serialising a filesystem tree as a NAR: the lazy {@linkcode NarNode} tree of
 * a path, walked as it is written (directories read when reached, entries
 * sorted by the bytes of their names, files streamed in large chunks).
 *
 * As Nix does, the top path itself is not followed when it is a symlink, a
 * file is executable when its owner may execute it, and anything that is not
 * a regular file, a directory or a symlink is an error.
 *
 * @module
 */
import { Buffer } from "node:buffer";
import type { NarNode } from "../nar/nar_writer.ts";
import { writeNar } from "../nar/nar_writer.ts";
import { NarError } from "../nar/nar_error.ts";

/** Files up to this size are read in one synchronous call. */
const WHOLE_FILE = 128 << 10;
/** Larger files are read in chunks of this size, one chunk ahead. */
const CHUNK = 1 << 20;

/**
 * Buffers reused across the files of one dump: a file's chunks are consumed
 * before the next file is read, so one set serves a whole tree (and memory
 * stays flat however many files there are).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DumpBuffers } from "./dump_path.ts";
 * assert.equal(new DumpBuffers().large.length, 2);
 * ```
 */
export class DumpBuffers {
  /** For small files, read whole (one byte more than expected shows growth). */
  readonly small: Uint8Array = new Uint8Array(WHOLE_FILE + 1);
  /** For large files, two chunks taking turns. */
  readonly large: Uint8Array[] = [new Uint8Array(CHUNK), new Uint8Array(CHUNK)];
}

function fileContents(
  fsPath: string,
  size: number,
  buffers: DumpBuffers,
): Iterable<Uint8Array> | AsyncIterable<Uint8Array> {
  // Small files are read synchronously: an async file operation costs more
  // than reading a few KiB, and trees have many small files.
  return size <= WHOLE_FILE
    ? [readSmallFile(fsPath, buffers.small)]
    : largeFileContents(fsPath, buffers.large);
}

function readSmallFile(fsPath: string, buf: Uint8Array): Uint8Array {
  using f = Deno.openSync(fsPath);
  let filled = 0;
  while (filled < buf.length) {
    const n = f.readSync(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return buf.subarray(0, filled);
}

/** Read into `buf` until it is full or the file ends; returns the bytes read. */
async function fill(f: Deno.FsFile, buf: Uint8Array): Promise<number> {
  let filled = 0;
  while (filled < buf.length) {
    const n = await f.read(buf.subarray(filled));
    if (n === null) break;
    filled += n;
  }
  return filled;
}

/**
 * A large file in chunks, reading the next chunk while the consumer handles
 * the current one; the two buffers take turns, so each chunk is valid only
 * until the next one is requested.
 */
async function* largeFileContents(
  fsPath: string,
  buffers: Uint8Array[],
): AsyncGenerator<Uint8Array> {
  using f = Deno.openSync(fsPath);
  let turn = 0;
  let next = fill(f, buffers[0]!);
  while (true) {
    const n = await next;
    if (n === 0) return;
    const current = buffers[turn]!;
    turn ^= 1;
    next = n === CHUNK ? fill(f, buffers[turn]!) : Promise.resolve(0);
    yield current.subarray(0, n);
  }
}

const NON_ASCII = /[\u0080-\uffff]/;

/**
 * Sort names by their UTF-8 bytes, as Nix does. For ASCII names the order of
 * JS strings is the same, so bytes are only made when a name needs them.
 */
function sortByNameBytes(names: string[]): string[] {
  if (!names.some((n) => NON_ASCII.test(n))) return names.sort();
  return names
    .map((n) => [Buffer.from(n), n] as const)
    .sort(([a], [b]) => Buffer.compare(a, b))
    .map(([, n]) => n);
}

/**
 * The NAR tree of a filesystem path (not following a symlink at the top).
 *
 * @param fsPath The path.
 * @param narPath The entry path used in error messages.
 * @param buffers Read buffers shared by the files of one dump.
 * @returns Its lazy node.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narNodeFromPath } from "./dump_path.ts";
 * const dir = await Deno.makeTempDir();
 * assert.equal(narNodeFromPath(dir).type, "directory");
 * await Deno.remove(dir);
 * ```
 */
export function narNodeFromPath(
  fsPath: string,
  narPath = "",
  buffers: DumpBuffers = new DumpBuffers(),
): NarNode {
  // Metadata is read synchronously (see fileContents).
  const st = Deno.lstatSync(fsPath);
  if (st.isSymlink) return { type: "symlink", target: Deno.readLinkSync(fsPath) };
  if (st.isFile) {
    const size = st.size;
    return {
      type: "regular",
      executable: ((st.mode ?? 0) & 0o100) !== 0,
      size,
      contents: () => fileContents(fsPath, size, buffers),
    };
  }
  if (st.isDirectory) {
    return {
      type: "directory",
      entries: function* () {
        const names: string[] = [];
        for (const e of Deno.readDirSync(fsPath)) names.push(e.name);
        for (const name of sortByNameBytes(names)) {
          const child = narPath === "" ? name : `${narPath}/${name}`;
          yield [name, narNodeFromPath(`${fsPath}/${name}`, child, buffers)];
        }
      },
    };
  }
  throw new NarError(-1, narPath, `"${fsPath}" is not a regular file, directory or symlink`);
}

/**
 * The NAR of a filesystem path, in chunks. A chunk is valid only until the
 * next one is requested (buffers are reused): copy it to keep it.
 *
 * @param fsPath The path.
 * @returns The NAR bytes.
 *
 * @example Hashing a directory like `nix hash path`
 * ```ts
 * import assert from "node:assert/strict";
 * import { dumpPath } from "./dump_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * let size = 0;
 * for await (const c of dumpPath(dir)) size += c.length;
 * assert.ok(size > 0);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function* dumpPath(fsPath: string): AsyncGenerator<Uint8Array> {
  yield* writeNar(narNodeFromPath(fsPath));
}
