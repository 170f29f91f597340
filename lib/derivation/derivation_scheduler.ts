/**
 * Building a graph of derivations in dependency order: the one scheduler
 * behind building on this machine (`lib/builder/build_graph.ts`) and on
 * build machines (`lib/remote/machine_scheduler.ts`). It knows the graph,
 * which derivations are ready (every input derivation built), which cannot
 * be (an input failed: `DependencyFailed`, as soon as one has), how many
 * builds each place runs (up to its `maxJobs`), and a graph with a cycle.
 * Where a ready derivation is built, or that it needs no build, is the
 * caller's choice ({@linkcode SchedulerPolicy.place}): this machine's slots
 * and remote machines are both places.
 *
 * A build may end without a result (its machine was lost): the derivation
 * is placed again, at once or when the policy's wake-up time comes. With a
 * cancellation signal, once it is aborted the policy is told, and every
 * derivation not started gets the policy's cancelled result; the running
 * ones end as their builds do.
 *
 * Pure logic: no I/O; the builds are the policy's.
 *
 * @module
 */
import { type BuildStatus, isBuildSuccess } from "./build_result.ts";
import { DerivationError } from "./derivation_error.ts";

/** A place builds run at: its slots. */
export interface BuildPlace {
  /** How many builds it runs at once. */
  readonly maxJobs: number;
}

/** What to do with a ready derivation. */
export type Placement<P, R> =
  /** Build it there now (a place with a free slot). */
  | { place: P }
  /** It needs no build: this is its result. */
  | { result: R }
  /** Not now: ask again when a build ends, or at `until` (ms since the epoch). */
  | { wait: true; until?: number };

/** The caller's part of scheduling. */
export interface SchedulerPolicy<P extends BuildPlace, R extends { status: BuildStatus }> {
  /** The places builds run at. */
  readonly places: readonly P[];
  /**
   * Where to build a derivation whose inputs are all built, or its result.
   *
   * @param drvPath The derivation.
   * @param free The places with a free slot.
   * @param load How many builds each place runs.
   */
  place(drvPath: string, free: readonly P[], load: ReadonlyMap<P, number>): Placement<P, R>;
  /**
   * Build a derivation at a place.
   *
   * @returns Its result, or undefined to place it again (the place was lost).
   */
  build(drvPath: string, place: P): Promise<R | undefined>;
  /** The result of a derivation whose input derivation `input` failed. */
  dependencyFailed(drvPath: string, input: string): R;
  /** Told of each result as it is settled (with the place that built it). */
  settled?(drvPath: string, result: R, place?: P): void;
  /** Cancelling every build. */
  cancel?: {
    /** Aborted: no more builds start. */
    signal: AbortSignal;
    /** Told once, when the signal is seen aborted (cancel the running builds). */
    aborted(): Promise<void>;
    /** The result of a derivation that had not started. */
    result(drvPath: string): R;
  };
}

/**
 * Build a derivation graph.
 *
 * @param graph Every derivation of the graph (by `.drv` path) with its input
 *   derivations, all of which are in the graph.
 * @param policy Where to build, how, what a failure gives.
 * @returns Every derivation of the graph with its result.
 * @throws {DerivationError} When the graph has a cycle.
 *
 * @example Two slots, a diamond; a failure stops what depends on it
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildResult } from "./build_result.ts";
 * import { scheduleDerivations } from "./derivation_scheduler.ts";
 * const graph = new Map([
 *   ["a", { inputDrvs: new Map() }], ["b", { inputDrvs: new Map([["a", []]]) }],
 *   ["c", { inputDrvs: new Map([["a", []]]) }], ["d", { inputDrvs: new Map([["b", []], ["c", []]]) }],
 * ]);
 * const local = { maxJobs: 2 };
 * const results = await scheduleDerivations<typeof local, BuildResult>(graph, {
 *   places: [local],
 *   place: (_, free) => (free.length > 0 ? { place: free[0]! } : { wait: true }),
 *   build: (p) => Promise.resolve({ status: p === "c" ? "PermanentFailure" : "Built", errorMsg: "" }),
 *   dependencyFailed: (_, input) => ({ status: "DependencyFailed", errorMsg: input }),
 * });
 * assert.deepEqual(results.get("d"), { status: "DependencyFailed", errorMsg: "c" });
 * assert.equal(results.get("b")?.status, "Built");
 * ```
 */
export async function scheduleDerivations<
  P extends BuildPlace,
  R extends { status: BuildStatus },
>(
  graph: ReadonlyMap<string, { inputDrvs: ReadonlyMap<string, unknown> }>,
  policy: SchedulerPolicy<P, R>,
): Promise<Map<string, R>> {
  const results = new Map<string, R>();
  const running = new Map<string, Promise<void>>();
  const load = new Map<P, number>(policy.places.map((p) => [p, 0]));
  const cancel = policy.cancel;
  const settle = (drvPath: string, result: R, place?: P) => {
    results.set(drvPath, result);
    policy.settled?.(drvPath, result, place);
  };
  const start = (drvPath: string, place: P) => {
    load.set(place, load.get(place)! + 1);
    running.set(
      drvPath,
      policy.build(drvPath, place).then((r) => {
        if (r !== undefined) settle(drvPath, r, place);
      }).finally(() => {
        load.set(place, load.get(place)! - 1);
        running.delete(drvPath);
      }),
    );
  };
  const aborted = new Promise<void>((resolve) => {
    if (!cancel) return;
    if (cancel.signal.aborted) resolve();
    cancel.signal.addEventListener("abort", () => resolve(), { once: true });
  });

  let cancelling = false;
  try {
    for (;;) {
      if (cancel?.signal.aborted && !cancelling) {
        cancelling = true;
        await cancel.aborted();
      }
      let progressed = false;
      let wakeAt = Infinity;
      for (const [drvPath, drv] of graph) {
        if (results.has(drvPath) || running.has(drvPath)) continue;
        if (cancelling) {
          settle(drvPath, cancel!.result(drvPath));
          progressed = true;
          continue;
        }
        const inputs = [...drv.inputDrvs.keys()];
        const failed = inputs.find((i) =>
          results.has(i) && !isBuildSuccess(results.get(i)!.status)
        );
        if (failed !== undefined) {
          settle(drvPath, policy.dependencyFailed(drvPath, failed));
          progressed = true;
          continue;
        }
        if (!inputs.every((i) => results.has(i))) continue;
        const free = policy.places.filter((p) => load.get(p)! < p.maxJobs);
        const choice = policy.place(drvPath, free, load);
        if ("result" in choice) {
          settle(drvPath, choice.result);
          progressed = true;
        } else if ("place" in choice) {
          if (!free.includes(choice.place)) {
            throw new DerivationError(
              `Cannot build '${drvPath}': the place chosen has no free slot`,
            );
          }
          start(drvPath, choice.place);
          progressed = true;
        } else if (choice.until !== undefined) wakeAt = Math.min(wakeAt, choice.until);
      }
      if (results.size === graph.size) break;
      if (progressed) continue;
      if (running.size === 0 && wakeAt === Infinity) {
        throw new DerivationError("Cannot build: the derivation graph has a cycle");
      }
      let timer: ReturnType<typeof setTimeout> | undefined;
      const waits: Promise<unknown>[] = [...running.values()];
      if (cancel && !cancelling) waits.push(aborted);
      if (wakeAt !== Infinity) {
        waits.push(new Promise((r) => timer = setTimeout(r, Math.max(0, wakeAt - Date.now()))));
      }
      await Promise.race(waits);
      clearTimeout(timer);
    }
  } finally {
    await Promise.allSettled(running.values());
  }
  return results;
}
