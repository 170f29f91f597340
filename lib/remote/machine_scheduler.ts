/**
 * Building a graph of derivations on several build machines, as Nix's build
 * hook does. The derivation scheduler (`lib/derivation/derivation_scheduler.ts`:
 * readiness, `DependencyFailed`, each machine's job limit, cancellation)
 * has the machines for places; this file chooses among them. Each
 * derivation whose inputs are built goes to a machine that builds its
 * platform and has the features it requires (and every mandatory
 * feature of the machine is among them), the fastest free one first, up
 * to each machine's `maxJobs` at once. Each build is its own session with
 * its machine (inputs over, BuildDerivation, outputs back, as
 * {@linkcode buildOnHost}); a derivation whose input failed is not sent
 * (`DependencyFailed`); outputs valid here already are not rebuilt.
 *
 * Failover: a build whose host is lost (it cannot be reached, its
 * connection closes, its program dies, or it sends nothing for the host
 * timeout) goes back to the queue and is tried on a fitting machine it has
 * not tried yet, or, when every fitting machine has been tried, again
 * after a back-off (1 s, 2 s, 4 s, ... up to 30 s), up to `maxAttempts`
 * attempts in all; a machine that could not be reached is avoided by every
 * build for its back-off. A build that failed on its merits (the host
 * answered with a failure: the builder's exit code, a timeout, the log
 * limit, a rejected output, a hash mismatch) is never tried again. The
 * final error of a build that ran out of attempts names each of them.
 * Imports are atomic, so a lost or cancelled transfer registers nothing.
 *
 * Each build's log (the session's stderr) is kept in the client's store in
 * Nix's layout (see `openBuildLog`) and passed on line by line.
 *
 * @module
 */
import type { BasicDerivation, Derivation } from "../derivation/derivation.ts";
import { outputPath } from "../derivation/derivation.ts";
import type { Store } from "../store/store.ts";
import { openBuildLog } from "../store/build_log.ts";
import { readDerivationGraph } from "../store/store_derivation.ts";
import type { ServeBuildOptions } from "../serve_protocol/build_options.ts";
import type { BuildResult, BuildStatus } from "../derivation/build_result.ts";
import type { Machine, SessionTimeouts } from "./machine_spec.ts";
import { basicDerivationFor, buildOnHost } from "./remote_build.ts";
import type { CopyReport } from "./copy_paths.ts";
import { isHostLoss } from "./host_lost_error.ts";
import { RemoteError } from "./remote_error.ts";
import { LogLines } from "./log_lines.ts";
import { startMachineHost } from "./machine_host.ts";
import { type Placement, scheduleDerivations } from "../derivation/derivation_scheduler.ts";
import type { RemoteHostProcess } from "./remote_client.ts";

/** One try of a derivation on a machine that was lost. */
export interface BuildAttempt {
  /** The machine's URI. */
  machine: string;
  /** Why it was lost. */
  error: string;
}

/** How one derivation of the graph ended. */
export interface MachineBuildOutcome {
  /** Nix's status. */
  status: BuildStatus;
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
  /** The attempts that lost their host before this outcome. */
  attempts: BuildAttempt[];
  /** It was cancelled (it was running, or had not started). */
  cancelled?: boolean;
}

/** What {@linkcode buildOnMachines} reports as it goes. */
export type MachineBuildEvent =
  | { kind: "start"; drvPath: string; machine: Machine; attempt: number }
  | { kind: "lost"; drvPath: string; machine: Machine; error: string }
  | { kind: "end"; drvPath: string; machine?: Machine; outcome: MachineBuildOutcome }
  | { kind: "copy"; drvPath: string; machine: Machine; path: string; bytes: number };

