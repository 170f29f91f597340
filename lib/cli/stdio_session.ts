/**
 * A host session on a byte channel, as `buildhost --serve` and `buildhost
 * --stdio` run one on stdin and stdout and `buildhost daemon` on each
 * connection: the session is in the store's record (`buildhost status`)
 * with the bytes it received and sent, its input is read into reused
 * buffers ({@linkcode stdinStream}), and the output is released and the
 * store closed however the session ends.
 *
 * @module
 */
import { BuildRecord, type RecordedSession } from "../store/build_record.ts";
import type { Store } from "../store/store.ts";
import { stdinStream } from "./stdin_stream.ts";
import { enlargePipeBuffer } from "./pipe_buffer.ts";
import { readStdin, stdoutNow } from "./stdio_now.ts";
import type { ByteSink } from "../wire/wire_writer.ts";

/** What a session loop is given: its input, and a sink for its output. */
export type SessionLoop = (
  input: AsyncIterable<Uint8Array>,
  output: { write(chunk: Uint8Array): Promise<void> },
) => Promise<{ exitCode: number }>;

/** Where a session's bytes come from and go to. */
export interface SessionChannel {
  /** Read into `p`; the count, or null at the end. */
  read(p: Uint8Array): Promise<number | null>;
  /** Where the session's output goes (`releaseLock`, when it has one, is called at the end). */
  sink: ByteSink & { releaseLock?(): void };
}

/**
 * Run a session loop on a channel, recorded as `session`.
 *
 * @param store The host's store; closed when the session ends.
 * @param session The session's entry in the store's record; closed at the end.
 * @param channel Its input and output.
 * @param loop The session loop.
 * @returns The loop's exit code.
 */
export async function runSession(
  store: Store,
  session: RecordedSession,
  channel: SessionChannel,
  loop: SessionLoop,
): Promise<number> {
  const output = channel.sink;
  try {
    // Counted as read, so the reused buffers of stdinStream are never read ahead.
    const input = stdinStream({
      read: async (p) => {
        const n = await channel.read(p);
        if (n) session.received(n);
        return n;
      },
    });
    const { exitCode } = await loop(input, {
      write: async (c) => (session.sent(c.byteLength), await output.write(c)),
    });
    return exitCode;
  } finally {
    session.close();
    output.releaseLock?.();
    store.close();
  }
}

/**
 * Run a session loop on stdin and stdout, recorded as this process's session.
 *
 * @param store The host's store; closed when the session ends.
 * @param kind The protocol, as the record names it (`serve`, `daemon`).
 * @param loop The session loop.
 * @returns The loop's exit code.
 */
export function runStdioSession(store: Store, kind: string, loop: SessionLoop): Promise<number> {
  const session = BuildRecord.of(store.layout.stateDir).openSession(kind);
  enlargePipeBuffer(0); // NARs come in larger pieces (see stdinStream)
  // What is ready is read and written at once, without a hop to Deno's I/O thread.
  return runSession(store, session, { read: readStdin, sink: stdoutNow() }, loop);
}
