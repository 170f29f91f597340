/**
 * `buildhost build DRV... [--store ROOT] [--max-jobs N] [--cores N]
 * [--timeout S] [--max-silent-time S] [--keep-failed] [--sandbox-paths P]
 * [--no-sandbox] [--builders SPEC] [--max-attempts N] [--connect-timeout S]
 * [--host-timeout S]`: build `.drv` files in the store, input derivations
 * first, in the sandbox, or with `--builders` on build machines (Nix's
 * machine syntax; each derivation sent in memory, outputs fetched back,
 * failing over when a machine is lost); logs on stderr, each line prefixed
 * with `[NAME@MACHINE]`, kept in the store's log directory; output paths
 * on stdout. SIGINT/SIGTERM cancel every build and exit non-zero.
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import type { Store } from "../store/store.ts";
import { openStoreFromFlags, STORE_FLAGS } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import { keepingBuildLogs } from "../store/build_log.ts";
import { readDerivationGraph } from "../store/store_derivation.ts";
import { Builder, type SandboxRunner } from "../builder/builder.ts";
import { RUNNER_FLAGS, runnerFromFlags } from "./runner_options.ts";
import { type Machine, machineName, parseMachines } from "../remote/machine_spec.ts";
import {
  buildOnMachines,
  DEFAULT_MAX_ATTEMPTS,
  type LocalMachine,
} from "../remote/machine_scheduler.ts";
import { LogLines } from "../remote/log_lines.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import { buildGraph } from "../builder/build_graph.ts";
import { isBuildSuccess } from "../derivation/build_result.ts";
import { BuildConsole } from "./build_status.ts";
import { type Command, printOut, UsageError } from "./command.ts";

const USAGE = "usage: buildhost build DRV... [--store ROOT] [--max-jobs N] [--cores N] " +
  "[--timeout S] [--max-silent-time S] [--max-log-size BYTES] [--keep-failed] [--sandbox-paths P] " +
  "[--no-sandbox] [--builders 'MACHINE; ...'] [--max-attempts N] [--connect-timeout S] " +
  "[--host-timeout S]";

/** Default seconds for a machine to connect and finish the handshake. */
const DEFAULT_CONNECT_TIMEOUT = 30;

function count(v: string | undefined, name: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) throw new UsageError(`--${name}: not a number: ${v}`);
  return n;
}

const opt = <T>(v: T | undefined, key: string) => (v === undefined ? {} : { [key]: v });

/**
 * Abort on SIGINT or SIGTERM while `run` runs; its result, or the exit code
 * of the signal (130, 143) if one came.
 */
async function cancellable(
  say: (text: string) => void,
  run: (signal: AbortSignal) => Promise<number>,
): Promise<number> {
  const abort = new AbortController();
  let code = 0;
  const listeners = (["SIGINT", "SIGTERM"] as const).map((sig) => {
    const on = () => {
      if (abort.signal.aborted) return;
      code = sig === "SIGINT" ? 130 : 143;
      say(`${sig === "SIGINT" ? "interrupted" : "terminated"}: cancelling every build...`);
      abort.abort(new Error(`cancelled by ${sig}`));
    };
    Deno.addSignalListener(sig, on);
    return [sig, on] as const;
  });
  try {
    const result = await run(abort.signal);
    return code || result;
  } finally {
    for (const [sig, on] of listeners) Deno.removeSignalListener(sig, on);
  }
}

/** Build on the machines; print the outputs of `drvPaths`; 1 if any failed. */
async function buildRemotely(
  store: Store,
  drvPaths: string[],
  machines: Machine[],
  limits: Partial<ServeBuildOptions> & {
    maxAttempts?: number;
    connectTimeout?: number;
    hostTimeout?: number;
  },
  ui: BuildConsole,
  signal: AbortSignal,
  local?: LocalMachine,
): Promise<number> {
  const names = readDerivationGraph(store, drvPaths);
  ui.counts.total = names.size;
  const results = await buildOnMachines(store, drvPaths, machines, {
    ...limits,
    signal,
    ...(local ? { local } : {}),
    logLine: (drvPath, machine, line) =>
      ui.line(`[${names.get(drvPath)!.name}@${machineName(machine)}] ${line}`),
    events: (e) => {
      switch (e.kind) {
        case "start":
          ui.line(
            `building '${e.drvPath}' on '${e.machine.uri}'` +
              (e.attempt > 1 ? ` (attempt ${e.attempt})` : "") + "...",
          );
          ui.running(machineName(e.machine), +1);
          break;
        case "lost":
          ui.line(`warning: lost '${e.machine.uri}' building '${e.drvPath}': ${e.error}`);
          ui.running(machineName(e.machine), -1);
          break;
        case "copy":
          ui.counts.bytes += e.bytes;
          ui.redraw();
          break;
        case "end": {
          const o = e.outcome;
          if (e.machine) ui.running(machineName(e.machine), -1);
          ui.counts.done++;
          if (o.cancelled) ui.line(`cancelled: ${o.errorMsg}`);
          else if (!isBuildSuccess(o.status)) ui.line(`error: ${o.status}: ${o.errorMsg}`);
          else ui.redraw();
        }
      }
    },
  });
  ui.clear();
  let failed = 0;
  for (const p of drvPaths) {
    const r = results.get(p)!;
    if (isBuildSuccess(r.status)) {
      await printOut([...r.outputs.values()].map((o) => o + "\n").join(""));
    } else failed++;
  }
  return failed === 0 ? 0 : 1;
}

