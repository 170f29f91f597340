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
import { join } from "node:path";
import { Buffer } from "node:buffer";
import type { NarNode } from "../nar/nar_writer.ts";
import { writeNar } from "../nar/nar_writer.ts";
import { NarError } from "../nar/nar_error.ts";

/** Files up to this size are read in one call. */
const WHOLE_FILE = 1 << 20;
/** Larger files are read in chunks of this size. */
const CHUNK = 1 << 20;

async function* fileContents(fsPath: string, size: number): AsyncGenerator<Uint8Array> {
  if (size <= WHOLE_FILE) {
    yield await Deno.readFile(fsPath);
    return;
  }
  using f = await Deno.open(fsPath);
  while (true) {
    const buf = new Uint8Array(CHUNK);
    let filled = 0;
    while (filled < CHUNK) {
      const n = await f.read(buf.subarray(filled));
      if (n === null) break;
      filled += n;
    }
    if (filled === 0) return;
    yield filled === CHUNK ? buf : buf.subarray(0, filled);
    if (filled < CHUNK) return;
  }
}

function byNameBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}

/**
 * The NAR tree of a filesystem path (not following a symlink at the top).
 *
 * @param fsPath The path.
 * @param narPath The entry path used in error messages.
 * @returns Its lazy node.
 */
export async function narNodeFromPath(fsPath: string, narPath = ""): Promise<NarNode> {
  const st = await Deno.lstat(fsPath);
  if (st.isSymlink) return { type: "symlink", target: await Deno.readLink(fsPath) };
  if (st.isFile) {
    const size = st.size;
    return {
      type: "regular",
      executable: ((st.mode ?? 0) & 0o100) !== 0,
      size,
      contents: () => fileContents(fsPath, size),
    };
  }
  if (st.isDirectory) {
    return {
      type: "directory",
      entries: async function* () {
        const names: string[] = [];
        for await (const e of Deno.readDir(fsPath)) names.push(e.name);
        names.sort(byNameBytes);
        for (const name of names) {
          const child = narPath === "" ? name : `${narPath}/${name}`;
          yield [name, await narNodeFromPath(join(fsPath, name), child)];
        }
      },
    };
  }
  throw new NarError(-1, narPath, `"${fsPath}" is not a regular file, directory or symlink`);
}

/**
 * The NAR of a filesystem path, in chunks.
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
  yield* writeNar(await narNodeFromPath(fsPath));
}
