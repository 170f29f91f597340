/**
 * The shared fuzz runner: every fuzzer is a fast-check property run a
 * number of times that depends on how it is started.
 *
 * - Under `deno task test` (no `FUZZ_RUNS`): a brief run, a few hundred
 *   cases per parser, with a fixed seed so the suite is deterministic.
 * - Under `deno task fuzz` (`FUZZ_RUNS=100000` by default): the long run,
 *   with a random seed unless `FUZZ_SEED` replays one. Each fuzzer prints
 *   one summary line (`fuzz <name>: <n> cases in <s> s, seed <seed>, peak
 *   memory <MiB>`) that `tests/fuzz/main.ts` gathers.
 *
 * A failure prints fast-check's report: the seed, the shrink path and the
 * minimal counterexample; replay it with `FUZZ_SEED=<seed>` (and
 * `FUZZ_PATH=<path>` to go straight to the shrunk case).
 *
 * Properties every fuzzer checks through {@linkcode onlyTyped}: a parser
 * either succeeds or throws one of its module's typed error classes; any
 * other exception (TypeError, RangeError from an allocation...) is a bug.
 * Memory is bounded: the isolate's live heap plus array buffers is sampled
 * every 256 cases (after a collection in the long run, which exposes V8's
 * collector) and must stay below `FUZZ_MAX_MIB` (default 512); a huge
 * declared length must be rejected before anything is allocated for it (an
 * allocation that fails is a RangeError, which {@linkcode onlyTyped} reports).
 *
 * @module
 */
import fc from "fast-check";

/** The fixed seed of brief runs (any constant will do). */
const BRIEF_SEED = 0x5eed;

function envNumber(name: string): number | undefined {
  const v = Deno.env.get(name);
  if (v === undefined || v === "") return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n)) throw new Error(`${name}=${v} is not an integer`);
  return n;
}

/** True in the long run (`FUZZ_RUNS` set). */
export const LONG = envNumber("FUZZ_RUNS") !== undefined;

/**
 * How many cases a fuzzer runs: `FUZZ_RUNS`, or `brief` in `deno task test`.
 *
 * @param brief The count for the brief run.
 */
export function runs(brief: number): number {
  return envNumber("FUZZ_RUNS") ?? brief;
}

/** The seed: `FUZZ_SEED`, the fixed one in brief runs, else a random one. */
export function seed(): number {
  return envNumber("FUZZ_SEED") ?? (LONG ? (Math.random() * 0x7fffffff) | 0 : BRIEF_SEED);
}

/** The memory ceiling of one isolate, bytes. */
const MAX_BYTES = (envNumber("FUZZ_MAX_MIB") ?? 512) * 1024 * 1024;

/** V8's collector, when started with `--v8-flags=--expose-gc` (as `deno task fuzz` does). */
const gc = (globalThis as { gc?: () => void }).gc;

function memory(): number {
  const m = Deno.memoryUsage();
  return m.heapUsed + m.external;
}

/** A constructor of an error class. */
// deno-lint-ignore no-explicit-any
export type ErrorClass = abstract new (...args: any[]) => Error;

/**
 * Run `f`; an exception that is not one of `allowed` becomes a failure that
 * says what escaped. Returns `f`'s value, or undefined when it threw an
 * allowed error.
 *
 * @param allowed The module's typed error classes.
 * @param f The parse.
 */
export async function onlyTyped<T>(
  allowed: ErrorClass[],
  f: () => Promise<T> | T,
): Promise<{ ok: true; value: T } | { ok: false; error: Error }> {
  try {
    return { ok: true, value: await f() };
  } catch (e) {
    if (allowed.some((c) => e instanceof c)) return { ok: false, error: e as Error };
    throw new Error(
      `an untyped exception escaped: ${e instanceof Error ? `${e.name}: ${e.message}` : String(e)}`,
      { cause: e },
    );
  }
}

/** What a fuzz run did. */
export interface FuzzSummary {
  name: string;
  cases: number;
  seconds: number;
  seed: number;
  peakMiB: number;
}

/**
 * Run the property `check` over `arb`, `runs(brief)` times, checking memory
 * after every case; print a summary line in the long run.
 *
 * @param name The fuzzer's name, for the summary.
 * @param arb The inputs.
 * @param check The property; throws on a bug.
 * @param brief Cases in the brief run.
 */
export async function fuzz<T>(
  name: string,
  arb: fc.Arbitrary<T>,
  check: (value: T) => Promise<void> | void,
  brief: number,
): Promise<FuzzSummary> {
  const numRuns = runs(brief);
  const s = seed();
  const path = Deno.env.get("FUZZ_PATH");
  let peak = memory();
  let cases = 0;
  const started = performance.now();
  await fc.assert(
    fc.asyncProperty(arb, async (value) => {
      cases++;
      await check(value);
      // Live memory, sampled: after a collection when the collector is exposed.
      if (cases % 256 === 0 || cases === numRuns) {
        gc?.();
        const m = memory();
        if (m > peak) peak = m;
        if (m > MAX_BYTES) {
          throw new Error(
            `memory is ${(m / 1048576).toFixed(0)} MiB, above ${MAX_BYTES / 1048576} MiB`,
          );
        }
      }
    }),
    { numRuns, seed: s, ...(path ? { path } : {}), endOnFailure: !LONG },
  );
  const summary: FuzzSummary = {
    name,
    cases,
    seconds: (performance.now() - started) / 1000,
    seed: s,
    peakMiB: Math.round(peak / 1048576),
  };
  if (LONG) {
    console.log(
      `fuzz ${name}: ${summary.cases} cases in ${summary.seconds.toFixed(1)} s, seed ${s}, ` +
        `peak memory ${summary.peakMiB} MiB`,
    );
  }
  return summary;
}
