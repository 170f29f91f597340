/**
 * The host's mount table (`/proc/self/mountinfo`), to give each bind mount in
 * the sandbox the per-mount flags of its source, as Nix's plain
 * `mount(MS_BIND)` does.
 *
 * Bubblewrap marks every bind it makes `nosuid` (and `nodev` unless it is a
 * device bind); binds made inside the sandbox from those copies inherit the
 * marks. The setup therefore remounts each bind with the flags its source has
 * on the host: `rw`/`ro`, `nosuid`/`suid`, `nodev`/`dev`, `noexec`/`exec`.
 * Access-time flags are not named, so a remount keeps them.
 *
 * mountinfo line format (proc(5)): `ID PARENT MAJ:MIN ROOT MOUNTPOINT
 * OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER_OPTIONS`, paths with space,
 * tab, newline and backslash written as `\ooo` octal escapes.
 *
 * @module
 */

/** One mount of the host. */
export interface HostMount {
  /** Where it is mounted. */
  mountPoint: string;
  /** Per-mount options, e.g. `["rw", "nosuid", "relatime"]`. */
  options: string[];
  /** Filesystem type. */
  fsType: string;
}

function unescape(field: string): string {
  return field.replace(/\\([0-7]{3})/g, (_, oct: string) => String.fromCharCode(parseInt(oct, 8)));
}

/**
 * Parse the text of a mountinfo file.
 *
 * @param text The file's contents.
 * @returns The mounts, in file order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMountInfo } from "./host_mounts.ts";
 * const m = parseMountInfo("27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n28 27 0:25 / /my\\040dir ro,nosuid shared:1 - tmpfs x ro\n");
 * assert.deepEqual(m[1], { mountPoint: "/my dir", options: ["ro", "nosuid"], fsType: "tmpfs" });
 * ```
 */
export function parseMountInfo(text: string): HostMount[] {
  const mounts: HostMount[] = [];
  for (const line of text.split("\n")) {
    if (line === "") continue;
    const fields = line.split(" ");
    const dash = fields.indexOf("-", 6);
    if (fields.length < 10 || dash < 0) continue;
    mounts.push({
      mountPoint: unescape(fields[4]!),
      options: fields[5]!.split(","),
      fsType: fields[dash + 1]!,
    });
  }
  return mounts;
}

function isUnder(path: string, dir: string): boolean {
  return dir === "/" || path === dir || path.startsWith(dir + "/");
}

/**
 * The mount a path is on: the deepest mount point above it, the last mounted
 * of several at the same place (the one on top).
 *
 * @param mounts The mount table.
 * @param path An absolute path without symlinks (see `Deno.realPath`).
 * @returns The mount, or `undefined` if none matches.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mountOf, parseMountInfo } from "./host_mounts.ts";
 * const m = parseMountInfo("1 0 8:1 / / rw - ext4 a rw\n2 1 0:5 / /dev rw,nosuid - devtmpfs b rw\n");
 * assert.equal(mountOf(m, "/dev/null")?.mountPoint, "/dev");
 * assert.equal(mountOf(m, "/devices")?.mountPoint, "/");
 * ```
 */
export function mountOf(mounts: readonly HostMount[], path: string): HostMount | undefined {
  let best: HostMount | undefined;
  for (const m of mounts) {
    if (!isUnder(path, m.mountPoint)) continue;
    if (!best || m.mountPoint.length >= best.mountPoint.length) best = m;
  }
  return best;
}

/**
 * The `mount -o remount,bind,...` options that give a bind mount the flags
 * of the host mount `m` (made read-only when asked).
 *
 * @param m The host mount the source lies on.
 * @param readOnly Force `ro`.
 * @returns Options such as `"bind,rw,suid,dev,exec"`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remountOptions } from "./host_mounts.ts";
 * const m = { mountPoint: "/tmp", options: ["rw", "nosuid", "nodev", "relatime"], fsType: "tmpfs" };
 * assert.equal(remountOptions(m, false), "remount,bind,rw,nosuid,nodev,exec");
 * assert.equal(remountOptions(m, true), "remount,bind,ro,nosuid,nodev,exec");
 * ```
 */
export function remountOptions(m: HostMount | undefined, readOnly: boolean): string {
  const has = (o: string) => m?.options.includes(o) ?? false;
  return [
    "remount",
    "bind",
    readOnly || has("ro") ? "ro" : "rw",
    has("nosuid") ? "nosuid" : "suid",
    has("nodev") ? "nodev" : "dev",
    has("noexec") ? "noexec" : "exec",
  ].join(",");
}

/**
 * Read this process's mount table.
 *
 * @returns The mounts of `/proc/self/mountinfo`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readHostMounts } from "./host_mounts.ts";
 * assert.ok(readHostMounts().some((m) => m.mountPoint === "/"));
 * ```
 */
export function readHostMounts(): HostMount[] {
  return parseMountInfo(Deno.readTextFileSync("/proc/self/mountinfo"));
}
