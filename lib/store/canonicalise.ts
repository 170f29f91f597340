/**
 * Making a store path's files canonical, as Nix does before registering
 * them: modification time 1 (the epoch plus one second), no write bits, no
 * setuid/setgid/sticky bits; files 0444 or 0555 (when executable), dirs 0555.
 * Anything that is not a regular file, directory or symlink is refused.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import { cPath, errno, errorText, libcOnFirstUse } from "../libc.ts";

/** The part of Node's global `process` used here. */
interface NodeGlobal {
  process: { getBuiltinModule(id: "node:fs"): typeof import("node:fs") };
}

const SYMBOLS = {
  utimensat: { parameters: ["i32", "buffer", "buffer", "i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;
const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;

/** libc's `utimensat`, loaded at the first symlink. */
const libc = libcOnFirstUse(SYMBOLS);
let nodeFs: typeof import("node:fs") | undefined;

/**
 * Set a symlink's own access and modification times (Deno's `utime` follows
 * the link), in whole seconds: libc's
 * `utimensat` through FFI, or where FFI is not permitted node:fs, loaded at
 * the first symlink through the global `process`, which Deno sets up when
 * first touched (importing "node:fs" would load Node's compatibility layer at
 * every start, some 30 ms and several MB, for sessions that never
 * canonicalise a symlink).
 *
 * @param path The symlink.
 * @param seconds Both times, in seconds since the epoch.
 * @throws {CanonicaliseError} libc refused.
 */
export function setSymlinkTimes(path: string, seconds: number): void {
  const c = libc();
  if (c) {
    const times = new BigInt64Array([BigInt(seconds), 0n, BigInt(seconds), 0n]);
    if (c.utimensat(AT_FDCWD, cPath(path), times, AT_SYMLINK_NOFOLLOW) === 0) return;
    const code = errno(c);
    throw new CanonicaliseError(`Cannot set the times of symlink "${path}": ${errorText(c, code)}`);
  }
  nodeFs ??= (globalThis as unknown as NodeGlobal).process.getBuiltinModule("node:fs");
  nodeFs.lutimesSync(path, seconds, seconds);
}

/** A path that cannot be part of a store path. */
export class CanonicaliseError extends BuildhostError {
  override name = "CanonicaliseError";
}

/**
 * Canonicalise the tree at `path` (depth first: children before their directory).
 *
 * @param path The top of the tree.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { canonicalisePath } from "./canonicalise.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/f`, "x", { mode: 0o755 });
 * canonicalisePath(`${dir}/f`);
 * const st = await Deno.lstat(`${dir}/f`);
 * assert.equal(st.mode! & 0o7777, 0o555);
 * assert.equal(st.mtime!.getTime(), 1000);
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function canonicalisePath(path: string): void {
  const st = Deno.lstatSync(path);
  if (st.isSymlink) {
    setSymlinkTimes(path, 1);
    return;
  }
  if (st.isDirectory) {
    for (const e of Deno.readDirSync(path)) canonicalisePath(`${path}/${e.name}`);
    Deno.chmodSync(path, 0o555);
  } else if (st.isFile) {
    Deno.chmodSync(path, ((st.mode ?? 0) & 0o100) !== 0 ? 0o555 : 0o444);
  } else {
    throw new CanonicaliseError(
      `Cannot canonicalise "${path}": not a regular file, directory or symlink`,
    );
  }
  Deno.utimeSync(path, 1, 1);
}

/**
 * Give a tree its owner's write permission back (for deleting it).
 *
 * @param path The top of the tree.
 */
export function makeWritable(path: string): void {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch {
    return;
  }
  if (st.isDirectory) {
    Deno.chmodSync(path, 0o755);
    for (const e of Deno.readDirSync(path)) makeWritable(`${path}/${e.name}`);
  }
}
