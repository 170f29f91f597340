/**
 * Running a build for the client of a session (the serve loop's and the
 * daemon's), cancelling it when the client goes away: its side of the
 * stream ends while it waits for the reply (ssh died, Nix was killed), or
 * the session finds it unreachable otherwise (a log message could not be
 * written). The client sends nothing during a build, so watching for the
 * end of its stream consumes nothing.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";

/** Options of {@linkcode whileConnected}. */
export interface WhileConnectedOptions {
  /** The error thrown when the client went away (instead of what the cancellation caused). */
  gone: () => Error;
  /** Told when the client's stream ended during the build, before it is cancelled. */
  onEnd?: () => void;
  /** Aborted when the client is found unreachable (a write to it failed). */
  broken?: AbortSignal;
}

/**
 * Run a build, cancelling it when the client goes away.
 *
 * @param r The client's stream.
 * @param run The build, given the signal that cancels it.
 * @param options The error for a client gone, what to tell.
 * @returns What the build returned.
 * @throws {Error} `options.gone()` when the client went away during the build.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { whileConnected } from "./while_connected.ts";
 * const gone = () => new Error("interrupted: the client went away");
 * const ended = new WireReader(ReadableStream.from<Uint8Array>([]));
 * const never = (signal: AbortSignal) =>
 *   new Promise<number>((_, reject) => signal.addEventListener("abort", () => reject(new Error("killed"))));
 * await assert.rejects(whileConnected(ended, never, { gone }), /the client went away/);
 * ```
 */
export async function whileConnected<T>(
  r: WireReader,
  run: (signal: AbortSignal) => Promise<T>,
  options: WhileConnectedOptions,
): Promise<T> {
  if (options.broken?.aborted) throw options.gone(); // nobody to build for
  const abort = new AbortController();
  let building = true;
  r.atEnd().then((ended) => {
    if (ended && building) {
      options.onEnd?.();
      abort.abort();
    }
  }, () => abort.abort());
  // An event, not a poll: a timer would cost a one-shot session the
  // loading of Deno's Node timers (~12 ms) for every build.
  const broken = options.broken;
  const onBroken = () => abort.abort();
  broken?.addEventListener("abort", onBroken, { once: true });
  try {
    const result = await run(abort.signal).catch((e) => {
      throw abort.signal.aborted ? options.gone() : e; // the cancellation, not what it interrupted
    });
    if (abort.signal.aborted) throw options.gone();
    return result;
  } finally {
    building = false;
    broken?.removeEventListener("abort", onBroken);
  }
}
