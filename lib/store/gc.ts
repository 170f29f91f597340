/**
 * Garbage collection. Live paths are the closure of the roots:
 * - symlinks under `nix/var/nix/gcroots` (recursively) pointing into the store
 *   directory, or pointing to a symlink that points into it (an indirect
 *   root, like `nix-build`'s `result`);
 * - temporary roots of running processes (paths being imported, built, or
 *   locked by a serve client);
 * and, as Nix's default `keep-derivations`, the valid derivers of live paths.
 * Everything else that is valid is dead: it is unregistered in one
 * transaction, then its files are removed. The collector holds the GC lock
 * exclusively, so no temporary root can be added while it decides.
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { FileLock } from "./path_lock.ts";
import { type Store, StoreError } from "./store.ts";
import { readTempRoots } from "./temp_roots.ts";

/** What a collection did (or would do, with dryRun). */
export interface GcResult {
  /** Dead paths, deleted unless dryRun. */
  deleted: string[];
  /** Sum of their NAR sizes. */
  bytes: number;
}

/** The store path a link target names, if it is inside the store directory. */
function storePathOf(target: string, storeDir: string): string | undefined {
  if (!target.startsWith(storeDir + "/")) return undefined;
  const base = target.slice(storeDir.length + 1).split("/")[0];
  return base ? `${storeDir}/${base}` : undefined;
}

/**
 * The store paths named by the GC roots under `gcRootsDir`.
 *
 * @param gcRootsDir The roots directory.
 * @param storeDir The logical store directory.
 * @returns The rooted paths (valid or not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readGcRoots } from "./gc.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.symlink("/nix/store/ffffffffffffffffffffffffffffffff-x/bin", `${dir}/r`);
 * assert.deepEqual([...readGcRoots(dir, "/nix/store")], ["/nix/store/ffffffffffffffffffffffffffffffff-x"]);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function readGcRoots(gcRootsDir: string, storeDir: string): Set<string> {
  const roots = new Set<string>();
  const walk = (dir: string) => {
    let entries: Deno.DirEntry[];
    try {
      entries = [...Deno.readDirSync(dir)];
    } catch {
      return;
    }
    for (const e of entries) {
      const p = join(dir, e.name);
      if (e.isDirectory) walk(p);
      else if (e.isSymlink) {
        const target = Deno.readLinkSync(p);
        const abs = target.startsWith("/") ? target : join(dir, target);
        const direct = storePathOf(abs, storeDir);
        if (direct) roots.add(direct);
        else {
          try {
            const second = Deno.readLinkSync(abs);
            const indirect = storePathOf(second, storeDir);
            if (indirect) roots.add(indirect);
          } catch { /* a stale or non-link indirect root roots nothing */ }
        }
      }
    }
  };
  walk(gcRootsDir);
  return roots;
}

/**
 * The live paths: the closure of the GC roots and the temporary roots, with
 * the valid derivers of live paths. Ask it holding the GC lock.
 */
function livePaths(store: Store, valid: Set<string>): Set<string> {
  const roots = new Set([
    ...readGcRoots(store.layout.gcRootsDir, store.storeDir),
    ...readTempRoots(store.layout.tempRootsDir),
  ]);
  let live = new Set(store.closure([...roots].filter((r) => valid.has(r))));
  while (true) {
    const derivers = [...live]
      .map((p) => store.queryPathInfo(p)?.deriver)
      .filter((d): d is string => d !== undefined && valid.has(d) && !live.has(d));
    if (derivers.length === 0) return live;
    live = new Set(store.closure([...live, ...derivers]));
  }
}

/**
 * Collect garbage.
 *
 * @param store The store.
 * @param options dryRun: only report what is dead.
 * @returns The dead paths and their total NAR size.
 */
export async function collectGarbage(
  store: Store,
  options: { dryRun?: boolean } = {},
): Promise<GcResult> {
  using _gc = await FileLock.acquire(store.gcLockPath);
  const valid = store.allValidPaths();
  const live = livePaths(store, new Set(valid));
  const dead = valid.filter((p) => !live.has(p));
  let bytes = 0;
  for (const p of dead) bytes += store.queryPathInfo(p)?.narSize ?? 0;
  if (!options.dryRun && dead.length > 0) store.deletePaths(dead);
  return { deleted: dead, bytes };
}

/** A path asked to be deleted is rooted (by a GC root, or a running process's temporary root). */
export class PathAliveError extends StoreError {
  override name = "PathAliveError";
}

/**
 * Delete the given valid paths, as `nix-store --delete`: refused (nothing
 * deleted) when one is live, i.e. rooted, directly or through what refers
 * to it, or when a path outside them refers to one.
 *
 * @param store The store.
 * @param paths The paths.
 * @throws {PathAliveError} A path is live, in Nix's words.
 */
export async function deleteDeadPaths(store: Store, paths: string[]): Promise<void> {
  using _gc = await FileLock.acquire(store.gcLockPath);
  for (const p of paths) store.requirePathInfo(p);
  const live = livePaths(store, new Set(store.allValidPaths()));
  const alive = paths.find((p) => live.has(p));
  if (alive) {
    throw new PathAliveError(
      `Cannot delete path '${alive}' since it is still alive. To find out why, use: nix-store --query --roots`,
    );
  }
  store.deletePaths(paths);
}
