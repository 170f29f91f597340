/**
 * Standard input as chunks read into a few reused buffers. Deno's
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
 * What standard input gives, as chunks read on demand (nothing is read
 * ahead of what the consumer asks for). An async iterator rather than a
 * `ReadableStream`: a host session that never builds then never loads
 * Deno's streams (some 6 ms of every session's start). Ending it early
 * (`return`, as `WireReader.cancel` does) settles a read in progress at
 * once, as cancelling a stream would; the file stays open.
 *
 * @param file The file to read (standard input unless given).
 * @returns The chunks.
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
): AsyncIterableIterator<Uint8Array> {
  const buffers = Array.from({ length: BUFFERS }, () => new Uint8Array(CHUNK));
  let turn = 0;
  let ended = false;
  let endNow: (n: null) => void = () => {};
  const endedEarly = new Promise<null>((resolve) => (endNow = resolve));
  const end: IteratorResult<Uint8Array> = { done: true, value: undefined };
  const chunks: AsyncIterableIterator<Uint8Array> = {
    async next() {
      if (ended) return end;
      const buf = buffers[turn]!;
      turn = (turn + 1) % BUFFERS;
      const n = await Promise.race([file.read(buf), endedEarly]);
      if (n === null || ended) {
        ended = true;
        return end;
      }
      return { done: false, value: buf.subarray(0, n) };
    },
    return() {
      ended = true;
      endNow(null);
      return Promise.resolve(end);
    },
    [Symbol.asyncIterator]: () => chunks,
  };
  return chunks;
}
