/**
 * What the soaks (`soak.ts`, `daemon_soak.ts`) share: their limits, how
 * they count a directory's entries, and their items' store path hashes.
 *
 * @module
 */

/** How long one build (or session) may take before it counts as hung. */
export const WATCHDOG_MS = 300_000;
/** Builds (or sessions) before the first sample. */
export const WARM_UP = 20;
/** How much resident memory may grow from the first sample to the last (caches). */
export const RSS_SLACK_KIB = 32 * 1024;

/** How many entries `dir` has (0 when it does not exist). */
export function count(dir: string): number {
  try {
    return [...Deno.readDirSync(dir)].length;
  } catch {
    return 0;
  }
}

const DIGITS = "0123456789abcdfghijklmnpqrsvwxyz";

/** A store path hash part of its own for item `i` (its number in Nix's base 32). */
export function hashPart(i: number): string {
  let hash = "";
  for (let n = i, k = 0; k < 32; k++, n = Math.floor(n / 32)) hash = DIGITS[n % 32] + hash;
  return hash;
}
