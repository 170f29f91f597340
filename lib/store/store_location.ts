/**
 * Where a local store URL's files are, as Nix 2.8 decides it:
 *
 * - the logical store directory: `store=`, else `NIX_STORE_DIR` (or
 *   `NIX_STORE`), else `/nix/store`;
 * - with a root (`root=`, or the store given as a path): state in
 *   `ROOT/nix/var/nix`, logs in `ROOT/nix/var/log/nix`, files in
 *   `ROOT/nix/store`; without one: `NIX_STATE_DIR` (else `/nix/var/nix`),
 *   `NIX_LOG_DIR` (else `/nix/var/log/nix`) and the store directory itself;
 * - `state=`, `log=`, `real=` override each of these.
 *
 * The default store (`auto`, `daemon`, or no `--store`) is the system's
 * (`/nix`, or the `NIX_*_DIR`s) when it can be used: its state directory is
 * writable by this user, or this user is root. Otherwise it is a chroot store
 * under the user's data directory (`$XDG_DATA_HOME/buildhost`, else
 * `~/.local/share/buildhost`), so buildhost works without root and without
 * Nix.
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { defaultStoreRoot, type StoreLayout, storeLayout } from "./store_layout.ts";
import { type StoreUrl, StoreUrlError } from "./store_url.ts";

/** The directories Nix takes from its environment. */
export interface NixDirs {
  /** `NIX_STORE_DIR` (or `NIX_STORE`), else `/nix/store`. */
  storeDir: string;
  /** `NIX_STATE_DIR`, else `/nix/var/nix`. */
  stateDir: string;
  /** `NIX_LOG_DIR`, else `/nix/var/log/nix`. */
  logDir: string;
}

/**
 * The directories of Nix's environment variables.
 *
 * @param env The environment.
 * @returns The directories.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nixDirs } from "./store_location.ts";
 * assert.equal(nixDirs({}).stateDir, "/nix/var/nix");
 * assert.equal(nixDirs({ NIX_STORE_DIR: "/t/store" }).storeDir, "/t/store");
 * ```
 */
export function nixDirs(env: Record<string, string | undefined>): NixDirs {
  const get = (...names: string[]) => names.map((n) => env[n]).find((v) => v) ?? undefined;
  return {
    storeDir: get("NIX_STORE_DIR", "NIX_STORE") ?? DEFAULT_STORE_DIR,
    stateDir: get("NIX_STATE_DIR") ?? "/nix/var/nix",
    logDir: get("NIX_LOG_DIR") ?? "/nix/var/log/nix",
  };
}

/** A local store resolved: its layout and what it says it can build. */
export interface StoreLocation {
  layout: StoreLayout;
  /** `system-features=` of the URL, when given (a space-separated set). */
  systemFeatures?: string[];
}

/** What the resolution looks up, given by the caller. */
export interface LocationContext {
  /** Nix's environment directories. */
  dirs: NixDirs;
  /** The environment, for the user's data directory. */
  env: Record<string, string | undefined>;
  /** Whether the system store with this state directory can be used here. */
  systemStoreUsable: (stateDir: string) => boolean;
  /**
   * `--store-dir DIR` (buildhost's flag): the logical store directory, whose
   * files are then at `ROOT/DIR` (not `ROOT/nix/store`).
   */
  storeDirFlag?: string;
}

/**
 * Resolve a parsed local (or default) store URL.
 *
 * @param url The parsed URL (not `ssh://`).
 * @param ctx What to look up.
 * @returns The layout, and the store's `system-features` when set.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nixDirs, resolveStoreLocation } from "./store_location.ts";
 * import { parseStoreUrl } from "./store_url.ts";
 * const ctx = { dirs: nixDirs({}), env: {}, systemStoreUsable: () => true };
 * const { layout } = resolveStoreLocation(parseStoreUrl("/srv/m1", "/"), ctx);
 * assert.equal(layout.realStoreDir, "/srv/m1/nix/store");
 * assert.equal(layout.stateDir, "/srv/m1/nix/var/nix");
 * ```
 */
export function resolveStoreLocation(url: StoreUrl, ctx: LocationContext): StoreLocation {
  if (url.type === "ssh") throw new StoreUrlError(url.url, "not a local store");
  const p = url.params;
  const storeDir = p.store || ctx.storeDirFlag || ctx.dirs.storeDir;
  let root = p.root || undefined;
  if (url.type === "auto" && !root && !ctx.systemStoreUsable(p.state || ctx.dirs.stateDir)) {
    root = defaultStoreRoot(ctx.env);
  }
  const realDefault = root === undefined
    ? storeDir
    : ctx.storeDirFlag && !p.store
    ? join(root, storeDir)
    : join(root, "nix/store");
  const layout = storeLayout(root ?? "/", storeDir, {
    stateDir: p.state || (root === undefined ? ctx.dirs.stateDir : join(root, "nix/var/nix")),
    logDir: p.log || (root === undefined ? ctx.dirs.logDir : join(root, "nix/var/log/nix")),
    realStoreDir: p.real || realDefault,
  });
  const features = p["system-features"];
  return {
    layout,
    ...(features === undefined ? {} : { systemFeatures: features.split(/\s+/).filter((f) => f) }),
  };
}

/**
 * Whether this process may use the system store with state in `stateDir`:
 * it is root, or the directory exists and is writable by this user.
 *
 * @param stateDir The state directory.
 * @returns Whether it is usable.
 */
export function systemStoreUsable(stateDir: string): boolean {
  const uid = Deno.uid();
  if (uid === 0) return true;
  try {
    const st = Deno.statSync(stateDir);
    const mode = st.mode ?? 0;
    if (st.uid === uid) return (mode & 0o300) === 0o300;
    if (st.gid === Deno.gid()) return (mode & 0o030) === 0o030;
    return (mode & 0o003) === 0o003;
  } catch {
    return false;
  }
}
