/**
 * The files Nix 2.8 writes into the sandbox's `/etc`, byte for byte.
 *
 * - `/etc/passwd`: `root`, the build user `nixbld` (uid 1000, gid 100) and
 *   `nobody`, home directory the build directory (`/build`), shell
 *   `/noshell`.
 * - `/etc/group`: `root`, `nixbld` (gid 100, password `!`), `nogroup`.
 * - `/etc/hosts`: `localhost` for IPv4 and IPv6, only when the build has no
 *   network (not for fixed-output derivations, which see the host's
 *   `/etc/hosts`, `/etc/resolv.conf` and `/etc/services` instead, plus
 *   {@linkcode NSSWITCH_CONF}).
 *
 * All are mode 0644, owned by the build user as seen inside.
 *
 * @module
 */

/** The uid of the build user inside the sandbox. */
export const SANDBOX_UID = 1000;
/** The gid of the build user inside the sandbox. */
export const SANDBOX_GID = 100;
/** Where the build directory appears inside the sandbox (`NIX_BUILD_TOP`). */
export const SANDBOX_BUILD_DIR = "/build";

/**
 * `/etc/passwd` as Nix writes it.
 *
 * @param buildDir The build directory inside the sandbox (home of root and nixbld).
 * @returns The file's contents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcPasswd } from "./sandbox_files.ts";
 * assert.equal(etcPasswd().split("\n")[1], "nixbld:x:1000:100:Nix build user:/build:/noshell");
 * ```
 */
export function etcPasswd(buildDir: string = SANDBOX_BUILD_DIR): string {
  return `root:x:0:0:Nix build user:${buildDir}:/noshell\n` +
    `nixbld:x:${SANDBOX_UID}:${SANDBOX_GID}:Nix build user:${buildDir}:/noshell\n` +
    "nobody:x:65534:65534:Nobody:/:/noshell\n";
}

/**
 * `/etc/group` as Nix writes it.
 *
 * @returns The file's contents.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { etcGroup } from "./sandbox_files.ts";
 * assert.equal(etcGroup(), "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n");
 * ```
 */
export function etcGroup(): string {
  return `root:x:0:\nnixbld:!:${SANDBOX_GID}:\nnogroup:x:65534:\n`;
}

/**
 * `/etc/hosts` of a build without network.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ETC_HOSTS } from "./sandbox_files.ts";
 * assert.equal(ETC_HOSTS.length, 34);
 * ```
 */
export const ETC_HOSTS = "127.0.0.1 localhost\n::1 localhost\n";

/**
 * `/etc/nsswitch.conf` of a build with network (fixed-output derivations).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NSSWITCH_CONF } from "./sandbox_files.ts";
 * assert.equal(NSSWITCH_CONF, "hosts: files dns\nservices: files\n");
 * ```
 */
export const NSSWITCH_CONF = "hosts: files dns\nservices: files\n";

/**
 * Host files bind-mounted into builds with network, when they exist.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { NETWORK_HOST_FILES } from "./sandbox_files.ts";
 * assert.ok(NETWORK_HOST_FILES.includes("/etc/resolv.conf"));
 * ```
 */
export const NETWORK_HOST_FILES: readonly string[] = [
  "/etc/resolv.conf",
  "/etc/services",
  "/etc/hosts",
];
