/**
 * A larger kernel buffer for a pipe this process writes to or reads from.
 * A stdio session's input gets one, so that NARs arrive in larger pieces
 * (see `stdin_stream.ts`). `buildhost nar
 * dump` writes its NAR in chunks of up to 1 MiB (gathered, files read
 * straight into them); into a pipe of Linux's default 64 KiB, each write
 * waits for the reader some sixteen times. With a 1 MiB
 * buffer, `nar dump` of the 1 GiB benchmark tree into `cat` took 0.86 s
 * instead of 1.25 s (`nix-store --dump`, which writes 32 KiB at a time: 0.58
 * s either way).
 *
 * @module
 */
import { libcOnFirstUse } from "../libc.ts";

const F_SETPIPE_SZ = 1031;
const F_GETPIPE_SZ = 1032;

/** libc's `fcntl`, loaded at the first call (a stdio session and `nar dump` each make one or two). */
const fcntl = libcOnFirstUse({ fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" } });

/** The size asked for: the default `/proc/sys/fs/pipe-max-size`, allowed to anyone. */
export const PIPE_BUFFER = 1 << 20;

/**
 * Make the buffer of the pipe at descriptor `fd` {@linkcode PIPE_BUFFER}
 * bytes, when `fd` is a pipe whose buffer is smaller; anything else (a file,
 * a terminal, a refusal) is left as it is.
 *
 * @param fd The descriptor (1 for stdout).
 * @returns The pipe's buffer size afterwards, or undefined when `fd` is no pipe.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { enlargePipeBuffer } from "./pipe_buffer.ts";
 * assert.equal(enlargePipeBuffer(999), undefined); // no such descriptor
 * ```
 */
export function enlargePipeBuffer(fd: number): number | undefined {
  const libc = fcntl();
  if (!libc) return undefined; // no FFI here: the default buffer it is
  const size = libc.fcntl(fd, F_GETPIPE_SZ, 0);
  if (size < 0) return undefined; // not a pipe
  if (size >= PIPE_BUFFER) return size;
  const set = libc.fcntl(fd, F_SETPIPE_SZ, PIPE_BUFFER);
  return set < 0 ? size : set;
}
