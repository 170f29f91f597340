/**
 * A host session on standard input and output, as `buildhost --serve` and
 * `buildhost --stdio` run one: the session is in the store's record
 * (`buildhost status`) with the bytes it received and sent, stdin is read
 * into reused buffers ({@linkcode stdinStream}), and stdout is released
 * and the store closed however the session ends.
 *
 * @module
 */
import { BuildRecord } from "../store/build_record.ts";
import type { Store } from "../store/store.ts";
import { stdinStream } from "./stdin_stream.ts";

/** What a session loop is given: its input, and a sink for its output. */
export type SessionLoop = (
  input: ReadableStream<Uint8Array>,
  output: { write(chunk: Uint8Array): Promise<void> },
) => Promise<{ exitCode: number }>;

/**
 * Run a session loop on stdin and stdout, recorded in the store's record.
 *
 * @param store The host's store; closed when the session ends.
 * @param kind The protocol, as the record names it (`serve`, `daemon`).
 * @param loop The session loop.
 * @returns The loop's exit code.
 */
export async function runStdioSession(
  store: Store,
  kind: string,
  loop: SessionLoop,
): Promise<number> {
  const stdout = Deno.stdout.writable.getWriter();
  const session = BuildRecord.of(store.layout.stateDir).openSession(kind);
  try {
    // Counted as read, so the reused buffers of stdinStream are never read ahead.
    const input = stdinStream({
      read: async (p) => {
        const n = await Deno.stdin.read(p);
        if (n) session.received(n);
        return n;
      },
    });
    const { exitCode } = await loop(input, {
      write: (c) => (session.sent(c.byteLength), stdout.write(c)),
    });
    return exitCode;
  } finally {
    session.close();
    stdout.releaseLock();
    store.close();
  }
}
