/**
 * Standard input as a stream that reads into a few reused buffers. Deno's
 * `Deno.stdin.readable` allocates a fresh 64 KiB chunk for every read: a
 * 1 GiB NAR on stdin makes 16 000 of them, garbage that grows the heap by
 * tens of MiB before it is collected, and costs time. Here four buffers
 * (of 256 KiB) take turns, so memory stays flat.
 *
 * A chunk stays valid while the three chunks after it are read, longer than
 * the wire and NAR readers hold one (they copy what they keep, and consume
 * each chunk of contents before they ask for the next).
 *
 * @module
 */

/**
 * Size of one read. A stdio session's input pipe is enlarged to 1 MiB
 * (`enlargePipeBuffer`), so a client sending a NAR fills it faster than
 * 64 KiB reads would empty it: each read is a hop to Deno's I/O thread and
 * back, and a 1 GiB copy made 16 000 of them.
 */
const CHUNK = 256 * 1024;
/** Buffers that take turns. */
const BUFFERS = 4;

/**
 * A stream of what standard input gives, read on demand (nothing is read
 * ahead of what the consumer asks for).
 *
 * @param file The file to read (standard input unless given).
 * @returns The stream; cancelling it stops reading (the file stays open).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { stdinStream } from "./stdin_stream.ts";
 * const path = await Deno.makeTempFile();
 * await Deno.writeTextFile(path, "hello");
 * using f = await Deno.open(path);
 * let text = "";
 * for await (const c of stdinStream(f)) text += new TextDecoder().decode(c);
 * assert.equal(text, "hello");
 * await Deno.remove(path);
 * ```
 */
export function stdinStream(
  file: { read(p: Uint8Array): Promise<number | null> } = Deno.stdin,
): ReadableStream<Uint8Array> {
  const buffers = Array.from({ length: BUFFERS }, () => new Uint8Array(CHUNK));
  let turn = 0;
  return new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = buffers[turn]!;
      turn = (turn + 1) % BUFFERS;
      const n = await file.read(buf);
      if (n === null) controller.close();
      else controller.enqueue(buf.subarray(0, n));
    },
  }, { highWaterMark: 0 });
}
