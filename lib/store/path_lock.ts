/**
 * Lock files, as Nix uses them: an exclusive `flock` on `<path>.lock` so
 * that processes importing or building the same store path do it once and
 * the others wait. The holder deletes the file when done; a waiter that then
 * gets the lock on the deleted file notices (the path no longer names the
 * file it holds) and tries again.
 *
 * A lock file `P.lock` is also a legal store path name, so the file may be a
 * valid store path. Opening never changes it (read-only when it exists,
 * never through a symlink, never truncated), and a release only deletes the
 * file when the path still names the very file held and the owner's `keep`
 * check (is it a valid store path?) says no.
 *
 * @module
 */

import { BuildhostError } from "../errors.ts";

/** The lock file is a symlink (which is never followed): a store path of that name. */
export class LockIsSymlinkError extends BuildhostError {
  override name = "LockIsSymlinkError";
}

/** Options of {@linkcode FileLock.acquire}. */
export interface FileLockOptions {
  /** Exclusive (default) or shared. */
  exclusive?: boolean;
  /** Asked at release: true when the file must stay (it is a store path). */
  keep?: () => boolean;
}

/**
 * Open the lock file without changing it: read-only when it exists, created
 * empty when not (`created`). A symlink is refused (Deno cannot open with
 * `O_NOFOLLOW`, so it is checked with `lstat` first, and what was opened is
 * checked after).
 */
function openLockFile(path: string): { file: Deno.FsFile; created: boolean } {
  while (true) {
    // The common case first: no lock file yet. An exclusive create never
    // follows a symlink (an existing one makes it fail as any name does).
    try {
      const file = Deno.openSync(path, {
        read: true,
        write: true,
        createNew: true,
        mode: 0o600,
      });
      return { file, created: true };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e; // there is one: open it
    }
    const st = lstatOrUndefined(path);
    if (!st) continue; // deleted meanwhile: create it
    if (st.isSymlink) throw new LockIsSymlinkError(`Cannot lock "${path}": it is a symlink`);
    let file: Deno.FsFile;
    try {
      // Writable when it can be (to mark it stale before deleting it, as
      // Nix does), never truncated; a directory is opened read-only.
      file = st.isFile ? openWritableOrNot(path) : Deno.openSync(path, { read: true });
    } catch (e) {
      if (e instanceof Deno.errors.NotFound) continue; // deleted meanwhile
      throw e;
    }
    if (sameFile(file.statSync(), st)) return { file, created: false };
    file.close(); // replaced meanwhile: look again
  }
}

/** What a lock file holds once its holder has deleted it. */
const STALE_MARK = new TextEncoder().encode("d");

function openWritableOrNot(path: string): Deno.FsFile {
  try {
    return Deno.openSync(path, { read: true, write: true });
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    return Deno.openSync(path, { read: true });
  }
}

function sameFile(a: Deno.FileInfo, b: Deno.FileInfo | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
}

function lstatOrUndefined(path: string): Deno.FileInfo | undefined {
  try {
    return Deno.lstatSync(path);
  } catch {
    return undefined;
  }
}

/**
 * A held lock; release it with `using` or {@linkcode FileLock.release}.
 *
 * A lock file this process created (the common case) needs fewer checks:
 * while its inode is still linked (`nlink` > 0) it is the file at its path,
 * as nobody renames or links lock files, and it cannot have become a store
 * path, since an importer of the path of that name must hold this very lock
 * (see {@linkcode StorePathLock}).
 */
export class FileLock implements Disposable {
  #file: Deno.FsFile | undefined;
  readonly #held: Deno.FileInfo;
  readonly #keep: (() => boolean) | undefined;
  private constructor(
    readonly path: string,
    file: Deno.FsFile,
    held: Deno.FileInfo,
    keep: (() => boolean) | undefined,
  ) {
    this.#file = file;
    this.#held = held;
    this.#keep = keep;
  }