/** The runner with each build's log kept in the store and shown line by line (labelled if asked). */
function showingLogs(
  store: Store,
  runner: SandboxRunner,
  ui: BuildConsole,
  labelled: boolean,
): SandboxRunner {
  const kept = keepingBuildLogs(store, runner);
  return async (spec) => {
    const lines = new LogLines((l) => ui.line(labelled ? `[${spec.drv.name}@local] ${l}` : l));
    try {
      return await kept({
        ...spec,
        log: (chunk) => {
          lines.push(chunk);
          spec.log(chunk); // the builder's own (its log tail)
        },
      });
    } finally {
      lines.end();
    }
  };
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
      "max-attempts": { type: "string" },
      "connect-timeout": { type: "string" },
      "host-timeout": { type: "string" },
      "local-speed-factor": { type: "string" },
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
  const ui = new BuildConsole();
  if (values.builders !== undefined) {
    const machines = parseMachines(values.builders);
    if (machines.length === 0) throw new UsageError("--builders: no machine given");
    const maxAttempts = count(values["max-attempts"], "max-attempts") ?? DEFAULT_MAX_ATTEMPTS;
    if (maxAttempts < 1) throw new UsageError("--max-attempts: must be at least 1");
    const remote = {
      ...limits,
      maxAttempts,
      connectTimeout: count(values["connect-timeout"], "connect-timeout") ??
        DEFAULT_CONNECT_TIMEOUT,
      hostTimeout: count(values["host-timeout"], "host-timeout") ?? 0,
    };
    const maxJobs = count(values["max-jobs"], "max-jobs") ?? 0;
    const speed = Number(values["local-speed-factor"] ?? 1);
    if (!(speed > 0)) throw new UsageError(`--local-speed-factor: not a positive number`);
    // With --max-jobs N > 0, this machine builds too, as one more machine.
    const { store, location } = await openStoreFromFlags(values);
    try {
      let local: LocalMachine | undefined;
      if (maxJobs > 0) {
        const runner = await runnerFromFlags(values, settings, store.layout, { spares: true });
        const cores = count(values.cores, "cores");
        const builder = new Builder(store, keepingBuildLogs(store, runner), {
          system: settings.system,
          extraPlatforms: settings.extraPlatforms,
          systemFeatures: location.systemFeatures ?? settings.systemFeatures,
          maxJobs,
          cores: cores ?? settings.cores,
          postBuildHook: settings.postBuildHook,
        });
        local = {
          maxJobs,
          speedFactor: speed,
          systems: [settings.system, ...settings.extraPlatforms],
          supportedFeatures: [...(location.systemFeatures ?? settings.systemFeatures)],
          build: async (drvPath, drv, log, signal) => {
            const r = await builder.build(drvPath, drv, {
              ...limits,
              ...opt(cores, "cores"),
              log,
              signal,
            });
            let errorMsg = r.errorMsg;
            if (r.logTail.length > 0) {
              errorMsg += `\nlast ${r.logTail.length} log lines:\n` +
                r.logTail.map((l) => `> ${l}`).join("\n");
            }
            return { ...r, errorMsg };
          },
        };
      }
      return await cancellable(
        (t) => ui.line(t),
        (signal) => buildRemotely(store, positionals, machines, remote, ui, signal, local),
      );
    } finally {
      store.close();
    }
  }
  const { store, location } = await openStoreFromFlags(values);
  try {
    const runner = await runnerFromFlags(values, settings, store.layout, { spares: true });
    const maxJobs = count(values["max-jobs"], "max-jobs") ?? settings.maxJobs;
    const builder = new Builder(store, showingLogs(store, runner, ui, maxJobs > 1), {
      system: settings.system,
      extraPlatforms: settings.extraPlatforms,
      systemFeatures: location.systemFeatures ?? settings.systemFeatures,
      maxJobs,
      cores: count(values.cores, "cores") ?? settings.cores,
      postBuildHook: settings.postBuildHook,
    });
    return await cancellable((t) => ui.line(t), async (signal) => {
      ui.counts.total = readDerivationGraph(store, positionals).size;
      const started = new Set<string>();
      const results = await buildGraph(builder, positionals, {
        maxJobs: Math.max(1, maxJobs),
        ...opt(count(values.cores, "cores"), "cores"),
        ...limits,
        signal,
        notice: (line) => ui.line(line),
        progress: ({ drvPath, result }) => {
          if (!result) {
            ui.line(`building '${drvPath}'...`);
            started.add(drvPath);
            ui.running("local", +1);
            return;
          }
          ui.counts.done++;
          if (started.delete(drvPath)) ui.running("local", -1);
          if (!isBuildSuccess(result.status)) {
            ui.line(`error: ${result.status}: ${result.errorMsg}`);
            if (result.logTail.length > 0) {
              ui.line(`last ${result.logTail.length} log lines:`);
              for (const l of result.logTail) ui.line(`> ${l}`);
            }
          } else ui.redraw();
        },
      });
      ui.clear();
      let failed = 0;
      for (const p of positionals) {
        const r = results.get(p)!;
        if (isBuildSuccess(r.status)) {
          await printOut([...r.builtOutputs.values()].map((o) => o.outPath + "\n").join(""));
        } else failed++;
      }
      return failed === 0 ? 0 : 1;
    });
  } finally {
    store.close();
  }
};
