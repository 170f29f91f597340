/**
 * Building a derivation in a store: what Nix's local derivation goal does,
 * around a sandbox that runs the builder.
 *
 * 1. The derivation, its inputs and its outputs become temporary GC roots.
 *    Outputs all valid already: `AlreadyValid`, nothing runs.
 * 2. The outputs' locks are taken (the same output is never built twice at
 *    once), then one of the host's build slots (`max-jobs` for the whole
 *    store; the build's log says so when it must wait).
 * 3. Every input source must be valid; the sandbox sees their closure.
 * 4. The runner executes the builder with scratch directories for the
 *    outputs; logs stream to the caller.
 * 5. Exit 0: the outputs are checked and registered (`registerOutputs`);
 *    otherwise the status says why (exit code, timeout, log limit, ...).
 * 6. The build directory is removed (kept with `keepFailed` on failure).
 *    It is locked while in use: the temporaries of builds whose process was
 *    killed are removed at the start of the next build, before step 1
 *    ({@linkcode reclaimStale}).
 *
 * The runner is given, not chosen here: the sandbox is a lower concern.
 * A `builtin:` builder is run in this process instead
 * ({@linkcode runBuiltin}).
 *
 * @module
 */
import { join } from "../posix_path.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { outputPath } from "../derivation/derivation.ts";
import { makeWritable } from "../store/canonicalise.ts";
import { crashPoint } from "../store/crash_point.ts";
import type { StorePathLock } from "../store/path_lock.ts";
import type { Store } from "../store/store.ts";
import {
  BuildStatus,
  builtHere,
  type CompleteBuildResult,
  type Realisation,
} from "../derivation/build_result.ts";
import { BuildRecord } from "../store/build_record.ts";
import { LogTail } from "./log_tail.ts";
import { OwnedTempDir, reclaimStale } from "../sandbox/owned_temp_dir.ts";
import { OutputLocationError } from "../sandbox/output_location.ts";
import {
  OutputRejectedError,
  registerOutputs,
  UnsupportedFileTypeError,
} from "./register_outputs.ts";
import { SandboxError } from "../sandbox/sandbox_error.ts";
import { ERROR_PREFIX as RED_ERROR, magenta, RESET } from "./nix_message.ts";
import { signalFailure } from "./signal_text.ts";
import { type BuildHost, refusal } from "./build_host.ts";
import { runPostBuildHook } from "./post_build_hook.ts";
import { BuildhostError } from "../errors.ts";
import { isBuiltin, runBuiltin } from "./builtin_builders.ts";
import type { FetchurlSettings } from "./builtin_fetchurl.ts";
import { type BuildSlot, BuildSlots, buildSlotsDir } from "../store/build_slots.ts";

/** The message of anything thrown. */
function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

/** A string the builder would get that a process cannot be given (it holds a NUL byte). */
export class NulByteError extends BuildhostError {
  override name = "NulByteError";
  /**
   * @param drvPath The derivation.
   * @param what Which string: "the builder", "argument 2", "environment variable 'x'".
   */
  constructor(readonly drvPath: string, readonly what: string) {
    super(`cannot run the builder of '${drvPath}': ${what} contains a NUL byte`);
  }
}

/**
 * Refuse a derivation whose builder, arguments or environment hold a NUL
 * byte: `execve` takes C strings, so it could only be cut short. (Nix 2.8
 * cuts such a value at the NUL and builds; here the build fails instead.)
 * A `passAsFile` value goes into a file, where a NUL is fine.
 */
function checkNoNul(drvPath: string, drv: BasicDerivation): void {
  if (drv.builder.includes("\0")) throw new NulByteError(drvPath, "the builder");
  drv.args.forEach((a, i) => {
    if (a.includes("\0")) throw new NulByteError(drvPath, `argument ${i + 1}`);
  });
  const asFile = new Set((drv.env.get("passAsFile") ?? "").split(/\s+/));
  const structured = drv.env.has("__json");
  for (const [k, v] of drv.env) {
    if (k.includes("\0")) throw new NulByteError(drvPath, `environment variable '${k}'`);
    if (!structured && !asFile.has(k) && v.includes("\0")) {
      throw new NulByteError(drvPath, `environment variable '${k}'`);
    }
  }
}

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
  /**
   * Where the build's own notices go (a line, e.g. that it waits for a
   * build slot), when not into `log` (for a log shown from the runner).
   */
  notice?: (line: string) => void;
  /** Cancels the build. */
  signal?: AbortSignal;
  /**
   * The derivation came over the wire (`BuildDerivation`), not from a
   * `.drv` in the store: Nix's messages then name the build "from
   * in-memory derivation" rather than "from .drv file".
   */
  inMemory?: boolean;
  /** Told when the builder starts (its output locks and any build slot are held). */
  onStart?: () => void;
}

