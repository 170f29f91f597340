/**
 * What the soaks (`soak.ts`, `daemon_soak.ts`) share: their limits and how
 * they count a directory's entries.
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
