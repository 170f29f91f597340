/**
 * A run of imports installed together: the paths of one export stream or
 * one `AddMultipleToStore` are unpacked, checked and locked one by one, and
 * installed by one `Store.installPaths` (every rename, then one database
 * transaction) for up to {@linkcode IMPORT_RUN_LIMIT} of them at a time.
 * One transaction per path is what most of a small path's import costs.
 *
 * Each path stays atomic on its own: it becomes valid only with the commit
 * that follows its rename, so a crash before that commit leaves it
 * unregistered (the next import replaces it), never valid without its
 * contents. A path waiting in a run keeps its lock until it is installed;
 * before waiting for another path's lock, the run installs what it holds,
 * so two processes importing overlapping paths in different orders never
 * wait for each other.
 *
 * @module
 */
import type { PathInfo } from "./path_info.ts";
import type { StorePathLock } from "./path_lock.ts";

/** How many paths a run holds (each with its lock's open file) before it installs them. */
export const IMPORT_RUN_LIMIT = 128;

/** A path waiting in a run: its temporary, what to register, its held lock. */
export interface PendingImport {
  /** The canonical temporary inside the store directory. */
  tmp: string;
  /** What to register. */
  info: PathInfo;
  /** The path's lock, released once it is installed (or abandoned). */
  lock: StorePathLock;
}

/**
 * Paths unpacked and checked, waiting to be installed together. Create one
 * with `Store.importRun`, which installs what is left when the work ends.
 */
export class ImportRun {
  readonly #pending = new Map<string, PendingImport>();

  /**
   * @param install Installs the pending paths (moves, one transaction);
   * on an error it has installed none of them.
   * @param removeTemp Removes a temporary that was not installed.
   */
  constructor(
    private readonly install: (items: PendingImport[]) => void,
    private readonly removeTemp: (tmp: string) => void,
  ) {}

  /** How many paths wait. */
  get size(): number {
    return this.#pending.size;
  }

  /** What a waiting path will be registered with, or undefined. */
  pending(path: string): PathInfo | undefined {
    return this.#pending.get(path)?.info;
  }

  /**
   * Add a checked path; when the run is full, install it all.
   *
   * @param item The path, its temporary and its held lock (now the run's).
   */
  add(item: PendingImport): void {
    this.#pending.set(item.info.path, item);
    if (this.#pending.size >= IMPORT_RUN_LIMIT) this.flush();
  }

  /**
   * Install every waiting path, then release their locks. On an error none
   * is installed, their temporaries are removed, and the error is thrown.
   */
  flush(): void {
    if (this.#pending.size === 0) return;
    const items = [...this.#pending.values()];
    this.#pending.clear();
    try {
      this.install(items);
    } catch (e) {
      for (const i of items) this.removeTemp(i.tmp);
      throw e;
    } finally {
      for (const i of items) i.lock.release();
    }
  }
}
