/**
 * Temporary GC roots: store paths a running process needs (being imported,
 * being built, locked by a client) that the garbage collector must keep.
 * Each process appends NUL-terminated paths to `temproots/<pid>` (a daemon's
 * sessions, which share a process, to `temproots/<pid>-<n>` from the second
 * on: one session's end must not drop another's roots; Nix's collector reads
 * the pid from the leading digits and judges liveness by the file's lock);
 * the collector reads the files of live processes and removes those of dead
 * ones.
 * Adding a root takes the GC lock shared, so it cannot happen while a
 * collection (which holds it exclusively) is deciding what is dead.
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { type LockFileHandle, lockFiles } from "./lock_file.ts";

/** This process's temporary roots in one store. */
export class TempRoots {
  #file: Deno.FsFile | undefined;
  /** `gc.lock`, opened once and locked shared for each addition. */
  #gcLock: LockFileHandle | undefined;
  #gcHolders = 0;
  #added = new Set<string>();
  /**
   * Paths rooted here and seen valid since: they stay valid while the roots
   * are held, as only a collection (or a deletion) unregisters paths, both
   * under the GC lock, and both keep what is rooted.
   */
  #seenValid = new Set<string>();
  /** Its file's name: the pid, then `<pid>-<n>` for later ones in this process. */
  readonly #name: string;
  static #made = 0;

  /**
   * @param tempRootsDir The store's `temproots` directory.
   * @param gcLockPath The store's `gc.lock`.
   */
  constructor(readonly tempRootsDir: string, readonly gcLockPath: string) {
    const n = TempRoots.#made++;
    this.#name = n === 0 ? String(Deno.pid) : `${Deno.pid}-${n}`;
  }

  /**
   * Protect paths from garbage collection for the life of this process.
   *
   * @param paths Full store paths.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { readTempRoots, TempRoots } from "./temp_roots.ts";
   * const dir = await Deno.makeTempDir();
   * const roots = new TempRoots(dir, `${dir}/gc.lock`);
   * await roots.add(["/nix/store/ffffffffffffffffffffffffffffffff-x"]);
   * assert.deepEqual([...readTempRoots(dir)], ["/nix/store/ffffffffffffffffffffffffffffffff-x"]);
   * roots.close();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  async add(paths: Iterable<string>): Promise<void> {
    const fresh = [...paths].filter((p) => !this.#added.has(p));
    if (fresh.length === 0) return;
    if (!this.#file) {
      Deno.mkdirSync(this.tempRootsDir, { recursive: true });
      const file = Deno.openSync(join(this.tempRootsDir, this.#name), {
        write: true,
        create: true,
        append: true,
      });
      // Held (shared) while the process lives: Nix's collector takes a free
      // lock on this file as the sign of a dead process.
      await file.lock(false);
      if (this.#file) file.close(); // another addition opened it meanwhile
      else this.#file = file;
    }
    // gc.lock is never deleted, so the file opened once stays the one to lock.
    const gcLock = this.#gcLock ??= lockFiles().open(this.gcLockPath, "createOrOpen");
    // Additions running at once share the one lock: the last one out unlocks.
    this.#gcHolders++;
    try {
      // Waited for only while a collection holds it.
      if (gcLock.tryLock(false) !== true) await gcLock.lock(false);
      const data = new TextEncoder().encode(fresh.map((p) => p + "\0").join(""));
      let off = 0;
      while (off < data.length) off += this.#file!.writeSync(data.subarray(off));
    } finally {
      if (--this.#gcHolders === 0) gcLock.unlock();
    }
    for (const p of fresh) this.#added.add(p);
  }

  /**
   * Note paths found valid (by a query or by registering them), so that
   * {@linkcode TempRoots.knownValid} answers for them without asking the
   * database again. Paths not rooted here are not noted: they may go.
   *
   * @param paths Valid store paths.
   */
  noteValid(paths: Iterable<string>): void {
    for (const p of paths) if (this.#added.has(p)) this.#seenValid.add(p);
  }

  /**
   * Whether a path is rooted here and was noted valid: then it still is.
   *
   * @param path A store path.
   * @returns True when it is known valid; false says nothing.
   */
  knownValid(path: string): boolean {
    return this.#seenValid.has(path);
  }

  /** Drop this process's roots. */
  close(): void {
    this.#gcLock?.close();
    this.#gcLock = undefined;
    if (!this.#file) return;
    this.#file.close();
    this.#file = undefined;
    try {
      Deno.removeSync(join(this.tempRootsDir, this.#name));
    } catch { /* gone */ }
    this.#added.clear();
    this.#seenValid.clear();
  }
}

/** Whether a process is running. */
export function processAlive(pid: number): boolean {
  try {
    Deno.statSync(`/proc/${pid}`);
    return true;
  } catch {
    return false;
  }
}

/**
 * The temporary roots of all live processes; files of dead ones are removed.
 *
 * @param tempRootsDir The store's `temproots` directory.
 * @returns The rooted paths.
 */
export function readTempRoots(tempRootsDir: string): Set<string> {
  const out = new Set<string>();
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(tempRootsDir)];
  } catch {
    return out;
  }
  for (const e of entries) {
    const pid = Number(/^\d+/.exec(e.name)?.[0] ?? NaN);
    const file = join(tempRootsDir, e.name);
    if (!Number.isInteger(pid) || (!processAlive(pid))) {
      try {
        Deno.removeSync(file);
      } catch { /* raced */ }
      continue;
    }
    let text = "";
    try {
      text = Deno.readTextFileSync(file);
    } catch { /* raced with its removal */ }
    for (const p of text.split("\0")) if (p) out.add(p);
  }
  return out;
}
