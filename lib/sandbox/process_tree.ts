/**
 * Process trees on Linux, from `/proc`: the descendants of a process, and
 * killing a whole tree.
 *
 * The sandbox does not depend on this to stop a build (killing its init,
 * pid 1 of its pid namespace, kills everything in it); it is the belt to that
 * braces, and what tests use to check that nothing is left running.
 *
 * @module
 */

function readText(path: string): string | null {
  try {
    return Deno.readTextFileSync(path);
  } catch {
    return null;
  }
}

/**
 * The direct children of a process (all its threads' children).
 *
 * @param pid A process id.
 * @returns Their pids (empty if the process is gone).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { childrenOf } from "./process_tree.ts";
 * assert.deepEqual(childrenOf(2 ** 22 + 1), []);
 * ```
 */
export function childrenOf(pid: number): number[] {
  const out: number[] = [];
  let tasks: Iterable<Deno.DirEntry>;
  try {
    tasks = Deno.readDirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const t of tasks) {
    const text = readText(`/proc/${pid}/task/${t.name}/children`);
    if (!text) continue;
    for (const w of text.trim().split(/\s+/)) if (w) out.push(Number(w));
  }
  return out;
}

/**
 * All descendants of a process, parents before children.
 *
 * @param pid A process id.
 * @returns Their pids (not `pid` itself).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { descendantsOf } from "./process_tree.ts";
 * const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
 * assert.ok(descendantsOf(Deno.pid).includes(child.pid));
 * child.kill("SIGKILL");
 * await child.status;
 * ```
 */
export function descendantsOf(pid: number): number[] {
  const out: number[] = [];
  const queue = [pid];
  while (queue.length > 0) {
    for (const c of childrenOf(queue.shift()!)) {
      if (!out.includes(c)) {
        out.push(c);
        queue.push(c);
      }
    }
  }
  return out;
}

/**
 * SIGKILL a process and every descendant (children first found, then the
 * root, so none is reparented away unseen).
 *
 * @param pid The root of the tree.
 * @returns The pids signalled.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { killTree } from "./process_tree.ts";
 * const child = new Deno.Command("sleep", { args: ["5"] }).spawn();
 * assert.deepEqual(killTree(child.pid), [child.pid]);
 * assert.equal((await child.status).signal, "SIGKILL");
 * ```
 */
export function killTree(pid: number): number[] {
  const all = [...descendantsOf(pid).reverse(), pid];
  for (const p of all) {
    try {
      Deno.kill(p, "SIGKILL");
    } catch {
      // already gone
    }
  }
  return all;
}

/**
 * The pids of processes whose command line contains a string (like
 * `pgrep -f`).
 *
 * @param needle The text to look for (arguments are joined by spaces).
 * @returns The matching pids, this process excluded.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { findProcesses } from "./process_tree.ts";
 * assert.deepEqual(findProcesses("no-such-process-marker-" + crypto.randomUUID()), []);
 * ```
 */
export function findProcesses(needle: string): number[] {
  const out: number[] = [];
  for (const e of Deno.readDirSync("/proc")) {
    if (!/^\d+$/.test(e.name)) continue;
    const pid = Number(e.name);
    if (pid === Deno.pid) continue;
    const cmd = readText(`/proc/${pid}/cmdline`);
    if (cmd && cmd.replaceAll("\0", " ").includes(needle)) out.push(pid);
  }
  return out;
}
