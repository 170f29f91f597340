/**
 * A Unix socket's path as the kernel takes it: at most 107 bytes
 * (`sun_path`). A store under a long directory has a longer socket path; it
 * is then reached through a descriptor of its directory,
 * `/proc/self/fd/N/NAME`, which the kernel resolves for `bind` and
 * `connect` alike (as Nix reaches a long socket path from inside its
 * directory).
 *
 * @module
 */
import { basename, dirname } from "../posix_path.ts";
import { openLibc } from "../libc.ts";

/** The longest path `sun_path` holds, without its NUL. */
export const MAX_SOCKET_PATH = 107;

const O_PATH = 0o10000000;
const O_DIRECTORY = 0o200000;
const O_CLOEXEC = 0o2000000;

let libc:
  | { open(path: Uint8Array, flags: number): number; close(fd: number): number }
  | undefined;

/**
 * A path by which `path` can be bound or connected to, held until disposed.
 *
 * @param path The socket's path, any length.
 * @returns The usable path (`path` itself when it is short enough).
 * @throws {Error} The directory cannot be opened.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { socketPath } from "./socket_path.ts";
 * using short = socketPath("/tmp/s/socket");
 * assert.equal(short.path, "/tmp/s/socket");
 * ```
 */
export function socketPath(path: string): { path: string } & Disposable {
  if (new TextEncoder().encode(path).length <= MAX_SOCKET_PATH) {
    return { path, [Symbol.dispose]: () => {} };
  }
  libc ??= openLibc({
    open: { parameters: ["buffer", "i32"], result: "i32" },
    close: { parameters: ["i32"], result: "i32" },
  });
  const dir = new TextEncoder().encode(`${dirname(path)}\0`);
  const fd = libc.open(dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) throw new Error(`cannot open the directory of the socket "${path}"`);
  const c = libc;
  return { path: `/proc/self/fd/${fd}/${basename(path)}`, [Symbol.dispose]: () => c.close(fd) };
}
