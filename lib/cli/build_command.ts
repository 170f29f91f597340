/**
 * `buildhost build DRV... [--store ROOT] [--max-jobs N] [--cores N]
 * [--timeout S] [--max-silent-time S] [--keep-failed] [--sandbox-paths P]
 * [--no-sandbox] [--builders SPEC]`: build `.drv` files in the store, input
 * derivations first, in the sandbox, or with `--builders` on build machines
 * (Nix's machine syntax; each derivation sent in memory, outputs fetched
 * back); logs on stderr, output paths on stdout.
 *
 * @module
 */
import { parseArgs } from "node:util";
import type { Store } from "../store/store.ts";
import { openStoreFromFlags, STORE_FLAGS } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import { Builder } from "../build/builder.ts";
import { RUNNER_FLAGS, runnerFromFlags } from "./runner_options.ts";
import { type Machine, parseMachines } from "../remote/machine_spec.ts";
import { buildOnMachines } from "../remote/machine_scheduler.ts";
import { isBuildSuccess } from "../serve/build_result.ts";
import type { ServeBuildOptions } from "../serve/build_options.ts";
import { buildGraph } from "../build/build_graph.ts";
import { buildStatusName, isSuccess } from "../build/build_result.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost build DRV... [--store ROOT] [--max-jobs N] [--cores N] " +
  "[--timeout S] [--max-silent-time S] [--max-log-size BYTES] [--keep-failed] [--sandbox-paths P] " +
  "[--no-sandbox] [--builders 'MACHINE; ...']";

function count(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name}: not a number: ${v}`);
  return n;
}

const opt = <T>(v: T | undefined, key: string) => (v === undefined ? {} : { [key]: v });

/** Build on the machines; print the outputs of `drvPaths`; 1 if any failed. */
async function buildRemotely(
  store: Store,
  drvPaths: string[],
  machines: Machine[],
  limits: Partial<ServeBuildOptions>,
): Promise<number> {
  const stderr = (text: string) => void Deno.stderr.writeSync(new TextEncoder().encode(text));
  const results = await buildOnMachines(store, drvPaths, machines, {
    ...limits,
    progress: ({ drvPath, machine, outcome }) => {
      if (!outcome) stderr(`building '${drvPath}' on '${machine!.uri}'...\n`);
      else if (!isBuildSuccess(outcome.status)) {
        stderr(`error: ${outcome.status}: ${outcome.errorMsg}\n`);
      }
    },
  });
  let failed = 0;
  for (const p of drvPaths) {
    const r = results.get(p)!;
    if (isBuildSuccess(r.status)) {
      await printOut([...r.outputs.values()].map((o) => o + "\n").join(""));
    } else failed++;
  }
  return failed === 0 ? 0 : 1;
}

/** `buildhost build ...` */
export const buildCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      ...STORE_FLAGS,
      "max-jobs": { type: "string" },
      cores: { type: "string" },
      timeout: { type: "string" },
      "max-silent-time": { type: "string" },
      "max-log-size": { type: "string" },
      "keep-failed": { type: "boolean", default: false },
      builders: { type: "string" },
      ...RUNNER_FLAGS,
    },
  });
  if (positionals.length === 0) throw new UsageError(USAGE);
  const settings = nixSettings(loadNixConfig(Deno.env.toObject()));
  const limits = {
    buildTimeout: count(values.timeout, "timeout") ?? settings.timeout,
    maxSilentTime: count(values["max-silent-time"], "max-silent-time") ?? settings.maxSilentTime,
    ...opt(count(values["max-log-size"], "max-log-size"), "maxLogSize"),
    keepFailed: values["keep-failed"],
  };
  if (values.builders !== undefined) {
    const machines = parseMachines(values.builders);
    if (machines.length === 0) throw new UsageError("--builders: no machine given");
    const { store } = await openStoreFromFlags(values);
    try {
      return await buildRemotely(store, positionals, machines, limits);
    } finally {
      store.close();
    }
  }
  const { store, location } = await openStoreFromFlags(values);
  try {
    const runner = await runnerFromFlags(values, settings, store.layout);
    const maxJobs = count(values["max-jobs"], "max-jobs") ?? settings.maxJobs;
    const builder = new Builder(store, runner, {
      system: settings.system,
      extraPlatforms: settings.extraPlatforms,
      systemFeatures: location.systemFeatures ?? settings.systemFeatures,
      maxJobs,
      cores: settings.cores,
      postBuildHook: settings.postBuildHook,
    });
    const stderr = (text: string) => void Deno.stderr.writeSync(new TextEncoder().encode(text));
    const results = await buildGraph(builder, positionals, {
      maxJobs: Math.max(1, maxJobs),
      ...opt(count(values.cores, "cores"), "cores"),
      ...limits,
      log: (chunk) => void Deno.stderr.writeSync(chunk),
      progress: ({ drvPath, result }) => {
        if (!result) stderr(`building '${drvPath}'...\n`);
        else if (!isSuccess(result.status)) {
          stderr(`error: ${buildStatusName(result.status)}: ${result.errorMsg}\n`);
          if (result.logTail.length > 0) {
            stderr(
              `last ${result.logTail.length} log lines:\n${
                result.logTail.map((l) => `> ${l}\n`).join("")
              }`,
            );
          }
        }
      },
    });
    let failed = 0;
    for (const p of positionals) {
      const r = results.get(p)!;
      if (isSuccess(r.status)) {
        await printOut([...r.builtOutputs.values()].map((o) => o + "\n").join(""));
      } else failed++;
    }
    return failed === 0 ? 0 : 1;
  } finally {
    store.close();
  }
};
