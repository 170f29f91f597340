/**
 * Building a derivation in a store: what Nix's local derivation goal does,
 * around a sandbox that runs the builder.
 *
 * 1. Outputs all valid already: `AlreadyValid`, nothing runs.
 * 2. The outputs' locks are taken (the same output is never built twice at
 *    once) and the inputs and outputs become temporary GC roots.
 * 3. Every input source must be valid; the sandbox sees their closure.
 * 4. The runner executes the builder with scratch directories for the
 *    outputs; logs stream to the caller.
 * 5. Exit 0: the outputs are checked and registered (`registerOutputs`);
 *    otherwise the status says why (exit code, timeout, log limit, ...).
 * 6. The build directory is removed (kept with `keepFailed` on failure).
 *    It is locked while in use: the temporaries of builds whose process was
 *    killed are removed at the start of the next build
 *    ({@linkcode reclaimStale}).
 *
 * The runner is given, not chosen here: the sandbox is a lower concern.
 *
 * @module
 */
import { join } from "node:path";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { outputPath } from "../derivation/derivation.ts";
import { makeWritable } from "../store/canonicalise.ts";
import { FileLock } from "../store/path_lock.ts";
import type { Store } from "../store/store.ts";
import { type BuildResult, BuildStatus, type BuildStatusCode } from "./build_result.ts";
import { LogTail } from "./log_tail.ts";
import { OwnedTempDir, reclaimStale } from "./owned_temp_dir.ts";
import { OutputRejectedError, registerOutputs } from "./register_outputs.ts";
import { SandboxError } from "./sandbox_error.ts";
import { signalFailure } from "./signal_text.ts";
import { type BuildHost, refusal } from "./build_host.ts";
import { runPostBuildHook } from "./post_build_hook.ts";

/** Everything a sandbox needs to run one builder. */
export interface SandboxSpec {
  /** The derivation. */
  drv: BasicDerivation;
  /** Its `.drv` path. */
  drvPath: string;
  /** The logical store directory. */
  storeDir: string;
  /** The input closure: logical store path and physical location. */
  inputs: { path: string; physical: string }[];
  /** The outputs: name, logical store path, physical scratch location (absent yet). */
  outputs: { name: string; path: string; physical: string }[];
  /** An empty, writable physical directory (the builder's `/build`). */
  buildDir: string;
  /** `NIX_BUILD_CORES`. */
  cores: number;
  /** Network access (fixed-output derivations only). */
  network: boolean;
  /** Receives the builder's stdout and stderr as they come. */
  log: (chunk: Uint8Array) => void;
  /** Seconds without output before the build is killed (0: no limit). */
  maxSilentTime: number;
  /** Seconds before the build is killed (0: no limit). */
  buildTimeout: number;
  /** Bytes of log before the build is killed (0: no limit). */
  maxLogSize: number;
  /** Aborting kills the build's whole process tree. */
  signal: AbortSignal;
  /**
   * For `exportReferencesGraph`: the closure of an input path (path →
   * references), with the outputs of the derivations in it, as Nix's
   * `exportReferences`.
   */
  exportReferences?: (path: string) => Map<string, string[]>;
}

/** How a sandboxed builder ended. */
export type SandboxOutcome =
  | { kind: "exited"; code: number }
  | { kind: "signaled"; signal: string | number }
  | { kind: "timedOut" | "silent" | "logLimit" | "cancelled" };

/** Runs a builder; whatever it started is gone when the promise settles. */
export type SandboxRunner = (spec: SandboxSpec) => Promise<SandboxOutcome>;

/** Options of one build. */
export interface BuildOptions {
  maxSilentTime?: number;
  buildTimeout?: number;
  maxLogSize?: number;
  /** Keep the build directory of a failed build (and say where in the error). */
  keepFailed?: boolean;
  cores?: number;
  /** Where build logs go (default: nowhere). */
  log?: (chunk: Uint8Array) => void;
  /** Cancels the build. */
  signal?: AbortSignal;
}

const LOG_TAIL_LINES = 10;
/** What runners put next to a build directory (the sandbox's root). */
const BUILD_DIR_SIBLINGS = [".chroot"];

