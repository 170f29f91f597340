/**
 * Restoring a NAR into the filesystem, as `nix-store --restore` does in Nix
 * 2.8: directories are created with mode 0777 and files with 0666, both less
 * the umask; an executable file then gets the three execute bits added
 * (0755 under umask 022); symlinks are created as symlinks. File contents
 * are streamed to disk chunk by chunk, so memory stays bounded.
 *
 * Safety:
 * - The target must not exist; every entry is created new (`mkdir`,
 *   exclusive `open`, `symlink` all fail on an existing name), so nothing is
 *   ever written through an existing file or symlink.
 * - Entries are checked to form a tree below the target, whatever produced
 *   them: the first is the root (""), each other one is a valid name inside
 *   a directory created by this restore, in document order. So no path can
 *   leave the target, not even through a symlink the NAR itself created.
 * - On any error, from the entries or from the filesystem, everything
 *   created is removed before the error is rethrown.
 *
 * @module
 */
import { join } from "../posix_path.ts";
import type { NarEntry } from "../nar/nar_reader.ts";
import { badEntryName } from "../nar/tokens.ts";
import { BuildhostError } from "../errors.ts";
import { setSymlinkTimes } from "./canonicalise.ts";

/**
 * The target of a restore could not be written, or the entries do not form
 * a tree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RestoreError } from "./restore_path.ts";
 * assert.ok(new RestoreError("x") instanceof Error);
 * ```
 */
export class RestoreError extends BuildhostError {
  override name = "RestoreError";
}

/**
 * Remove a path and everything below it, restoring write permission on
 * directories first (store paths are read-only). Missing paths are fine; a
 * symlink is removed, never followed.
 *
 * @param path The path to remove.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeTree } from "./restore_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/a`, { mode: 0o555 });
 * await removeTree(dir);
 * await assert.rejects(Deno.lstat(dir));
 * ```
 */
export async function removeTree(path: string): Promise<void> {
  // One call does it when permissions allow (root, or writable directories).
  try {
    await Deno.remove(path, { recursive: true });
    return;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
  }
  await removeWritable(path);
}

async function removeWritable(path: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (st.isDirectory) {
    await Deno.chmod(path, 0o700).catch(() => {});
    for await (const e of Deno.readDir(path)) await removeWritable(join(path, e.name));
  }
  await Deno.remove(path);
}

const encoder = new TextEncoder();
const EMPTY = new Uint8Array(0);
/** The times of every entry of a store path: 1 s after the epoch. */
const CANONICAL_TIME = 1;

/** Options of {@linkcode restorePath}. */
export interface RestoreOptions {
  /**
   * Create the tree as a store path's files straight away, as
   * `canonicalisePath` would leave them: files 0444 (0555 when executable),
   * directories 0555 once their entries are in, every entry's times 1 (a
   * symlink's own), each set on what was just made instead of by a second
   * walk of the tree. Otherwise as `nix-store --restore`: modes from the
   * umask, times of the restore.
   */
  canonical?: boolean;
}

/** The process's umask, asked once (nothing here changes it); null when it cannot be asked. */
let umask: number | null | undefined;

/** Whether creating with `mode` gives the file all of it (the umask takes none of its bits). */
function umaskKeeps(mode: number): boolean {
  if (umask === undefined) {
    try {
      umask = Deno.umask();
    } catch {
      umask = null; // cannot tell: modes are set after creation
    }
  }
  return umask !== null && (umask & mode) === 0;
}

/**
 * How many bytes of a file are gathered before they are written. A NAR read
 * from the wire hands a large file on in pieces as they arrived (4 to 32
 * KiB over ssh-ng, as the client framed them), each a system call of its
 * own if written as it comes.
 */
const WRITE_GATHER = 256 * 1024;

/** A file's contents, written whole: in one call when they come in one piece, else gathered. */
class ContentsWriter {
  #buffer: Uint8Array | undefined;