/** Options of {@linkcode buildOnMachines}. */
export interface MachineBuildOptions extends Partial<ServeBuildOptions>, SessionTimeouts {
  /**
   * Open a session with a machine, its stderr going to `log` (default: ssh
   * to it, see `startMachineHost`, with the timeouts).
   */
  connect?: (machine: Machine, log: (chunk: Uint8Array) => void) => Promise<RemoteHostProcess>;
  /** Gets each line of each build's log (default: this process's stderr, prefixed). */
  logLine?: (drvPath: string, machine: Machine, line: string) => void;
  /** Keep each build's log in the store's log directory (default true). */
  keepLogs?: boolean;
  /** Told when a derivation is sent and when it ends. */
  progress?: (event: { drvPath: string; machine?: Machine; outcome?: MachineBuildOutcome }) => void;
  /** Told when a build starts, loses its host, ends, and of each path copied. */
  events?: (event: MachineBuildEvent) => void;
  /** Attempts per derivation, counting lost hosts (default 3). */
  maxAttempts?: number;
  /** The first back-off before a machine is tried again, in ms (default 1000). */
  backoffMs?: number;
  /** Cancels every build: running sessions are cancelled, queued ones not started. */
  signal?: AbortSignal;
  /** This machine, as one more build machine (see {@linkcode LocalMachine}). */
  local?: LocalMachine;
}

/**
 * This machine as a build machine, beside the remote ones: its slots and
 * speed factor, and how it builds (the caller's builder; it keeps its own
 * logs). Its URI is `local`.
 */
export interface LocalMachine {
  /** Builds at once here. */
  maxJobs: number;
  /** Its speed factor against the remote machines (default 1). */
  speedFactor?: number;
  /** Platforms it builds (default `x86_64-linux`). */
  systems?: string[];
  /** System features it supports. */
  supportedFeatures?: string[];
  /**
   * Build a derivation whose inputs are valid here.
   *
   * @returns The result (its status and message are kept).
   */
  build(
    drvPath: string,
    drv: BasicDerivation,
    log: (chunk: Uint8Array) => void,
    signal: AbortSignal,
  ): Promise<BuildResult>;
}

/** The default of `maxAttempts`. */
export const DEFAULT_MAX_ATTEMPTS = 3;

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
 * @param options Limits, how to reach a machine, logs, progress, failover, cancellation.
 * @returns Every derivation of the graph with its outcome.
 */
