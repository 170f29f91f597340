/**
 * The local process tree of a host's program, so that a lost or cancelled
 * session ends all of it: through ssh there is nothing under ssh, but a
 * host reached through a local command (a stand-in ssh, a shell that does
 * not `exec`, `buildhost --serve` itself) has its serve process and builds
 * below the process this client started.
 *
 * @module
 */

/** The descendants of `pid` (from `/proc`), parents before children. */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const visit = (p: number) => {
    let tasks: Iterable<Deno.DirEntry>;
    try {
      tasks = Deno.readDirSync(`/proc/${p}/task`);
    } catch {
      return;
    }
    for (const t of tasks) {
      let text = "";
      try {
        text = Deno.readTextFileSync(`/proc/${p}/task/${t.name}/children`);
      } catch { /* gone */ }
      for (const w of text.trim().split(/\s+/)) {
        if (w && !out.includes(Number(w))) {
          out.push(Number(w));
          visit(Number(w));
        }
      }
    }
  };
  visit(pid);
  return out;
}

/**
 * Whether a process is running (not gone, not a zombie).
 *
 * @param pid The process.
 * @returns True while it runs.
 */
export function isRunning(pid: number): boolean {
  try {
    const stat = Deno.readTextFileSync(`/proc/${pid}/stat`);
    return !/^\d+ \(.*\) [ZX]/s.test(stat);
  } catch {
    return false;
  }
}

/** A process and its descendants, remembered as they are found, to signal together. */
export class ProcessTree {
  #pids = new Set<number>();

  /** @param root The root process. */
  constructor(readonly root: number) {}

  /**
   * Send `signal` to the root and every descendant it has now or had when
   * last signalled (an orphan is signalled even after its parent died).
   *
   * @param signal The signal.
   */
  kill(signal: Deno.Signal): void {
    this.remember();
    for (const p of this.#pids) {
      if (!isRunning(p)) continue;
      try {
        Deno.kill(p, signal);
      } catch { /* gone */ }
    }
  }

  /** Remember the root and its descendants as they are now. */
  remember(): void {
    if (!isRunning(this.root)) return;
    this.#pids.add(this.root);
    for (const p of descendantsOf(this.root)) this.#pids.add(p);
  }

  /** Whether any process remembered is still running. */
  running(): boolean {
    return [...this.#pids].some(isRunning);
  }
}