/** Builds derivations in a store with a sandbox runner. */
export class Builder {
  #counter = 0;

  /**
   * @param store The store holding the inputs and receiving the outputs.
   * @param runner Runs builders (the sandbox).
   * @param host What this host builds (absent: anything) and its settings.
   */
  constructor(
    readonly store: Store,
    readonly runner: SandboxRunner,
    readonly host?: BuildHost & { postBuildHook?: string; cores?: number },
  ) {}

  /**
   * Build a derivation whose inputs are valid in the store.
   *
   * @param drvPath Its `.drv` path (for naming and as the outputs' deriver).
   * @param drv The derivation (a BasicDerivation suffices: inputs are in inputSrcs).
   * @param options Limits, log sink, cancellation.
   * @returns The result, with Nix's status codes.
   */
  async build(
    drvPath: string,
    drv: BasicDerivation,
    options: BuildOptions = {},
  ): Promise<BuildResult> {
    const startTime = Math.floor(Date.now() / 1000);
    const result = (
      status: BuildStatusCode,
      errorMsg = "",
      built = new Map<string, string>(),
      timesBuilt = 0,
    ): BuildResult => ({
      status,
      errorMsg,
      timesBuilt,
      isNonDeterministic: false,
      startTime,
      stopTime: Math.floor(Date.now() / 1000),
      builtOutputs: built,
      logTail: [],
    });
    const refused = this.host && refusal(drv, drvPath, this.host);
    if (refused) return result(BuildStatus.MiscFailure, refused);
    const store = this.store;
    const outputs: { name: string; path: string }[] = [];
    for (const [name, o] of drv.outputs) {
      const path = outputPath(drv.name, name, o, store.storeDir);
      if (path === undefined) {
        return result(
          BuildStatus.MiscFailure,
          `cannot build '${drvPath}': output '${name}' has no path yet (content-addressed outputs are not supported)`,
        );
      }
      outputs.push({ name, path });
    }
    const allValid = () => outputs.every((o) => store.db.isValid(o.path));
    const validMap = () => new Map(outputs.map((o) => [o.name, o.path]));
    if (allValid()) return result(BuildStatus.AlreadyValid, "", validMap());

    await store.tempRoots.add([...drv.inputSrcs, ...outputs.map((o) => o.path)]);
    const locks: FileLock[] = [];
    try {
      for (const o of [...outputs].sort((a, b) => (a.path < b.path ? -1 : 1))) {
        locks.push(await FileLock.acquire(store.realPath(o.path) + ".lock"));
      }
      if (allValid()) return result(BuildStatus.AlreadyValid, "", validMap());
      const missing = drv.inputSrcs.filter((p) => !store.db.isValid(p));
      if (missing.length > 0) {
        return result(
          BuildStatus.MiscFailure,
          `cannot build '${drvPath}': its inputs are not valid: ${missing.join(", ")}`,
        );
      }
      const closure = store.closure(drv.inputSrcs);
      // Temporaries of builds whose process died go first; this one's are
      // held (a lock) so that no other build takes them for stale.
      const buildsDir = join(store.layout.stateDir, "builds");
      await Deno.mkdir(buildsDir, { recursive: true });
      await reclaimStale(buildsDir, "", BUILD_DIR_SIBLINGS);
      let owned: OwnedTempDir | null = null;
      while (owned === null) {
        const name = `${drv.name}-${Deno.pid}-${this.#counter++}`;
        owned = OwnedTempDir.claim(join(buildsDir, name), BUILD_DIR_SIBLINGS);
      }
      const buildDir = owned.path;
      const scratch = outputs.map((o) => ({ ...o, physical: store.tempPath() }));
      const tail = new LogTail(LOG_TAIL_LINES);
      const log = (chunk: Uint8Array) => {
        options.log?.(chunk);
        tail.push(chunk);
      };
      let ok = false;
      try {
        let outcome: SandboxOutcome;
        try {
          outcome = await this.runner({
            drv,
            drvPath,
            storeDir: store.storeDir,
            inputs: closure.map((p) => ({ path: p, physical: store.realPath(p) })),
            outputs: scratch,
            buildDir,
            cores: options.cores ?? this.host?.cores ?? navigator.hardwareConcurrency, // Nix's default: all cores
            network: drv.outputs.size === 1 && drv.outputs.get("out")?.kind === "fixed",
            log,
            maxSilentTime: options.maxSilentTime ?? 0,
            buildTimeout: options.buildTimeout ?? 0,
            maxLogSize: options.maxLogSize ?? 0,
            signal: options.signal ?? new AbortController().signal,
            exportReferences: (path) => {
              if (!closure.includes(path)) {
                throw new SandboxError(
                  "prepare the environment",
                  `cannot export references of path '${path}' because it is not in the input closure of the derivation`,
                );
              }
              const paths = store.closure([path], { includeOutputs: true });
              return new Map(paths.map((p) => [p, store.requirePathInfo(p).references]));
            },
          });
        } catch (e) {
          // Nix: a derivation the sandbox cannot be prepared for is rejected.
          if (!(e instanceof SandboxError)) throw e;
          const status = e.step === "prepare the environment"
            ? BuildStatus.InputRejected
            : BuildStatus.MiscFailure;
          return result(status, e.step === "prepare the environment" ? e.detail : e.message);
        }
        const failed = (status: BuildStatusCode, message: string): BuildResult => ({
          ...result(
            status,
            message + (options.keepFailed ? `\nnote: keeping build directory '${buildDir}'` : ""),
            undefined,
            1,
          ),
          logTail: tail.lines(),
        });
        // As Nix words it (its messages carry these colour escapes on the wire too).
        const drvName = `\x1b[35;1m${drvPath}\x1b[0m`;
        switch (outcome.kind) {
          case "exited":
            if (outcome.code !== 0) {
              return failed(
                BuildStatus.PermanentFailure,
                `\x1b[0mbuilder for '${drvName}' failed with exit code ${outcome.code}`,
              );
            }
            break;
          case "signaled":
            return failed(
              BuildStatus.PermanentFailure,
              `\x1b[0mbuilder for '${drvName}' ${signalFailure(outcome.signal)}`,
            );
          case "timedOut":
            return result(
              BuildStatus.TimedOut,
              `building '${drvPath}' timed out after ${options.buildTimeout} seconds`,
              undefined,
              1,
            );
          case "silent":
            return failed(
              BuildStatus.TimedOut,
              `'${drvName}' timed out after ${options.maxSilentTime} seconds of silence`,
            );
          case "logLimit":
            return failed(
              BuildStatus.LogLimitExceeded,
              `'${drvName}' exceeded the maximum log size of ${options.maxLogSize} bytes`,
            );
          case "cancelled":
            return result(
              BuildStatus.MiscFailure,
              `building '${drvPath}' was cancelled`,
              undefined,
              1,
            );
        }
        try {
          await registerOutputs(
            store,
            drv,
            drvPath,
            scratch.map((s) => ({ name: s.name, path: s.path, scratch: s.physical })),
            closure,
          );
        } catch (e) {
          if (e instanceof OutputRejectedError) return failed(e.status, e.message);
          throw e;
        }
        ok = true;
        // Nix 2.8 gives its post-build-hook an empty OUT_PATHS (see post_build_hook.ts).
        const hookFailed = await runPostBuildHook(this.host?.postBuildHook ?? "", drvPath, [], log);
        if (hookFailed) return result(BuildStatus.MiscFailure, hookFailed, undefined, 1);
        return result(BuildStatus.Built, "", validMap(), 1);
      } finally {
        for (const s of scratch) {
          try {
            Deno.lstatSync(s.physical);
            makeWritable(s.physical);
            Deno.removeSync(s.physical, { recursive: true });
          } catch { /* moved into place, or never made */ }
        }
        if (ok || !options.keepFailed) {
          makeWritable(buildDir);
          await owned.remove().catch(() => {});
        } else owned.disown(); // kept: never reclaimed
      }
    } finally {
      for (const l of locks) l.release(true);
    }
  }
}