  /**
   * Wait for and take an exclusive (or shared) lock on `path`, creating it.
   *
   * @param path The lock file.
   * @param options Exclusive (default) or shared; what must never be deleted.
   * @returns The held lock.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileLock } from "./path_lock.ts";
   * const dir = await Deno.makeTempDir();
   * {
   *   using lock = await FileLock.acquire(`${dir}/x.lock`);
   *   assert.equal(lock.path, `${dir}/x.lock`);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async acquire(path: string, options: FileLockOptions = {}): Promise<FileLock> {
    while (true) {
      const { file, created } = openLockFile(path);
      try {
        await file.lock(options.exclusive ?? true);
        const held = file.statSync();
        // Still the file at `path`? Else the previous holder deleted it.
        const linked = created ? held.nlink : null; // null: not known here
        if (linked !== null ? linked > 0 : sameFile(held, lstatOrUndefined(path))) {
          return new FileLock(path, file, held, created ? undefined : options.keep);
        }
      } catch (e) {
        file.close();
        throw e;
      }
      file.close(); // stale: the previous holder removed it; try again
    }
  }

  /**
   * Release the lock; `remove` also deletes the lock file (only for
   * exclusive locks), unless it is no longer the file held or `keep` says
   * it must stay. As the file is deleted while it is still locked, whoever
   * replaces it must hold this lock too.
   */
  release(remove = false): void {
    const f = this.#file;
    if (!f) return;
    this.#file = undefined;
    try {
      if (remove && sameFile(this.#held, lstatOrUndefined(this.path)) && !this.#keep?.()) {
        // Mark it stale for waiters that check its size (Nix), then delete it.
        try {
          f.writeSync(STALE_MARK);
        } catch { /* opened read-only: waiters see it is gone */ }
        Deno.removeSync(this.path);
      }
    } catch { /* already gone, or the check failed: the file stays */ }
    f.close();
  }

  /** Releases the lock without deleting the file. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/**
 * The lock of a store path `P`: `P.lock`, as Nix. When `P`'s own name ends
 * in `.lock`, `P` is also the lock file of another path (`P` without
 * `.lock`), so its importer holds that lock too before it puts `P` in
 * place: a holder of the other path's lock can then never delete `P`.
 */
export class StorePathLock implements Disposable {
  private constructor(readonly locks: FileLock[]) {}

  /**
   * Wait for and take the lock of the store path whose files are at `real`.
   *
   * @param real The physical path of the store path.
   * @param isStorePath Whether a file in the store directory, by name, is a
   * valid store path (such a file is never deleted as a lock file).
   * @returns The held lock.
   */
  static async acquire(
    real: string,
    isStorePath: (fileName: string) => boolean,
  ): Promise<StorePathLock> {
    const keep = (file: string) => () => isStorePath(file.slice(file.lastIndexOf("/") + 1));
    const locks: FileLock[] = [];
    try {
      const own = `${real}.lock`;
      try {
        locks.push(await FileLock.acquire(own, { keep: keep(own) }));
      } catch (e) {
        if (!(e instanceof LockIsSymlinkError)) throw e;
        throw new PathLockError(
          `Cannot lock "${real}": its lock file "${own}" is a symlink (a store path of that name)`,
        );
      }
      if (real.endsWith(".lock")) {
        try {
          locks.push(await FileLock.acquire(real, { keep: keep(real) }));
        } catch (e) {
          // A symlink there is a store path, not a lock anyone can hold.
          if (!(e instanceof LockIsSymlinkError)) throw e;
        }
      }
    } catch (e) {
      for (const l of locks.reverse()) l.release(true);
      throw e;
    }
    return new StorePathLock(locks);
  }

  /** Release the lock, deleting lock files that are not store paths. */
  release(): void {
    for (const l of [...this.locks].reverse()) l.release(true);
  }

  /** Same as {@linkcode StorePathLock.release}. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/** A store path's lock cannot be taken. */
export class PathLockError extends BuildhostError {
  override name = "PathLockError";
}
