/**
 * Building `.drv` files that are in the store, with their input derivations
 * first: the graph of derivations is read from the store, then built in
 * dependency order, up to `maxJobs` at a time. A derivation whose input
 * failed is not run (`DependencyFailed`).
 *
 * @module
 */
import { outputPath } from "../derivation/derivation.ts";
import { StoreError } from "../store/store.ts";
import { readDerivationGraph } from "../store/store_derivation.ts";
import type { Builder, BuildOptions } from "./builder.ts";
import {
  BuildStatus,
  type CompleteBuildResult,
  isBuildSuccess,
} from "../derivation/build_result.ts";

/** Options of {@linkcode buildGraph}. */
export interface BuildGraphOptions extends BuildOptions {
  /** How many builds run at once (default 1). */
  maxJobs?: number;
  /** Told when a derivation starts and ends. */
  progress?: (event: { drvPath: string; result?: CompleteBuildResult }) => void;
}

/**
 * Build derivations in the store and everything they need.
 *
 * @param builder The builder.
 * @param drvPaths The `.drv` paths to build.
 * @param options Limits, parallelism, log sink.
 * @returns Each derivation of the graph with its result.
 */
export async function buildGraph(
  builder: Builder,
  drvPaths: string[],
  options: BuildGraphOptions = {},
): Promise<Map<string, CompleteBuildResult>> {
  const store = builder.store;
  const drvs = readDerivationGraph(store, drvPaths);

  const results = new Map<string, CompleteBuildResult>();
  const running = new Map<string, Promise<void>>();
  const maxJobs = Math.max(1, options.maxJobs ?? 1);
  const now = () => Math.floor(Date.now() / 1000);
  const ready = (p: string) => [...drvs.get(p)!.inputDrvs.keys()].every((i) => results.has(i));

  while (results.size < drvs.size) {
    for (const [p, d] of drvs) {
      if (results.has(p) || running.has(p) || !ready(p) || running.size >= maxJobs) continue;
      const failedInput = [...d.inputDrvs.keys()].find((i) =>
        !isBuildSuccess(results.get(i)!.status)
      );
      if (failedInput) {
        const result: CompleteBuildResult = {
          status: BuildStatus.DependencyFailed,
          errorMsg: `dependency '${failedInput}' of '${p}' failed`,
          timesBuilt: 0,
          isNonDeterministic: false,
          startTime: now(),
          stopTime: now(),
          builtOutputs: new Map(),
          logTail: [],
        };
        results.set(p, result);
        options.progress?.({ drvPath: p, result });
        continue;
      }
      // The builder sees the outputs of the input derivations as input sources.
      const inputs = new Set(d.inputSrcs);
      for (const [input, outs] of d.inputDrvs) {
        const inDrv = drvs.get(input)!;
        for (const o of outs) {
          const out = inDrv.outputs.get(o);
          const path = out && outputPath(inDrv.name, o, out, store.storeDir);
          if (path) inputs.add(path);
        }
      }
      options.progress?.({ drvPath: p });
      running.set(
        p,
        builder.build(p, { ...d, inputSrcs: [...inputs].sort() }, options).then((r) => {
          results.set(p, r);
          running.delete(p);
          options.progress?.({ drvPath: p, result: r });
        }),
      );
    }
    if (running.size === 0) {
      if (results.size < drvs.size) {
        throw new StoreError("Cannot build: the derivation graph has a cycle");
      }
      break;
    }
    await Promise.race(running.values());
  }
  return results;
}