  async write(f: Deno.FsFile, size: number, contents: AsyncIterable<Uint8Array>): Promise<void> {
    let held = 0;
    let seen = 0;
    for await (const chunk of contents) {
      seen += chunk.length;
      if (held === 0 && (seen === size || chunk.length >= WRITE_GATHER)) {
        writeAll(f, chunk); // the whole rest at once, or large enough as it is
        continue;
      }
      const buffer = this.#buffer ??= new Uint8Array(WRITE_GATHER);
      if (held + chunk.length > buffer.length) {
        writeAll(f, buffer.subarray(0, held));
        held = 0;
        if (chunk.length >= buffer.length) {
          writeAll(f, chunk);
          continue;
        }
      }
      buffer.set(chunk, held);
      held += chunk.length;
    }
    if (held > 0) writeAll(f, this.#buffer!.subarray(0, held));
  }
}

function writeAll(f: Deno.FsFile, bytes: Uint8Array): void {
  let off = 0;
  while (off < bytes.length) off += f.writeSync(bytes.subarray(off));
}

/** A name that is surely allowed (the common case, checked without encoding it). */
function plainName(name: string): boolean {
  return name.length > 0 && name.length <= 85 && name !== "." && name !== ".." &&
    !name.includes("/") && !name.includes("\0");
}

/**
 * Create `target` from NAR entries (a file, a symlink or a directory tree).
 *
 * @param target A path that does not exist yet.
 * @param entries The entries, e.g. from `readNar` or `narEntries`.
 * @throws {RestoreError} When the target exists or the entries do not form a
 * tree; otherwise whatever the entries or the filesystem throw (a `NarError`
 * for a malformed NAR). Nothing is left behind in either case.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narEntries } from "../nar/nar_reader.ts";
 * import { dumpPath } from "./dump_path.ts";
 * import { restorePath } from "./restore_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * await restorePath(`${dir}/copy`, narEntries(dumpPath(`${dir}/a`)));
 * assert.equal(await Deno.readTextFile(`${dir}/copy`), "x");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function restorePath(
  target: string,
  entries: AsyncIterable<NarEntry>,
  options: RestoreOptions = {},
): Promise<void> {
  // Filesystem calls are synchronous: a restore creates many small files,
  // and an async call costs more than the work.
  let created = false;
  let mode: number | undefined;
  /** The directories that may still get entries: the chain from the root to the last one. */
  const open: string[] = [];
  let rootDone = false;
  const canonical = options.canonical === true;
  const contents = new ContentsWriter();
  /** A canonical file's mode is given at its creation, unless the umask would take bits of it. */
  const modeAtCreation = canonical && umaskKeeps(0o555);
  /** A canonical restore opens each new directory to its owner when the umask kept it closed. */
  const mustOpenDirs = canonical && !umaskKeeps(0o700);
  /** A directory that gets no more entries: canonical now. */
  const closeDirectory = (p: string) => {
    const fsPath = p === "" ? target : `${target}/${p}`;
    Deno.chmodSync(fsPath, 0o555);
    Deno.utimeSync(fsPath, CANONICAL_TIME, CANONICAL_TIME);
  };
  try {
    for await (const entry of entries) {
      const p = entry.path;
      if (rootDone) {
        throw new RestoreError(
          `Cannot restore "${target}": entry "${p}" follows a root that is not a directory`,
        );
      }
      if (p === "") {
        if (created) throw new RestoreError(`Cannot restore "${target}": the root comes twice`);
        rootDone = entry.type !== "directory";
      } else {
        const slash = p.lastIndexOf("/");
        const parent = slash < 0 ? "" : p.slice(0, slash);
        while (open.length > 0 && open[open.length - 1] !== parent) {
          const done = open.pop()!;
          if (canonical) closeDirectory(done);
        }
        const name = p.slice(slash + 1);
        const bad = slash === 0
          ? "it starts with '/'"
          : plainName(name)
          ? undefined
          : badEntryName(encoder.encode(name));
        if (!created || open.length === 0 || bad) {
          throw new RestoreError(
            `Cannot restore "${target}": entry "${p}" is not ${
              bad ? `valid (${bad})` : "in a directory restored before it"
            }`,
          );
        }
      }
      const fsPath = p === "" ? target : `${target}/${p}`;
      try {
        switch (entry.type) {
          case "directory":
            Deno.mkdirSync(fsPath, { mode: 0o777 });
            created = true;
            // Its entries must go in whatever the umask took (it is made 0555 after them).
            if (mustOpenDirs) Deno.chmodSync(fsPath, 0o700);
            open.push(p);
            break;
          case "symlink":
            Deno.symlinkSync(entry.target, fsPath);
            created = true;
            if (canonical) setSymlinkTimes(fsPath, CANONICAL_TIME);
            break;
          case "regular": {
            if (canonical) {
              const want = entry.executable ? 0o555 : 0o444;
              using f = Deno.openSync(fsPath, { write: true, createNew: true, mode: want });
              created = true;
              if (!modeAtCreation) Deno.chmodSync(fsPath, want);
              if (entry.size > 0) await contents.write(f, entry.size, entry.contents);
              f.utimeSync(CANONICAL_TIME, CANONICAL_TIME); // after the last write
              break;
            }
            if (entry.size === 0 && !entry.executable) {
              // One call and no file object (0666 less the umask, as `open`
              // below): many NARs hold many empty files.
              Deno.writeFileSync(fsPath, EMPTY, { createNew: true });
              created = true;
              break;
            }
            using f = Deno.openSync(fsPath, { write: true, createNew: true, mode: 0o666 });
            created = true;
            // As Nix: the mode the file got (0666 less the umask) plus the
            // execute bits; the same for every file of one restore.
            if (entry.executable) {
              Deno.chmodSync(fsPath, mode ??= ((f.statSync().mode ?? 0o644) & 0o7777) | 0o111);
            }
            if (entry.size === 0) break; // nothing to write (the reader skips the contents)
            await contents.write(f, entry.size, entry.contents);
            break;
          }
          default:
            throw new RestoreError(`Cannot restore "${fsPath}": unknown entry type`);
        }
      } catch (e) {
        if (p === "" && e instanceof Deno.errors.AlreadyExists) {
          throw new RestoreError(`Cannot restore into "${target}": it already exists`);
        }
        throw e;
      }
    }
    if (!created) throw new RestoreError(`Cannot restore "${target}": there were no entries`);
    if (canonical) { while (open.length > 0) closeDirectory(open.pop()!); }
  } catch (e) {
    if (created) await removeTree(target).catch(() => {});
    throw e;
  }
}
