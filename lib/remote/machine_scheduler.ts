/**
 * Building a graph of derivations on several build machines, as Nix's build
 * hook does: each derivation whose inputs are built goes to a machine that
 * builds its platform and has the features it requires (and every mandatory
 * feature of the machine is among them), the fastest free one first, up
 * to each machine's `maxJobs` at once. Each build is its own session with
 * its machine (inputs over, BuildDerivation, outputs back, as
 * {@linkcode buildOnHost}); a derivation whose input failed is not sent
 * (`DependencyFailed`); outputs valid here already are not rebuilt.
 *
 * @module
 */
import type { Derivation } from "../derivation/derivation.ts";
import { outputPath } from "../derivation/derivation.ts";
import type { Store } from "../store/store.ts";
import { readDerivationGraph } from "../store/store_derivation.ts";
import type { ServeBuildOptions } from "../serve/build_options.ts";
import { isBuildSuccess, type ServeBuildStatus } from "../serve/build_result.ts";
import type { Machine } from "./machine_spec.ts";
import { serveCommandFor } from "./machine_spec.ts";
import { buildOnHost } from "./remote_build.ts";
import type { CopyReport } from "./copy_paths.ts";
import { startServeHost } from "./serve_host_process.ts";
import { startDaemonHost } from "./daemon_host_process.ts";
import type { RemoteHostProcess } from "./remote_client.ts";

/** How one derivation of the graph ended. */
export interface MachineBuildOutcome {
  /** Nix's status. */
  status: ServeBuildStatus;
  /** Why it failed (empty on success). */
  errorMsg: string;
  /** The machine that built it (its URI), if one did. */
  machine?: string;
  /** Output name → store path. */
  outputs: Map<string, string>;
  /** The inputs sent to the machine. */
  sent?: CopyReport;
  /** The outputs fetched back. */
  fetched?: CopyReport;
}

/** Options of {@linkcode buildOnMachines}. */
export interface MachineBuildOptions extends Partial<ServeBuildOptions> {
  /** Open a session with a machine (default: ssh to it, see `serveCommandFor`). */
  connect?: (machine: Machine) => Promise<RemoteHostProcess>;
  /** Where a machine's stderr (build logs) goes (default: this process's stderr). */
  log?: (machine: Machine, chunk: Uint8Array) => void;
  /** Told when a derivation is sent and when it ends. */
  progress?: (event: { drvPath: string; machine?: Machine; outcome?: MachineBuildOutcome }) => void;
}

function requiredFeatures(drv: Derivation): string[] {
  return (drv.env.get("requiredSystemFeatures") ?? "").split(/\s+/).filter((s) => s !== "");
}

/**
 * Whether a machine may build a derivation: its platform, and features.
 *
 * @param machine The machine.
 * @param drv The derivation.
 * @returns True if it fits.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseMachines } from "./machine_spec.ts";
 * import { machineFits } from "./machine_scheduler.ts";
 * const [kvm] = parseMachines("ssh://a x86_64-linux - 1 1 kvm kvm");
 * const drv = { platform: "x86_64-linux", env: new Map([["requiredSystemFeatures", "kvm"]]) };
 * assert.ok(machineFits(kvm!, drv as never));
 * assert.ok(!machineFits(kvm!, { platform: "x86_64-linux", env: new Map() } as never));
 * ```
 */
export function machineFits(machine: Machine, drv: Derivation): boolean {
  const required = requiredFeatures(drv);
  return machine.maxJobs > 0 &&
    machine.systems.includes(drv.platform) &&
    required.every((f) =>
      machine.supportedFeatures.includes(f) || machine.mandatoryFeatures.includes(f)
    ) &&
    machine.mandatoryFeatures.every((f) => required.includes(f));
}

function outputsOf(store: Store, drv: Derivation): Map<string, string> {
  const out = new Map<string, string>();
  for (const [name, o] of drv.outputs) {
    const p = outputPath(drv.name, name, o, store.storeDir);
    if (p) out.set(name, p);
  }
  return out;
}

/**
 * Build `.drv` files of `store` (and the derivations they need) on machines.
 *
 * @param store The local store, holding the derivations and their sources.
 * @param drvPaths The derivations to build.
 * @param machines The build machines.
 * @param options Limits, how to reach a machine, logs, progress.
 * @returns Every derivation of the graph with its outcome.
 */
