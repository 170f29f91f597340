/**
 * What the soaks (`soak.ts`, `daemon_soak.ts`) share: their limits, their
 * run loop (items in parallel under a watchdog, sampled at three points),
 * the check that nothing grew, how they count a directory's entries, and
 * their items' store path hashes.
 *
 * @module
 */

/** How long one build (or session) may take before it counts as hung. */
export const WATCHDOG_MS = 300_000;
/** Builds (or sessions) before the first sample. */
export const WARM_UP = 20;
/** How much resident memory may grow from the first sample to the last (caches). */
export const RSS_SLACK_KIB = 32 * 1024;

/**
 * Run items `0 .. total-1`, `parallel` at a time, each under the watchdog,
 * and take samples after {@linkcode WARM_UP} items (`start`), half way
 * (`middle`) and at the end (`end`).
 *
 * @param total How many items.
 * @param parallel How many at a time.
 * @param what What an item is, for the watchdog's error (`build`, `session`).
 * @param one Runs item `i`.
 * @param sample Takes a sample, given how many items are done.
 * @returns The samples, labelled.
 * @throws {Error} An item outlived the watchdog, or failed outright.
 */
export async function soakLoop<F>(
  total: number,
  parallel: number,
  what: string,
  one: (i: number) => Promise<void>,
  sample: (done: number) => F | Promise<F>,
): Promise<[string, F][]> {
  const samples: [string, F][] = [];
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < total) {
      const i = next++;
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([
        one(i),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () => reject(new Error(`${what} ${i} still running after ${WATCHDOG_MS / 1000} s`)),
            WATCHDOG_MS,
          );
        }),
      ]).finally(() => clearTimeout(timer));
      done++;
      const at = done;
      if (at === WARM_UP) samples.push(["start", await sample(at)]);
      if (at === Math.floor(total / 2)) samples.push(["middle", await sample(at)]);
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  samples.push(["end", await sample(done)]);
  return samples;
}

/**
 * What grew from the first sample to the last: each of `keys`, and the
 * resident memory beyond {@linkcode RSS_SLACK_KIB}.
 *
 * @param samples The samples, in order.
 * @param keys The counts that must not grow.
 * @returns One line per growth; none when all is flat.
 */
export function growth<F extends { rssKiB: number }>(
  samples: [string, F][],
  keys: readonly (keyof F & string)[],
): string[] {
  const first = samples[0]![1];
  const last = samples[samples.length - 1]![1];
  const grew = keys.filter((k) => (last[k] as number) > (first[k] as number))
    .map((k) => `${k} grew: ${first[k]} -> ${last[k]}`);
  if (last.rssKiB > first.rssKiB + RSS_SLACK_KIB) {
    grew.push(`RSS grew: ${first.rssKiB} KiB -> ${last.rssKiB} KiB`);
  }
  return grew;
}

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
