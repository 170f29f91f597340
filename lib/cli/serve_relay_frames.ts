/**
 * A serve session passed to the store's daemon (`buildhost daemon`) by the
 * installed launcher's relay (`scripts/serve_relay.pl`, installed beside
 * the program). The serve protocol has no channel for messages: build logs
 * and errors go to the host program's stderr, which ssh carries to Nix. A
 * socket carries one stream, so on the daemon's socket such a session
 * starts with a header and the daemon's side is framed:
 *
 * - relay to daemon: the 8 bytes `bhserve1` ({@linkcode SERVE_RELAY_MAGIC}),
 *   a u64 of flags (bit 0: `--write`), then the session's bytes as they come;
 * - daemon to relay: frames of a u8 channel, a u32 length (little-endian)
 *   and that many bytes (at most 64 KiB): channel 1 is the session's
 *   stdout, 2 its stderr, and channel 0, one byte long, ends the session
 *   with its exit code.
 *
 * A worker-protocol client's first 8 bytes are its magic, never these.
 *
 * @module
 */

/** The relay's first 8 bytes, as a little-endian u64 (the ASCII `bhserve1`). */
export const SERVE_RELAY_MAGIC = 0x3165767265736862n;

/** The flag bit of `--write`. */
export const SERVE_RELAY_WRITE = 1n;

/** The channels of the daemon's frames. */
export enum RelayChannel {
  Exit = 0,
  Stdout = 1,
  Stderr = 2,
}

/** The most a frame carries: larger output is cut into several. */
export const MAX_FRAME = 64 * 1024;

/**
 * A frame, whole (one write, so that frames never interleave and a session
 * of small replies costs one read a reply at the relay).
 *
 * @param channel Its channel.
 * @param data What it carries, at most {@linkcode MAX_FRAME} bytes.
 * @returns The 5-byte header and the data.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { frame, RelayChannel } from "./serve_relay_frames.ts";
 * assert.deepEqual(frame(RelayChannel.Stderr, new Uint8Array([7])), new Uint8Array([2, 1, 0, 0, 0, 7]));
 * ```
 */
export function frame(channel: RelayChannel, data: Uint8Array): Uint8Array {
  if (data.length > MAX_FRAME) throw new RangeError(`a frame carries at most ${MAX_FRAME} bytes`);
  const f = new Uint8Array(5 + data.length);
  f[0] = channel;
  new DataView(f.buffer).setUint32(1, data.length, true);
  f.set(data, 5);
  return f;
}

/** The daemon's side of a relayed serve session, over the connection's writable side. */
export interface RelayOutput {
  /** The session's stdout, framed. */
  stdout: WritableStream<Uint8Array>;
  /** The session's stderr (its messages, build logs), framed; never throws. */
  log: (text: string) => void;
  /** Send the exit code and release the connection's writer. */
  end(exitCode: number): Promise<void>;
}

/**
 * Frame a relayed serve session's output onto `writable`: each frame is
 * queued whole, so stdout's and stderr's never interleave.
 *
 * @param writable The connection's writable side.
 * @returns Its stdout, its log, and its end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { relayOutput } from "./serve_relay_frames.ts";
 * const chunks: Uint8Array[] = [];
 * const out = relayOutput(new WritableStream({ write: (c) => void chunks.push(c) }));
 * out.log("hi");
 * await out.end(0);
 * assert.deepEqual(chunks, [new Uint8Array([2, 2, 0, 0, 0, 104, 105]), new Uint8Array([0, 1, 0, 0, 0, 0])]);
 * ```
 */
export function relayOutput(writable: WritableStream<Uint8Array>): RelayOutput {
  const out = writable.getWriter();
  const encoder = new TextEncoder();
  const send = (channel: RelayChannel, data: Uint8Array) => {
    const writes: Promise<void>[] = [];
    for (let off = 0; off < data.length; off += MAX_FRAME) {
      writes.push(out.write(frame(channel, data.subarray(off, off + MAX_FRAME))));
    }
    return Promise.all(writes).then(() => {});
  };
  return {
    stdout: new WritableStream({ write: (c) => send(RelayChannel.Stdout, c) }),
    log: (text) => void send(RelayChannel.Stderr, encoder.encode(text)).catch(() => {}),
    end: async (exitCode) => {
      await send(RelayChannel.Exit, new Uint8Array([exitCode])).catch(() => {});
      out.releaseLock();
    },
  };
}