export async function buildOnMachines(
  store: Store,
  drvPaths: string[],
  machines: Machine[],
  options: MachineBuildOptions = {},
): Promise<Map<string, MachineBuildOutcome>> {
  const drvs = readDerivationGraph(store, drvPaths);
  const local: Machine | undefined = options.local && {
    uri: "local",
    host: "local",
    remoteProgram: "",
    systems: options.local.systems ?? ["x86_64-linux"],
    maxJobs: options.local.maxJobs,
    speedFactor: options.local.speedFactor ?? 1,
    supportedFeatures: options.local.supportedFeatures ?? [],
    mandatoryFeatures: [],
  };
  if (local) machines = [...machines, local];
  const localAbort = new AbortController();
  const timeouts: SessionTimeouts = {
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    ...(options.hostTimeout !== undefined ? { hostTimeout: options.hostTimeout } : {}),
  };
  const connect = options.connect ??
    ((m: Machine, log: (chunk: Uint8Array) => void) =>
      startMachineHost(m, {
        log,
        ...timeouts,
        ...(options.signal ? { signal: options.signal } : {}),
      }));
  const encoder = new TextEncoder();
  const logLine = options.logLine ??
    ((drvPath: string, m: Machine, line: string) =>
      void Deno.stderr.writeSync(
        encoder.encode(`[${drvs.get(drvPath)!.name}@${m.host.replace(/^.*@/, "")}] ${line}\n`),
      ));
  const buildOptions: ServeBuildOptions = {
    maxSilentTime: options.maxSilentTime ?? 0,
    buildTimeout: options.buildTimeout ?? 0,
    ...(options.maxLogSize !== undefined ? { maxLogSize: options.maxLogSize } : {}),
    ...(options.keepFailed !== undefined ? { keepFailed: options.keepFailed } : {}),
  };
  const maxAttempts = Math.max(1, options.maxAttempts ?? DEFAULT_MAX_ATTEMPTS);
  const backoffMs = options.backoffMs ?? 1000;
  const backoff = (n: number) => Math.min(30_000, backoffMs * 2 ** Math.max(0, n - 1));
  const signal = options.signal;

  const sessions = new Set<RemoteHostProcess>();
  /** Lost attempts of each derivation, and when it may go back to a machine it tried. */
  const attempts = new Map<string, BuildAttempt[]>();
  const notBefore = new Map<string, number>();
  /** Machines that could not be reached: avoided until then. */
  const downUntil = new Map<Machine, number>();
  const downCount = new Map<Machine, number>();
  const finish = (drvPath: string, outcome: MachineBuildOutcome, machine?: Machine) => {
    options.progress?.({ drvPath, ...(machine ? { machine } : {}), outcome });
    options.events?.({ kind: "end", drvPath, ...(machine ? { machine } : {}), outcome });
  };
  const cancelledOutcome = (drvPath: string, machine?: Machine): MachineBuildOutcome => ({
    status: "MiscFailure",
    errorMsg: machine
      ? `building '${drvPath}' on '${machine.uri}' was cancelled`
      : `building '${drvPath}' was cancelled before it started`,
    ...(machine ? { machine: machine.uri } : {}),
    outputs: outputsOf(store, drvs.get(drvPath)!),
    attempts: attempts.get(drvPath) ?? [],
    cancelled: true,
  });

  /** Build on a machine: the outcome, or undefined when the machine was lost. */
  const run = async (
    drvPath: string,
    machine: Machine,
  ): Promise<MachineBuildOutcome | undefined> => {
    const drv = drvs.get(drvPath)!;
    const outputs = outputsOf(store, drv);
    const kept = options.keepLogs === false || machine === local
      ? undefined
      : openBuildLog(store, drvPath);
    const lines = new LogLines((line) => logLine(drvPath, machine, line));
    const log = (chunk: Uint8Array) => {
      kept?.write(chunk);
      lines.push(chunk);
    };
    let session: RemoteHostProcess | undefined;
    try {
      if (machine === local) {
        const r = await options.local!.build(
          drvPath,
          basicDerivationFor(store, drv),
          log,
          localAbort.signal,
        );
        if (signal?.aborted) throw signal.reason;
        return {
          status: r.status,
          errorMsg: r.errorMsg,
          machine: machine.uri,
          outputs,
          attempts: attempts.get(drvPath) ?? [],
        };
      }
      session = await connect(machine, log);
      sessions.add(session);
      if (signal?.aborted) throw signal.reason;
      const report = await buildOnHost(session.client, store, drvPath, {
        ...buildOptions,
        progress: (path, bytes) =>
          options.events?.({ kind: "copy", drvPath, machine, path, bytes }),
      });
      return {
        status: report.result.status,
        errorMsg: report.result.errorMsg,
        machine: machine.uri,
        outputs,
        sent: report.sent,
        ...(report.fetched ? { fetched: report.fetched } : {}),
        attempts: attempts.get(drvPath) ?? [],
      };
    } catch (e) {
      if (signal?.aborted) return cancelledOutcome(drvPath, machine);
      if (isHostLoss(e) || session?.lostReason) {
        // Back to the queue: another machine, or this one after a back-off.
        const lost = session?.lostReason ?? e;
        const error = lost instanceof RemoteError
          ? `cannot ${lost.action}: ${lost.detail}`
          : (lost as Error).message;
        const tried = attempts.get(drvPath) ?? [];
        tried.push({ machine: machine.uri, error });
        attempts.set(drvPath, tried);
        notBefore.set(drvPath, Date.now() + backoff(tried.length));
        if (!session) {
          const n = (downCount.get(machine) ?? 0) + 1;
          downCount.set(machine, n);
          downUntil.set(machine, Date.now() + backoff(n));
        }
        options.events?.({ kind: "lost", drvPath, machine, error });
        return undefined;
      }
      return {
        status: "MiscFailure",
        errorMsg: `building '${drvPath}' on '${machine.uri}': ${(e as Error).message}`,
        machine: machine.uri,
        outputs,
        attempts: attempts.get(drvPath) ?? [],
      };
    } finally {
      if (session) {
        sessions.delete(session);
        await session.close().catch(() => {});
        if (!session.lostReason) downCount.delete(machine);
      }
      lines.end();
      await kept?.close();
    }
  };

  /** Where a ready derivation goes: a fitting machine with a free slot, or its outcome. */
  const place = (
    drvPath: string,
    free: readonly Machine[],
    load: ReadonlyMap<Machine, number>,
  ): Placement<Machine, MachineBuildOutcome> => {
    const drv = drvs.get(drvPath)!;
    const outputs = outputsOf(store, drv);
    const tried = attempts.get(drvPath) ?? [];
    const now = Date.now();
    if (
      outputs.size === drv.outputs.size && [...outputs.values()].every((p) => store.isValid(p))
    ) {
      return { result: { status: "AlreadyValid", errorMsg: "", outputs, attempts: tried } };
    }
    const fitting = machines.filter((m) => machineFits(m, drv));
    if (fitting.length === 0) {
      const features = requiredFeatures(drv);
      return {
        result: {
          status: "MiscFailure",
          errorMsg:
            `no build machine can build '${drvPath}': it needs a '${drv.platform}' machine` +
            (features.length > 0 ? ` with features {${features.join(", ")}}` : ""),
          outputs,
          attempts: tried,
        },
      };
    }
    if (tried.length >= maxAttempts) {
      return {
        result: {
          status: "MiscFailure",
          errorMsg: `cannot build '${drvPath}': its build machines were lost ${tried.length} ` +
            `time(s): ${
              tried.map((a, i) => `attempt ${i + 1} on '${a.machine}': ${a.error}`).join("; ")
            }`,
          outputs,
          attempts: tried,
        },
      };
    }
    // Machines this derivation has not tried come first; when it has
    // tried them all, any of them after its back-off.
    const up = fitting.filter((m) => (downUntil.get(m) ?? 0) <= now);
    const untried = up.filter((m) => !tried.some((a) => a.machine === m.uri));
    let pool = untried;
    if (pool.length === 0 && !fitting.some((m) => !tried.some((a) => a.machine === m.uri))) {
      const at = notBefore.get(drvPath) ?? 0;
      if (at > now) return { wait: true, until: at };
      pool = up;
    }
    if (pool.length === 0) {
      const until = Math.min(...fitting.map((m) => downUntil.get(m) ?? Infinity));
      return until === Infinity ? { wait: true } : { wait: true, until };
    }
    const machine = pool.filter((m) => free.includes(m))
      .sort((a, b) =>
        b.speedFactor - a.speedFactor || load.get(a)! / a.maxJobs - load.get(b)! / b.maxJobs
      )[0];
    if (!machine) return { wait: true };
    options.progress?.({ drvPath, machine });
    options.events?.({ kind: "start", drvPath, machine, attempt: tried.length + 1 });
    return { place: machine };
  };

  return await scheduleDerivations(drvs, {
    places: machines,
    place,
    build: run,
    dependencyFailed: (drvPath, input) => ({
      status: "DependencyFailed",
      errorMsg: `dependency '${input}' of '${drvPath}' failed`,
      outputs: outputsOf(store, drvs.get(drvPath)!),
      attempts: attempts.get(drvPath) ?? [],
    }),
    settled: (drvPath, outcome, machine) => finish(drvPath, outcome, machine),
    ...(signal
      ? {
        cancel: {
          signal,
          aborted: async () => {
            localAbort.abort(signal.reason);
            await Promise.all([...sessions].map((s) => s.cancel?.() ?? s.close()));
          },
          result: (drvPath: string) => cancelledOutcome(drvPath),
        },
      }
      : {}),
  });
}
