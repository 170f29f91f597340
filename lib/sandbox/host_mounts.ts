/**
 * The host's mount table (`/proc/self/mountinfo`), to give each bind mount in
 * the sandbox the per-mount flags of its source, as Nix's plain
 * `mount(MS_BIND)` does.
 *
 * The setup remounts each bind with the flags its source has on the host
 * (`ro` also for a read-only input): `MS_RDONLY`, `MS_NOSUID`, `MS_NODEV`,
 * `MS_NOEXEC` where the source has them. Access-time flags are not named,
 * so a remount keeps them.
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

/** `mount(2)` flags. */
const MS_RDONLY = 1;
const MS_NOSUID = 2;
const MS_NODEV = 4;
const MS_NOEXEC = 8;
const MS_REMOUNT = 0x20;
const MS_BIND = 0x1000;

/**
 * The `mount(2)` flags of the remount that gives a bind mount the flags of
 * the host mount `m` (made read-only when asked): `MS_REMOUNT | MS_BIND`
 * and those of `MS_RDONLY`, `MS_NOSUID`, `MS_NODEV`, `MS_NOEXEC` it has.
 *
 * @param m The host mount the source lies on.
 * @param readOnly Force `MS_RDONLY`.
 * @returns The flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remountFlags } from "./host_mounts.ts";
 * const m = { mountPoint: "/tmp", options: ["rw", "nosuid", "nodev", "relatime"], fsType: "tmpfs" };
 * assert.equal(remountFlags(m, false), 0x20 | 0x1000 | 2 | 4);
 * assert.equal(remountFlags(m, true), 0x20 | 0x1000 | 1 | 2 | 4);
 * ```
 */
export function remountFlags(m: HostMount | undefined, readOnly: boolean): number {
  const has = (o: string) => m?.options.includes(o) ?? false;
  return MS_REMOUNT | MS_BIND | (readOnly || has("ro") ? MS_RDONLY : 0) |
    (has("nosuid") ? MS_NOSUID : 0) | (has("nodev") ? MS_NODEV : 0) |
    (has("noexec") ? MS_NOEXEC : 0);
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
