/**
 * Framed streams (AddToStoreNar from 1.23, AddMultipleToStore, AddBuildLog):
 * the data in frames, each a u64 length and that many bytes (no padding),
 * ending with a frame of length 0. Nix's `FramedSource` skips what its
 * reader left unread up to the end frame, so the session can go on after a
 * rejected import; {@linkcode FramedReader.finish} does the same.
 *
 * @module
 */
import { WireReader } from "../wire/wire_reader.ts";
import type { WireWriter } from "../wire/wire_writer.ts";
import { WORKER_LIMITS } from "./protocol.ts";

/** A reader of the data inside a framed stream, over the outer reader. */
export class FramedReader {
  #frames: AsyncGenerator<Uint8Array>;
  /** Reads the data inside the frames. */
  readonly inner: WireReader;

  /**
   * @param outer The session's stream, positioned at the first frame.
   * @param maxFrame The largest frame accepted (checked before reading it).
   */
  constructor(readonly outer: WireReader, maxFrame: number = WORKER_LIMITS.frameLength) {
    this.#frames = outer.readFramed(maxFrame);
    const frames = this.#frames;
    this.inner = new WireReader({
      [Symbol.asyncIterator]: () => ({
        next: () => frames.next(),
        return: () => Promise.resolve({ done: true as const, value: undefined }),
      }),
    });
  }

  /**
   * Skip the rest of the data, through the end frame (bounded memory).
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { WireReader } from "../wire/wire_reader.ts";
   * import { encodeU64 } from "../wire/wire_writer.ts";
   * import { FramedReader } from "./framed.ts";
   * const outer = new WireReader(ReadableStream.from([
   *   encodeU64(3), new Uint8Array([1, 2, 3]), encodeU64(0), encodeU64(42),
   * ]));
   * const f = new FramedReader(outer);
   * assert.deepEqual([...(await f.inner.readExact(1))], [1]);
   * await f.finish();
   * assert.equal(await outer.readU64(), 42n);
   * ```
   */
  async finish(): Promise<void> {
    while (!(await this.#frames.next()).done) { /* skipped */ }
  }
}

/**
 * Write data as frames, then the end frame.
 *
 * @param w The session's writer.
 * @param chunks The data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BufferSink, WireWriter } from "../wire/wire_writer.ts";
 * import { writeFramedData } from "./framed.ts";
 * const out = new BufferSink();
 * const w = new WireWriter(out);
 * await writeFramedData(w, [new Uint8Array([7])]);
 * await w.flush();
 * assert.equal(out.bytes().length, 8 + 1 + 8);
 * ```
 */
export async function writeFramedData(
  w: WireWriter,
  chunks: AsyncIterable<Uint8Array> | Iterable<Uint8Array>,
): Promise<void> {
  await w.writeFramed(chunks);
}
