/**
 * Building `.drv` files that are in the store, with their input derivations
 * first: the graph of derivations is read from the store, then built here
 * in dependency order, up to `maxJobs` at a time, by the derivation
 * scheduler (`lib/derivation/derivation_scheduler.ts`; this machine's slots
 * are its one place). A derivation whose input failed is not run
 * (`DependencyFailed`).
 *
 * @module
 */
import { outputPath } from "../derivation/derivation.ts";
import { readDerivationGraph } from "../store/store_derivation.ts";
import type { Builder, BuildOptions } from "./builder.ts";
import { BuildStatus, type CompleteBuildResult } from "../derivation/build_result.ts";
import { scheduleDerivations } from "../derivation/derivation_scheduler.ts";

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
  // As Nix, the derivations are temporary GC roots before they are read, and
  // so are all their outputs: one found valid now stays valid for the builds
  // that need it, whatever builds first.
  await store.tempRoots.add(drvPaths);
  const drvs = readDerivationGraph(store, drvPaths);
  const outputs = [...drvs.values()].flatMap((d) =>
    [...d.outputs].map(([name, o]) => outputPath(d.name, name, o, store.storeDir))
  );
  await store.tempRoots.add(outputs.filter((p) => p !== undefined));
  const now = () => Math.floor(Date.now() / 1000);
  const here = { maxJobs: Math.max(1, options.maxJobs ?? 1) };
  return await scheduleDerivations(drvs, {
    places: [here],
    place: (_, free) => (free.length > 0 ? { place: here } : { wait: true }),
    build: (p) => {
      const d = drvs.get(p)!;
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
      return builder.build(p, { ...d, inputSrcs: [...inputs].sort() }, options);
    },
    dependencyFailed: (p, failedInput) => ({
      status: BuildStatus.DependencyFailed,
      errorMsg: `dependency '${failedInput}' of '${p}' failed`,
      timesBuilt: 0,
      isNonDeterministic: false,
      startTime: now(),
      stopTime: now(),
      builtOutputs: new Map(),
      logTail: [],
    }),
    settled: (drvPath, result) => options.progress?.({ drvPath, result }),
  });
}
