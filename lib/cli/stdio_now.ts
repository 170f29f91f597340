/**
 * Standard input and output read and written at once when they are ready.
 *
 * Deno's `Deno.stdin.read` and `Deno.stdout.write` hand every call to an I/O
 * thread and wake the event loop when it is done: two context switches a
 * call, which a serve client pays twice for every path it copies (it sends
 * a path, waits for the reply, sends the next). Here `poll(2)` (through FFI,
 * with no wait) says first whether the call can be made without waiting:
 * data to read (or the end of it), or room in the pipe for a small write
 * (`POLLOUT` promises a page). Then it is made synchronously; else, and
 * where FFI is not permitted, it goes to Deno's thread as before, so the
 * event loop never waits on the client.
 *
 * @module
 */
import { libcOnFirstUse } from "../libc.ts";
import type { ByteSink } from "../wire/wire_writer.ts";

/** Writes up to this size go out at once when the descriptor is ready for writing. */
export const SYNC_WRITE_MAX = 4096;

/** libc's `poll`, loaded at the first question. */
const libc = libcOnFirstUse({ poll: { parameters: ["buffer", "u64", "i32"], result: "i32" } });

const POLLIN = 0x1, POLLOUT = 0x4, POLLERR = 0x8, POLLHUP = 0x10, POLLNVAL = 0x20;

/** One `struct pollfd` (fd, events, revents), reused. */
const pollBytes = new Uint8Array(8);
const pollFd = new DataView(pollBytes.buffer);

/**
 * Whether a read from (`"read"`) or a small write to (`"write"`) `fd` would
 * return now. False when it would wait, when the descriptor is in error
 * (Deno's call then reports it), and where FFI is not permitted.
 *
 * @param fd The descriptor.
 * @param direction Which call.
 * @returns True when it can be made at once.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { readyNow } from "./stdio_now.ts";
 * assert.equal(readyNow(999, "read"), false); // no such descriptor
 * ```
 */
export function readyNow(fd: number, direction: "read" | "write"): boolean {
  const c = libc();
  if (!c) return false;
  const want = direction === "read" ? POLLIN : POLLOUT;
  pollFd.setInt32(0, fd, true);
  pollFd.setInt16(4, want, true);
  pollFd.setInt16(6, 0, true);
  if (c.poll(pollBytes, 1n, 0) !== 1) return false;
  const got = pollFd.getInt16(6, true);
  if (got & (POLLERR | POLLNVAL)) return false;
  // A reader whose writer is gone reads its end (0 bytes) at once.
  return (got & want) !== 0 || (direction === "read" && (got & POLLHUP) !== 0);
}

/**
 * Read standard input into `p`: at once when data is there, else on
 * Deno's I/O thread.
 *
 * @param p Where to read to.
 * @returns How many bytes; null at the end.
 */
export function readStdin(p: Uint8Array): Promise<number | null> {
  if (readyNow(0, "read")) return Promise.resolve(Deno.stdin.readSync(p));
  return Deno.stdin.read(p);
}

/**
 * Standard output as a sink whose small chunks are written at once when
 * the pipe has room (larger ones, and all where it has none, on Deno's
 * I/O thread); one chunk is written at a time, in the order given. A plain
 * sink, not a `WritableStream`, so that a session that never builds never
 * loads Deno's streams.
 *
 * @returns The sink.
 */
export function stdoutNow(): ByteSink {
  let previous: Promise<void> = Promise.resolve();
  const write = async (chunk: Uint8Array) => {
    let off = 0;
    if (chunk.length <= SYNC_WRITE_MAX && readyNow(1, "write")) {
      while (off < chunk.length) off += Deno.stdout.writeSync(chunk.subarray(off));
      return;
    }
    while (off < chunk.length) off += await Deno.stdout.write(chunk.subarray(off));
  };
  return {
    write(chunk) {
      // After the one before it, even when a caller does not wait for each.
      const done = previous.then(() => write(chunk));
      previous = done.catch(() => {});
      return done;
    },
  };
}
