/**
 * A heartbeat between a buildhost client and a buildhost serve host, so
 * that a build that prints nothing for long stays visibly alive to a client
 * with a host timeout, negotiated without changing what real Nix sees on
 * either side.
 *
 * The offer: right after the handshake, a buildhost client with a host
 * timeout asks QueryValidPaths (no lock, no substitution) of one made-up
 * path, `STOREDIR/00000000000000000000000000000000-buildhost-heartbeat-N`
 * (N: seconds between beats). Real `nix-store --serve` answers that it does
 * not have it, and nothing else changes. A buildhost host answers that it
 * has it, and from then on, while it builds for that session, writes a NUL
 * byte to its stderr (the log channel) every N seconds; the client counts
 * it as a sign of life and drops it from the log. A real Nix client never
 * sends that path, so it never gets a beat.
 *
 * @module
 */

const HASH = "0".repeat(32);
const NAME = /^buildhost-heartbeat-([1-9][0-9]{0,4})$/;

/** The heartbeat itself: one NUL byte on the log channel. */
export const HEARTBEAT_BYTE = 0;

/**
 * The path that offers a heartbeat every `seconds`.
 *
 * @param storeDir The store directory.
 * @param seconds Seconds between beats (1 to 99999).
 * @returns The path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { heartbeatOffer, heartbeatAccepted } from "./heartbeat.ts";
 * const offer = heartbeatOffer("/nix/store", 5);
 * assert.equal(offer, "/nix/store/00000000000000000000000000000000-buildhost-heartbeat-5");
 * assert.equal(heartbeatAccepted("/nix/store", [offer]), 5);
 * assert.equal(heartbeatAccepted("/nix/store", ["/nix/store/00000000000000000000000000000000-x"]), undefined);
 * ```
 */
export function heartbeatOffer(storeDir: string, seconds: number): string {
  return `${storeDir}/${HASH}-buildhost-heartbeat-${
    Math.min(99999, Math.max(1, Math.floor(seconds)))
  }`;
}

/**
 * The beat interval offered among `paths`, if one is.
 *
 * @param storeDir The store directory.
 * @param paths The paths of a QueryValidPaths request.
 * @returns Seconds between beats, or undefined.
 */
export function heartbeatAccepted(storeDir: string, paths: string[]): number | undefined {
  for (const p of paths) {
    if (!p.startsWith(`${storeDir}/${HASH}-`)) continue;
    const m = NAME.exec(p.slice(storeDir.length + 34));
    if (m) return Number(m[1]);
  }
  return undefined;
}

/** The host's side: remembers an accepted offer, beats while a build runs. */
export class Heartbeat {
  #seconds: number | undefined;

  /**
   * See whether a QueryValidPaths request offers a heartbeat.
   *
   * @param storeDir The store directory.
   * @param paths The request's paths.
   * @returns The offer path when accepted (to add to the reply), else nothing.
   */
  accept(storeDir: string, paths: string[]): string[] {
    const seconds = heartbeatAccepted(storeDir, paths);
    if (seconds === undefined) return [];
    this.#seconds = seconds;
    return [heartbeatOffer(storeDir, seconds)];
  }

  /**
   * Beat on `log` until the returned function is called (nothing if no
   * offer was accepted).
   *
   * @param log The log channel.
   * @returns Stops the beats.
   */
  start(log: (text: string) => void): () => void {
    if (this.#seconds === undefined) return () => {};
    const timer = setInterval(() => log(String.fromCharCode(HEARTBEAT_BYTE)), this.#seconds * 1000);
    return () => clearInterval(timer);
  }
}
