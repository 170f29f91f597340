/**
 * Host-wide build slots: `max-jobs` for a store as a whole, whatever
 * process builds in it (serve sessions, daemon sessions, `buildhost build`).
 * Slot `N` is the file `<stateDir>/build-slots/slot-N`; a build holds an
 * exclusive `flock` on one of `slot-0` .. `slot-(max-jobs - 1)` while it
 * runs. The kernel drops the lock when its process dies, even by SIGKILL,
 * so a slot is never lost. The files stay: they are the slots, not
 * temporaries.
 *
 * A process with `max-jobs = N` uses the first N slots: processes with
 * different settings share the slots they have in common.
 *
 * Waiting does not spin: each round tries every slot without blocking,
 * then sleeps with a growing pause (up to {@linkcode MAX_PAUSE_MS}), and a
 * slot freed in this process wakes its waiters at once.
 *
 * @module
 */
import { join } from "../posix_path.ts";

/** The longest pause between two rounds of tries, in milliseconds. */
export const MAX_PAUSE_MS = 500;
const FIRST_PAUSE_MS = 20;

/** Wakers of this process's waiters, by slot directory. */
const waiters = new Map<string, Set<() => void>>();

/** The build-slot directory of a store's state directory. */
export function buildSlotsDir(stateDir: string): string {
  return join(stateDir, "build-slots");
}

/** A held slot; release it (or let the process end) to free it. */
export class BuildSlot implements Disposable {
  #file: Deno.FsFile | undefined;

  /**
   * @param dir The slot directory.
   * @param index Which slot.
   * @param file Its open, locked file.
   */
  constructor(readonly dir: string, readonly index: number, file: Deno.FsFile) {
    this.#file = file;
  }

  /** Free the slot and wake this process's waiters. */
  release(): void {
    const f = this.#file;
    if (!f) return;
    this.#file = undefined;
    f.close(); // closing drops the flock
    for (const wake of [...(waiters.get(this.dir) ?? [])]) wake();
  }

  /** Same as {@linkcode BuildSlot.release}. */
  [Symbol.dispose](): void {
    this.release();
  }
}

/** Options of {@linkcode BuildSlots.acquire}. */
export interface AcquireSlotOptions {
  /** Gives up waiting: `acquire` rejects with the signal's reason. */
  signal?: AbortSignal;
  /** Called once, when no slot is free at first. */
  onWait?: () => void;
}

/** The build slots of one store. */
export class BuildSlots {
  /**
   * @param dir The slot directory ({@linkcode buildSlotsDir}).
   * @param count How many slots this process may use (`max-jobs`; at least 1).
   */
  constructor(readonly dir: string, readonly count: number) {}

  /**
   * Take a free slot now, if there is one.
   *
   * @returns The slot, or undefined when all `count` are held.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { BuildSlots } from "./build_slots.ts";
   * const dir = await Deno.makeTempDir();
   * const slots = new BuildSlots(dir, 1);
   * const slot = slots.tryAcquire();
   * assert.equal(slot?.index, 0);
   * assert.equal(slots.tryAcquire(), undefined);
   * slot!.release();
   * slots.tryAcquire()?.release();
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  tryAcquire(): BuildSlot | undefined {
    Deno.mkdirSync(this.dir, { recursive: true });
    for (let i = 0; i < Math.max(1, this.count); i++) {
      const file = Deno.openSync(join(this.dir, `slot-${i}`), {
        read: true,
        write: true,
        create: true,
      });
      let locked = false;
      try {
        locked = file.tryLockSync(true);
      } finally {
        if (!locked) file.close();
      }
      if (locked) return new BuildSlot(this.dir, i, file);
    }
    return undefined;
  }

  /**
   * Wait for a free slot and take it.
   *
   * @param options Cancellation; a callback for when the wait begins.
   * @returns The slot.
   * @throws The signal's reason when it aborts first (nothing is then held).
   */
  async acquire(options: AcquireSlotOptions = {}): Promise<BuildSlot> {
    const { signal } = options;
    signal?.throwIfAborted();
    let slot = this.tryAcquire();
    if (slot) return slot;
    options.onWait?.();
    let pause = FIRST_PAUSE_MS;
    while (true) {
      await this.#pause(pause, signal);
      signal?.throwIfAborted();
      slot = this.tryAcquire();
      if (slot) return slot;
      pause = Math.min(MAX_PAUSE_MS, pause * 2);
    }
  }

  /**
   * How many slot files under the directory are held now, by anyone
   * (whatever their `max-jobs`).
   *
   * @returns The number of held slots.
   */
  inUse(): number {
    let held = 0;
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(this.dir)];
    } catch {
      return 0;
    }
    for (const e of entries) {
      if (!/^slot-\d+$/.test(e.name)) continue;
      let file: Deno.FsFile;
      try {
        file = Deno.openSync(join(this.dir, e.name), { read: true });
      } catch {
        continue;
      }
      try {
        // A shared try fails only against an exclusive holder.
        if (!file.tryLockSync(false)) held++;
      } finally {
        file.close();
      }
    }
    return held;
  }

  /** Sleep `ms`, or less when a slot is freed here or the signal aborts. */
  #pause(ms: number, signal: AbortSignal | undefined): Promise<void> {
    return new Promise((resolve) => {
      let set = waiters.get(this.dir);
      if (!set) waiters.set(this.dir, set = new Set());
      const wake = () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0) waiters.delete(this.dir);
        signal?.removeEventListener("abort", wake);
        resolve();
      };
      const timer = setTimeout(wake, ms);
      set.add(wake);
      signal?.addEventListener("abort", wake, { once: true });
    });
  }
}