export async function buildOnMachines(
  store: Store,
  drvPaths: string[],
  machines: Machine[],
  options: MachineBuildOptions = {},
): Promise<Map<string, MachineBuildOutcome>> {
  const drvs = readDerivationGraph(store, drvPaths);

  const connect = options.connect ??
    ((m: Machine): Promise<RemoteHostProcess> => {
      const hostOptions = {
        host: m.uri,
        log: (chunk: Uint8Array) =>
          options.log ? options.log(m, chunk) : void Deno.stderr.writeSync(chunk),
      };
      return m.protocol === "ssh-ng"
        ? startDaemonHost(serveCommandFor(m), hostOptions)
        : startServeHost(serveCommandFor(m), hostOptions);
    });
  const buildOptions: ServeBuildOptions = {
    maxSilentTime: options.maxSilentTime ?? 0,
    buildTimeout: options.buildTimeout ?? 0,
    ...(options.maxLogSize !== undefined ? { maxLogSize: options.maxLogSize } : {}),
    ...(options.keepFailed !== undefined ? { keepFailed: options.keepFailed } : {}),
  };
  const results = new Map<string, MachineBuildOutcome>();
  const running = new Map<string, Promise<void>>();
  const load = new Map<Machine, number>(machines.map((m) => [m, 0]));
  const finish = (drvPath: string, outcome: MachineBuildOutcome, machine?: Machine) => {
    results.set(drvPath, outcome);
    options.progress?.({ drvPath, ...(machine ? { machine } : {}), outcome });
  };

  // Machines that could not be reached: not tried again in this run (Nix
  // likewise skips a machine it failed to connect to and picks another).
  const down = new Set<Machine>();
  const unreachable = new Map<string, string[]>();
  const run = async (drvPath: string, machine: Machine) => {
    const outputs = outputsOf(store, drvs.get(drvPath)!);
    try {
      let session: RemoteHostProcess;
      try {
        session = await connect(machine);
      } catch (e) {
        down.add(machine);
        const why = unreachable.get(drvPath) ?? [];
        why.push(`'${machine.uri}': ${(e as Error).message}`);
        unreachable.set(drvPath, why);
        return; // back to the queue: another machine may take it
      }
      await using _ = session;
      const report = await buildOnHost(session.client, store, drvPath, buildOptions);
      finish(drvPath, {
        status: report.result.status,
        errorMsg: report.result.errorMsg,
        machine: machine.uri,
        outputs,
        sent: report.sent,
        ...(report.fetched ? { fetched: report.fetched } : {}),
      }, machine);
    } catch (e) {
      finish(drvPath, {
        status: "MiscFailure",
        errorMsg: `building '${drvPath}' on '${machine.uri}': ${(e as Error).message}`,
        machine: machine.uri,
        outputs,
      }, machine);
    } finally {
      load.set(machine, load.get(machine)! - 1);
      running.delete(drvPath);
    }
  };

  for (;;) {
    let progressed = false;
    for (const [drvPath, drv] of drvs) {
      if (results.has(drvPath) || running.has(drvPath)) continue;
      const inputs = [...drv.inputDrvs.keys()];
      const failed = inputs.find((i) => results.has(i) && !isBuildSuccess(results.get(i)!.status));
      const outputs = outputsOf(store, drv);
      if (failed) {
        finish(drvPath, {
          status: "DependencyFailed",
          errorMsg: `dependency '${failed}' of '${drvPath}' failed`,
          outputs,
        });
        progressed = true;
        continue;
      }
      if (!inputs.every((i) => results.has(i))) continue;
      if (
        outputs.size === drv.outputs.size && [...outputs.values()].every((p) => store.isValid(p))
      ) {
        finish(drvPath, { status: "AlreadyValid", errorMsg: "", outputs });
        progressed = true;
        continue;
      }
      const fitting = machines.filter((m) => machineFits(m, drv));
      const reachable = fitting.filter((m) => !down.has(m));
      if (fitting.length > 0 && reachable.length === 0) {
        finish(drvPath, {
          status: "MiscFailure",
          errorMsg: `cannot reach a build machine for '${drvPath}': ${
            (unreachable.get(drvPath) ?? ["all are down"]).join("; ")
          }`,
          outputs,
        });
        progressed = true;
        continue;
      }
      if (fitting.length === 0) {
        const features = requiredFeatures(drv);
        finish(drvPath, {
          status: "MiscFailure",
          errorMsg:
            `no build machine can build '${drvPath}': it needs a '${drv.platform}' machine` +
            (features.length > 0 ? ` with features {${features.join(", ")}}` : ""),
          outputs,
        });
        progressed = true;
        continue;
      }
      const free = reachable.filter((m) => load.get(m)! < m.maxJobs)
        .sort((a, b) =>
          b.speedFactor - a.speedFactor || load.get(a)! / a.maxJobs - load.get(b)! / b.maxJobs
        );
      const machine = free[0];
      if (!machine) continue;
      load.set(machine, load.get(machine)! + 1);
      options.progress?.({ drvPath, machine });
      running.set(drvPath, run(drvPath, machine));
      progressed = true;
    }
    if (results.size === drvs.size) break;
    if (!progressed) {
      if (running.size === 0) throw new Error("the derivation graph has a cycle");
      await Promise.race(running.values());
    }
  }
  return results;
}
