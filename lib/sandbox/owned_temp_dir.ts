/**
 * Temporary directories that outlive a killed owner only until the next
 * build: each directory `D` (with siblings `D<suffix>`, e.g. `D.chroot`)
 * has a lock file `D.owner` on which its owner holds an exclusive `flock`
 * for as long as it uses them. The kernel drops the lock when the owner
 * dies, however it dies (SIGKILL included), so whoever can take the lock
 * knows that nobody uses `D` any more and removes it.
 *
 * - A live owner's directory is never removed: its lock cannot be taken
 *   (not even by another build of the same process: locks are per open
 *   file).
 * - A directory without an `.owner` file is left alone (e.g. one kept with
 *   `--keep-failed`, whose lock file is removed when it is kept).
 * - The lock file is opened close-on-exec, so no builder inherits it.
 *
 * `flock` with `LOCK_NB` is not in Deno's API: it is called through FFI
 * (`--allow-ffi`, part of `-A`).
 *
 * @module
 */
import { errno, openLibc } from "../libc.ts";
import { removeTree } from "../store/restore_path.ts";

const O_RDWR = 0o2;
const O_CREAT = 0o100;
const O_CLOEXEC = 0o2000000;
const LOCK_EX = 2;
const LOCK_NB = 4;
const EINTR = 4;

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  try {
    libc = openLibc(SYMBOLS);
  } catch (e) {
    throw new Error(`Cannot lock temporary directories: ${(e as Error).message}`);
  }
  return libc;
}

/** The suffix of a directory's lock file. */
export const OWNER_SUFFIX = ".owner";

/** Take the lock on `path` without waiting; the fd, or -1 if it is held (or absent and not `create`). */
function tryLock(path: string, create: boolean): number {
  const c = loadLibc();
  const fd = c.open(
    new TextEncoder().encode(path + "\0"),
    O_RDWR | O_CLOEXEC | (create ? O_CREAT : 0),
    0o600,
  );
  if (fd < 0) return -1;
  for (;;) {
    if (c.flock(fd, LOCK_EX | LOCK_NB) === 0) {
      // The previous holder may have removed the file after we opened it.
      try {
        const now = Deno.statSync(path);
        const held = Deno.statSync(`/proc/self/fd/${fd}`);
        if (now.ino === held.ino && now.dev === held.dev) return fd;
      } catch { /* removed */ }
      c.close(fd);
      return -1;
    }
    if (errno(c) !== EINTR) break;
  }
  c.close(fd);
  return -1;
}

/**
 * A temporary directory held by this process, removed with its siblings
 * by {@linkcode OwnedTempDir.remove}, or by {@linkcode reclaimStale} once
 * this process is gone.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { OwnedTempDir, reclaimStale } from "./owned_temp_dir.ts";
 * const parent = await Deno.makeTempDir();
 * const dir = OwnedTempDir.create(parent, "x-");
 * await reclaimStale(parent, "x-");
 * assert.ok(Deno.statSync(dir.path).isDirectory); // alive: kept
 * await dir.remove();
 * assert.deepEqual([...Deno.readDirSync(parent)], []);
 * await Deno.remove(parent);
 * ```
 */
export class OwnedTempDir {
  #fd: number;

  private constructor(readonly path: string, readonly siblings: readonly string[], fd: number) {
    this.#fd = fd;
  }

  /**
   * Make a new directory `<parent>/<prefix><random>` (mode 0700), locked.
   *
   * @param parent Where.
   * @param prefix The start of its name.
   * @param siblings Suffixes of paths next to it that belong to it (e.g. `.chroot`).
   * @returns The held directory.
   */
  static create(parent: string, prefix: string, siblings: readonly string[] = []): OwnedTempDir {
    for (;;) {
      const random = crypto.getRandomValues(new Uint8Array(8));
      const name = prefix + [...random].map((b) => b.toString(16).padStart(2, "0")).join("");
      const held = OwnedTempDir.claim(`${parent}/${name}`, siblings);
      if (held) return held;
    }
  }

  /**
   * Lock `path` and make it (mode 0700), unless it is taken: held by a live
   * owner or already there.
   *
   * @param path The directory.
   * @param siblings Suffixes of paths next to it that belong to it.
   * @returns The held directory, or `null`.
   */
  static claim(path: string, siblings: readonly string[] = []): OwnedTempDir | null {
    const fd = tryLock(path + OWNER_SUFFIX, true);
    if (fd < 0) return null;
    try {
      Deno.mkdirSync(path, { mode: 0o700 });
    } catch (e) {
      loadLibc().close(fd);
      if (e instanceof Deno.errors.AlreadyExists) return null;
      throw e;
    }
    return new OwnedTempDir(path, siblings, fd);
  }

  /** Remove the directory and its siblings, then the lock file, and let go. */
  async remove(): Promise<void> {
    if (this.#fd < 0) return;
    for (const p of [this.path, ...this.siblings.map((s) => this.path + s)]) await removeTree(p);
    this.disown();
  }

  /**
   * Let go without removing anything: the lock file goes, so that the
   * directory is kept (not reclaimed) until someone removes it.
   */
  disown(): void {
    if (this.#fd < 0) return;
    try {
      Deno.removeSync(this.path + OWNER_SUFFIX);
    } catch { /* gone already */ }
    loadLibc().close(this.#fd);
    this.#fd = -1;
  }
}

/**
 * Remove the temporaries in `parent` whose name starts with `prefix` and
 * whose owner is gone (their `.owner` lock can be taken), with their
 * siblings.
 *
 * @param parent The directory holding them.
 * @param prefix The start of their names.
 * @param siblings Suffixes of paths next to each that belong to it.
 * @returns The directories removed.
 */
export async function reclaimStale(
  parent: string,
  prefix: string,
  siblings: readonly string[] = [],
): Promise<string[]> {
  const removed: string[] = [];
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(parent)];
  } catch {
    return removed;
  }
  for (const e of entries) {
    if (!e.name.startsWith(prefix) || !e.name.endsWith(OWNER_SUFFIX)) continue;
    const path = `${parent}/${e.name.slice(0, -OWNER_SUFFIX.length)}`;
    const fd = tryLock(path + OWNER_SUFFIX, false);
    if (fd < 0) continue;
    try {
      for (const p of [path, ...siblings.map((s) => path + s)]) await removeTree(p);
      Deno.removeSync(path + OWNER_SUFFIX);
      removed.push(path);
    } catch {
      // Could not remove it all (permissions?): the next one tries again.
    } finally {
      loadLibc().close(fd);
    }
  }
  return removed;
}
