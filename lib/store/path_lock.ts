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
import { type FileIdentity, type LockFileHandle, type LockFiles, lockFiles } from "./lock_file.ts";

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
 * empty when not (`created`). A symlink is refused: looked for with `lstat`
 * first, and what was opened is checked after (Deno's API cannot open with
 * `O_NOFOLLOW`; through libc the open itself refuses one).
 */
function openLockFile(files: LockFiles, path: string): { file: LockFileHandle; created: boolean } {
  while (true) {
    // The common case first: no lock file yet. An exclusive create never
    // follows a symlink (an existing one makes it fail as any name does).
    try {
      return { file: files.open(path, "create"), created: true };
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e; // there is one: open it
    }
    const st = files.lstat(path);
    if (!st) continue; // deleted meanwhile: create it
    if (st.isSymlink) throw new LockIsSymlinkError(`Cannot lock "${path}": it is a symlink`);
    let file: LockFileHandle;
    try {
      // Writable when it can be (to mark it stale before deleting it, as
      // Nix does), never truncated; a directory is opened read-only.
      file = st.isFile ? openWritableOrNot(files, path) : files.open(path, "readOnly");
    } catch (e) {
      // Deleted meanwhile, or replaced by a symlink (the next look says so).
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.FilesystemLoop) continue;
      throw e;
    }
    if (sameFile(file.identity(), st)) return { file, created: false };
    file.close(); // replaced meanwhile: look again
  }
}

/** What a lock file holds once its holder has deleted it. */
const STALE_MARK = new TextEncoder().encode("d");

function openWritableOrNot(files: LockFiles, path: string): LockFileHandle {
  try {
    return files.open(path, "readWrite");
  } catch (e) {
    if (!(e instanceof Deno.errors.PermissionDenied)) throw e;
    return files.open(path, "readOnly");
  }
}

function sameFile(a: FileIdentity, b: FileIdentity | undefined): boolean {
  return b !== undefined && a.ino === b.ino && a.dev === b.dev;
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
  #file: LockFileHandle | undefined;
  readonly #held: FileIdentity;
  readonly #keep: (() => boolean) | undefined;
  readonly #files: LockFiles;
  private constructor(
    readonly path: string,
    file: LockFileHandle,
    held: FileIdentity,
    keep: (() => boolean) | undefined,
    files: LockFiles,
  ) {
    this.#file = file;
    this.#held = held;
    this.#keep = keep;
    this.#files = files;
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
    const files = lockFiles();
    const exclusive = options.exclusive ?? true;
    while (true) {
      const { file, created } = openLockFile(files, path);
      try {
        if (file.tryLock(exclusive) !== true) await file.lock(exclusive);
      } catch (e) {
        file.close();
        throw e;
      }
      const lock = FileLock.#ifCurrent(files, path, file, created, options);
      if (lock) return lock; // else stale: the previous holder removed it; try again
    }
  }

  /**
   * Take the lock on `path` if nobody holds it, without waiting.
   *
   * @param path The lock file.
   * @param options As for {@linkcode FileLock.acquire}.
   * @returns The held lock; undefined when another holds it, or when locks
   * cannot be tried here (without FFI): then {@linkcode FileLock.acquire}.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { FileLock } from "./path_lock.ts";
   * const dir = await Deno.makeTempDir();
   * const first = FileLock.tryAcquire(`${dir}/x.lock`);
   * if (first) {
   *   assert.equal(FileLock.tryAcquire(`${dir}/x.lock`), undefined); // held
   *   first.release(true);
   * }
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static tryAcquire(path: string, options: FileLockOptions = {}): FileLock | undefined {
    const files = lockFiles();
    if (!files.canTry) return undefined;
    const exclusive = options.exclusive ?? true;
    while (true) {
      const { file, created } = openLockFile(files, path);
      let taken: boolean | undefined;
      try {
        taken = file.tryLock(exclusive);
      } catch (e) {
        file.close();
        throw e;
      }
      if (!taken) {
        file.close();
        return undefined;
      }
      const lock = FileLock.#ifCurrent(files, path, file, created, options);
      if (lock) return lock; // else stale: the previous holder removed it; try again
    }
  }

  /**
   * The lock on `file`, now taken, if it is still the file at `path`; else
   * (the previous holder deleted it) undefined, and `file` is closed, as it
   * is on an error.
   */
  static #ifCurrent(
    files: LockFiles,
    path: string,
    file: LockFileHandle,
    created: boolean,
    options: FileLockOptions,
  ): FileLock | undefined {
    try {
      const held = file.identity();
      if (created ? held.nlink > 0 : sameFile(held, files.lstat(path))) {
        return new FileLock(path, file, held, created ? undefined : options.keep, files);
      }
    } catch (e) {
      file.close();
      throw e;
    }
    file.close();
    return undefined;
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
      if (remove && sameFile(this.#held, this.#files.lstat(this.path)) && !this.#keep?.()) {
        // Mark it stale for waiters that check its size (Nix), then delete it.
        try {
          f.write(STALE_MARK);
        } catch { /* opened read-only: waiters see it is gone */ }
        this.#files.unlink(this.path);
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
        throw ownLockError(e, real, own);
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

  /**
   * Take the lock of the store path whose files are at `real` if nobody
   * holds it, without waiting.
   *
   * @param real The physical path of the store path.
   * @param isStorePath As for {@linkcode StorePathLock.acquire}.
   * @returns The held lock; undefined when another holds it, when locks
   * cannot be tried here, or for a path whose own name ends in `.lock` (two
   * locks): then {@linkcode StorePathLock.acquire}.
   */
  static tryAcquire(
    real: string,
    isStorePath: (fileName: string) => boolean,
  ): StorePathLock | undefined {
    if (real.endsWith(".lock")) return undefined;
    const own = `${real}.lock`;
    let lock: FileLock | undefined;
    try {
      lock = FileLock.tryAcquire(own, {
        keep: () => isStorePath(own.slice(own.lastIndexOf("/") + 1)),
      });
    } catch (e) {
      throw ownLockError(e, real, own);
    }
    return lock && new StorePathLock([lock]);
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

/** What taking a path's own lock file threw, said as a path lock error when it is a symlink. */
function ownLockError(e: unknown, real: string, own: string): unknown {
  if (!(e instanceof LockIsSymlinkError)) return e;
  return new PathLockError(
    `Cannot lock "${real}": its lock file "${own}" is a symlink (a store path of that name)`,
  );
}

/** A store path's lock cannot be taken. */
export class PathLockError extends BuildhostError {
  override name = "PathLockError";
}
