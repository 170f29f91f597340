/**
 * Where a store's files live. Like Nix's chroot stores, a store has a
 * logical directory (default `/nix/store`: what store paths name and
 * builders see) and a physical root anywhere: the files of `/nix/store/x`
 * are at `<root>/nix/store/x`, the state at `<root>/nix/var/nix`. A root of
 * `/` is a real Nix installation.
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { checkStoreDir, DEFAULT_STORE_DIR } from "../store_path/store_path.ts";

/** The paths of a store on disk. */
export interface StoreLayout {
  /** The physical root. */
  root: string;
  /** The logical store directory, e.g. `/nix/store`. */
  storeDir: string;
  /** Where the store directory's files really are. */
  realStoreDir: string;
  /** `<root>/nix/var/nix`. */
  stateDir: string;
  /** `<root>/nix/var/log/nix`: build logs. */
  logDir: string;
  /** `<stateDir>/db`, holding `db.sqlite` and `schema`. */
  dbDir: string;
  /** `<stateDir>/gcroots`. */
  gcRootsDir: string;
  /** `<stateDir>/temproots`. */
  tempRootsDir: string;
  /**
   * `<stateDir>/daemon-socket/buildhost-socket`: where `buildhost daemon`
   * listens by default (beside Nix's `socket`), with its pid in `<it>.pid`.
   * The installed launcher names the same path (`scripts/install.ts`).
   */
  daemonSocket: string;
}

/**
 * The layout of a store rooted at `root`.
 *
 * @param root The physical root (`/` for a real Nix store).
 * @param storeDir The logical store directory.
 * @param dirs Where the state, the logs and the store directory's files
 *   are, when not under `root` (a store URL's `state`, `log`, `real`).
 * @returns The layout.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { storeLayout } from "./store_layout.ts";
 * assert.equal(storeLayout("/tmp/s").realStoreDir, "/tmp/s/nix/store");
 * assert.equal(storeLayout("/").realStoreDir, "/nix/store");
 * ```
 */
export function storeLayout(
  root: string,
  storeDir: string = DEFAULT_STORE_DIR,
  dirs: { stateDir?: string; logDir?: string; realStoreDir?: string } = {},
): StoreLayout {
  checkStoreDir(storeDir);
  const stateDir = dirs.stateDir ?? join(root, "nix/var/nix");
  return {
    root,
    storeDir,
    realStoreDir: dirs.realStoreDir ?? join(root, storeDir),
    stateDir,
    logDir: dirs.logDir ?? join(root, "nix/var/log/nix"),
    dbDir: join(stateDir, "db"),
    gcRootsDir: join(stateDir, "gcroots"),
    tempRootsDir: join(stateDir, "temproots"),
    daemonSocket: join(stateDir, "daemon-socket", "buildhost-socket"),
  };
}

/**
 * The default physical root: `$XDG_DATA_HOME/buildhost`, else
 * `~/.local/share/buildhost`, so buildhost works without root and without Nix.
 *
 * @param env The environment to read (default: the process's).
 * @returns The directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { defaultStoreRoot } from "./store_layout.ts";
 * assert.equal(defaultStoreRoot({ XDG_DATA_HOME: "/d" }), "/d/buildhost");
 * assert.equal(defaultStoreRoot({ HOME: "/h" }), "/h/.local/share/buildhost");
 * ```
 */
export function defaultStoreRoot(
  env: Record<string, string | undefined> = Deno.env.toObject(),
): string {
  if (env.XDG_DATA_HOME) return join(env.XDG_DATA_HOME, "buildhost");
  return join(env.HOME ?? "/", ".local/share/buildhost");
}
