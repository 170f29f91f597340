/**
 * Lock files, as Nix uses them: an exclusive `flock` on `<path>.lock` so
 * that processes importing or building the same store path do it once and
 * the others wait. The holder deletes the file when done; a waiter that then
 * gets the lock on the deleted file notices (the path no longer names the
 * file it holds) and tries again.
 *
 * @module
 */

/** A held lock; release it with `using` or {@linkcode FileLock.release}. */
export class FileLock implements Disposable {
  #file: Deno.FsFile | undefined;
  private constructor(readonly path: string, file: Deno.FsFile) {
    this.#file = file;
  }

  /**
   * Wait for and take an exclusive (or shared) lock on `path`, creating it.
   *
   * @param path The lock file.
   * @param exclusive Exclusive (default) or shared.
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
  static async acquire(path: string, exclusive = true): Promise<FileLock> {
    while (true) {
      const file = Deno.openSync(path, { read: true, write: true, create: true });
      try {
        await file.lock(exclusive);
        const held = file.statSync();
        let now: Deno.FileInfo | undefined;
        try {
          now = Deno.statSync(path);
        } catch { /* deleted by the previous holder */ }
        if (now && now.ino === held.ino && now.dev === held.dev) return new FileLock(path, file);
      } catch (e) {
        file.close();
        throw e;
      }
      file.close(); // stale: the previous holder removed it; try again
    }
  }

  /** Release the lock; `remove` also deletes the lock file (only for exclusive locks). */
  release(remove = false): void {
    const f = this.#file;
    if (!f) return;
    this.#file = undefined;
    if (remove) {
      try {
        Deno.removeSync(this.path);
      } catch { /* already gone */ }
    }
    f.close();
  }

  /** Releases the lock without deleting the file. */
  [Symbol.dispose](): void {
    this.release();
  }
}