const LOG_TAIL_LINES = 10;
/** What runners put next to a build directory (the sandbox's root). */
const BUILD_DIR_SIBLINGS = [".chroot"];

/**
 * Builds derivations in a store with a sandbox runner. With a host, each
 * build holds one of the store's host-wide build slots while it runs
 * (`max-jobs` of them, shared by every process building in the store), and
 * gets at most the host's `cores`.
 */
export class Builder {
  #counter = 0;
  readonly #slots: BuildSlots | undefined;

  /**
   * @param store The store holding the inputs and receiving the outputs.
   * @param runner Runs builders (the sandbox).
   * @param host What this host builds (absent: anything) and its settings
   *   (`buildDir`, Nix's `build-dir`: where build directories go, named
   *   `nix-build-<name>-...`; default: the store's state directory) and
   *   what `builtin:fetchurl` reads (`fetchurl`), and the build record its
   *   builds go in (`record`; default: this process's, for the store).
   */
  constructor(
    readonly store: Store,
    readonly runner: SandboxRunner,
    readonly host?: BuildHost & {
      postBuildHook?: string;
      cores?: number;
      buildDir?: string;
      fetchurl?: FetchurlSettings;
      record?: BuildRecord;
    },
  ) {
    if (host) this.#slots = new BuildSlots(buildSlotsDir(store.layout.stateDir), host.maxJobs);
  }

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
  ): Promise<CompleteBuildResult> {
    // Every build is in the store's record (`buildhost status`), its log tail too:
    // waiting (for its output locks or a build slot) until its builder starts.
    const record = this.host?.record ?? BuildRecord.of(this.store.layout.stateDir);
    const recorded = record.begin(
      drvPath,
      [...drv.outputs].flatMap(([n, o]) => outputPath(drv.name, n, o, this.store.storeDir) ?? []),
      "waiting",
    );
    const log = (chunk: Uint8Array) => (recorded.log(chunk), options.log?.(chunk));
    const onStart = () => (recorded.setState("running"), options.onStart?.());
    const result = await this.#buildOrFail(drvPath, drv, { ...options, log, onStart });
    recorded.end(result.status, result.errorMsg);
    return result;
  }

  async #buildOrFail(
    drvPath: string,
    drv: BasicDerivation,
    options: BuildOptions,
  ): Promise<CompleteBuildResult> {
    const startTime = Math.floor(Date.now() / 1000);
    try {
      return await this.#build(drvPath, drv, options, startTime);
    } catch (e) {
      // As Nix: an error that escapes the build is its result, the caller goes on.
      return {
        status: BuildStatus.MiscFailure,
        errorMsg: `${RED_ERROR} ${errorText(e)}`,
        timesBuilt: 0,
        isNonDeterministic: false,
        startTime,
        stopTime: Math.floor(Date.now() / 1000),
        builtOutputs: new Map(),
        logTail: [],
      };
    }
  }

  async #build(
    drvPath: string,
    drv: BasicDerivation,
    options: BuildOptions,
    startTime: number,
  ): Promise<CompleteBuildResult> {
    const result = (
      status: BuildStatus,
      errorMsg = "",
      built = new Map<string, Realisation>(),
      timesBuilt = 0,
    ): CompleteBuildResult => ({
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
    // As Nix: the derivation, its inputs and its outputs are temporary GC
    // roots before anything is looked at (an output found valid must stay so).
    await store.tempRoots.add([drvPath, ...drv.inputSrcs, ...outputs.map((o) => o.path)]);
    const allValid = () => outputs.every((o) => store.isValid(o.path));
    const validMap = () => new Map(outputs.map((o) => [o.name, builtHere(o.path)]));
    // Temporaries of builds whose process died go first, even when nothing
    // is built now (a build killed once its outputs were registered leaves
    // only valid outputs behind); this one's are held (a lock) so that no
    // other build takes them for stale.
    const buildsDir = this.host?.buildDir || join(store.layout.stateDir, "builds");
    // In a directory of its own a build's name is enough; among others' files, a prefix.
    const prefix = this.host?.buildDir ? "nix-build-" : "";
    await reclaimStale(buildsDir, prefix, BUILD_DIR_SIBLINGS);
    if (allValid()) return result(BuildStatus.AlreadyValid, "", validMap());

    const locks: StorePathLock[] = [];
    try {
      for (const o of [...outputs].sort((a, b) => (a.path < b.path ? -1 : 1))) {
        locks.push(await store.lockPath(o.path));
      }
      if (allValid()) return result(BuildStatus.AlreadyValid, "", validMap());
      const missing = drv.inputSrcs.find((p) => !store.isValid(p));
      if (missing !== undefined) {
        // Nix's words (there are no substituters here)
        return result(
          BuildStatus.MiscFailure,
          `${RED_ERROR} dependency '${magenta(missing)}' of '${
            magenta(drvPath)
          }' does not exist, and substitution is disabled`,
        );
      }
      checkNoNul(drvPath, drv);
      const slot = await this.#slot(options);
      if (slot === "cancelled") {
        return result(BuildStatus.MiscFailure, `building '${drvPath}' was cancelled`);
      }
      using _slot = slot;
      const closure = store.closure(drv.inputSrcs);
      await Deno.mkdir(buildsDir, { recursive: true });
      let owned: OwnedTempDir | null = null;
      while (owned === null) {
        const name = `${prefix}${drv.name}-${Deno.pid}-${this.#counter++}`;
        owned = OwnedTempDir.claim(join(buildsDir, name), BUILD_DIR_SIBLINGS);
      }
      const buildDir = owned.path;
      const scratch = outputs.map((o) => ({ ...o, physical: store.tempPath() }));
      const tail = new LogTail(LOG_TAIL_LINES);
      const encoder = new TextEncoder();
      const log = (chunk: Uint8Array) => {
        options.log?.(chunk);
        tail.push(chunk);
      };
      const failed = (
        status: BuildStatus,
        message: string,
        timesBuilt = 1,
      ): CompleteBuildResult => {
        // Nix says where it kept the directory on stderr, not in the result nor the log tail.
        if (options.keepFailed) {
          options.log?.(encoder.encode(`note: keeping build directory '${buildDir}'\n`));
        }
        return {
          ...result(status, message, undefined, timesBuilt),
          logTail: tail.lines(),
        };
      };
      // As Nix words it (its messages carry these colour escapes on the wire too).
      const drvName = magenta(drvPath);
      // Nix's name for the build in its timeout messages.
      const goal = magenta(
        `building of '${drvPath}!${[...drv.outputs.keys()].sort().join(",")}'` +
          (options.inMemory ? " from in-memory derivation" : " from .drv file"),
      );
      let ok = false;
      try {
        let outcome: SandboxOutcome;
        try {
          // Nix runs its builtin builders itself (in a forked process), not in the sandbox.
          const run = isBuiltin(drv.builder)
            ? (spec: SandboxSpec) => runBuiltin(spec, this.host?.fetchurl)
            : this.runner;
          options.onStart?.();
          outcome = await run({
            drv,
            drvPath,
            storeDir: store.storeDir,
            inputs: closure.map((p) => ({ path: p, physical: store.realPath(p) })),
            outputs: scratch,
            buildDir,
            cores: this.#cores(options.cores),
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
          if (e instanceof OutputLocationError) {
            return failed(
              BuildStatus.OutputRejected,
              `builder for '${drvPath}' made '${e.component}' a symlink in its sandbox; ` +
                `output '${e.output}' is not looked for through it`,
            );
          }
          if ((e as { code?: string }).code === "E2BIG") {
            // Nix: exec fails in the child, which says why and exits 1.
            log(encoder.encode(`executing '${drv.builder}': Argument list too long\n`));
            return failed(
              BuildStatus.PermanentFailure,
              `${RESET}builder for '${drvName}' failed with exit code 1`,
            );
          }
          // Nix: a derivation the sandbox cannot be prepared for is rejected.
          if (!(e instanceof SandboxError)) throw e;
          const status = e.step === "prepare the environment"
            ? BuildStatus.InputRejected
            : BuildStatus.MiscFailure;
          return result(status, e.step === "prepare the environment" ? e.detail : e.message);
        }
        switch (outcome.kind) {
          case "exited":
            if (outcome.code !== 0) {
              return failed(
                BuildStatus.PermanentFailure,
                `${RESET}builder for '${drvName}' failed with exit code ${outcome.code}`,
              );
            }
            break;
          case "signaled":
            return failed(
              BuildStatus.PermanentFailure,
              `${RESET}builder for '${drvName}' ${signalFailure(outcome.signal)}`,
            );
          case "timedOut":
            return failed(
              BuildStatus.TimedOut,
              `${RESET}${goal} timed out after ${magenta(String(options.buildTimeout))} seconds`,
              0,
            );
          case "silent":
            return failed(
              BuildStatus.TimedOut,
              `${RESET}${goal} timed out after ${
                magenta(String(options.maxSilentTime))
              } seconds of silence`,
              0,
            );
          case "logLimit":
            return failed(
              BuildStatus.LogLimitExceeded,
              `${RESET}${goal} killed after writing more than ${
                magenta(String(options.maxLogSize))
              } bytes of log output`,
              0,
            );
          case "cancelled":
            return result(
              BuildStatus.MiscFailure,
              `building '${drvPath}' was cancelled`,
              undefined,
              1,
            );
        }
        crashPoint("build:after-builder-exit");
        let registered;
        try {
          registered = await registerOutputs(
            store,
            drv,
            drvPath,
            scratch.map((s) => ({ name: s.name, path: s.path, scratch: s.physical })),
            closure,
          );
        } catch (e) {
          if (e instanceof OutputRejectedError) return failed(e.status, e.message);
          if (e instanceof UnsupportedFileTypeError) {
            // Nix: an error out of the goal, not a build failure (built 0 times).
            return failed(
              BuildStatus.MiscFailure,
              `${RED_ERROR} file '${magenta(e.path)}' has an unsupported type`,
              0,
            );
          }
          throw e;
        }
        ok = true;
        // Nix 2.8 gives its post-build-hook an empty OUT_PATHS (see post_build_hook.ts).
        const hookFailed = await runPostBuildHook(this.host?.postBuildHook ?? "", drvPath, [], log);
        if (hookFailed) return result(BuildStatus.MiscFailure, hookFailed, undefined, 1);
        const built = result(BuildStatus.Built, "", validMap(), 1);
        if (registered.length < outputs.length) {
          built.newlyBuilt = outputs.filter((o) => registered.some((i) => i.path === o.path))
            .map((o) => o.name);
        }
        return built;
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
      for (const l of locks) l.release();
    }
  }

  /**
   * Wait for one of the host's build slots (none without a host), telling
   * the build's log once when it has to wait.
   */
  async #slot(options: BuildOptions): Promise<BuildSlot | undefined | "cancelled"> {
    try {
      return await this.#slots?.acquire({
        ...(options.signal ? { signal: options.signal } : {}),
        onWait: () => {
          const line = `waiting for a build slot on ${Deno.hostname()}`;
          if (options.notice) options.notice(line);
          else options.log?.(new TextEncoder().encode(line + "\n"));
        },
      });
    } catch (e) {
      if (options.signal?.aborted) return "cancelled";
      throw e;
    }
  }

  /** `NIX_BUILD_CORES`: as asked (Nix's default: all), at most the host's `cores` when set. */
  #cores(asked: number | undefined): number {
    const limit = this.host?.cores ?? 0;
    const cores = asked ?? this.host?.cores ?? navigator.hardwareConcurrency;
    return limit > 0 && (cores === 0 || cores > limit) ? limit : cores;
  }
}
