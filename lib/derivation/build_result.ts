/**
 * What building a derivation came to (Nix's `BuildResult`): a status, an
 * error message, how many times it was built, start and stop times, CPU
 * times, and the outputs built as realisations. buildhost's builder makes
 * it; the serve and worker protocols' codecs read and write it as it is
 * (each wire gives the statuses Nix's numbers, in its codec); the build
 * machines' scheduler reports it.
 *
 * Fields a protocol minor does not carry are absent when a result is read
 * at that minor. buildhost's builder fills every field
 * ({@linkcode CompleteBuildResult}), and two that no wire carries: which
 * outputs it registered itself, and the tail of a failed build's log.
 *
 * @module
 */
import type { Hash } from "../hash/hash.ts";

/**
 * Nix's build statuses by name (`BuildResult::Status`); the wire numbers
 * are the codecs' business.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BuildStatus } from "./build_result.ts";
 * const s: BuildStatus = BuildStatus.TimedOut;
 * assert.equal(s, "TimedOut");
 * ```
 */
export const BuildStatus = {
  Built: "Built",
  Substituted: "Substituted",
  AlreadyValid: "AlreadyValid",
  PermanentFailure: "PermanentFailure",
  InputRejected: "InputRejected",
  OutputRejected: "OutputRejected",
  TransientFailure: "TransientFailure",
  CachedFailure: "CachedFailure",
  TimedOut: "TimedOut",
  MiscFailure: "MiscFailure",
  DependencyFailed: "DependencyFailed",
  LogLimitExceeded: "LogLimitExceeded",
  NotDeterministic: "NotDeterministic",
  ResolvesToAlreadyValid: "ResolvesToAlreadyValid",
  NoSubstituters: "NoSubstituters",
} as const;

/** A build status by name (`Built`, `PermanentFailure`, ...). */
export type BuildStatus = typeof BuildStatus[keyof typeof BuildStatus];

/**
 * Whether a status means success, the outputs being valid (Nix's
 * `BuildResult::success()`): Built, Substituted, AlreadyValid or
 * ResolvesToAlreadyValid.
 *
 * @param status The status.
 * @returns True for success.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isBuildSuccess } from "./build_result.ts";
 * assert.equal(isBuildSuccess("AlreadyValid"), true);
 * assert.equal(isBuildSuccess("PermanentFailure"), false);
 * ```
 */
export function isBuildSuccess(status: BuildStatus): boolean {
  return status === "Built" || status === "Substituted" || status === "AlreadyValid" ||
    status === "ResolvesToAlreadyValid";
}

/**
 * A built output: where it is, its signatures and (keyed by the hash
 * modulo of its derivation, as Nix 2.8 keys realisations) the derivation
 * hash and the realisations it depends on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Realisation } from "./build_result.ts";
 * const r: Realisation = { outPath: "/nix/store/2h1hs7di835bwxjnjd72izy08367yxaj-harness-c-ok", signatures: [] };
 * assert.equal(r.drvHash, undefined);
 * ```
 */
export interface Realisation {
  /** The output's full store path. */
  outPath: string;
  /** Signatures (`key:base64`), sorted; absent when a 2.6/2.7 JSON had no `signatures`. */
  signatures?: string[];
  /**
   * The hash modulo of the derivation, the first half of the id
   * `sha256:<hex>!<output>` (serve 2.6-2.7, worker >= 1.28); absent when
   * not known (written as the zero hash, as Nix 2.35 does).
   */
  drvHash?: Hash;
  /**
   * The JSON's `dependentRealisations`: DrvOutput id to full store path;
   * absent when the JSON had none.
   */
  dependentRealisations?: Map<string, string>;
}

/**
 * A build result.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BuildResult } from "./build_result.ts";
 * const r: BuildResult = { status: "PermanentFailure", errorMsg: "builder failed" };
 * assert.equal(r.builtOutputs, undefined);
 * ```
 */
export interface BuildResult {
  /** The outcome. */
  status: BuildStatus;
  /** Empty on success; Nix's error message (ANSI colours included) on failure. */
  errorMsg: string;
  /** How many times the derivation was built. */
  timesBuilt?: number;
  /** Whether repeated builds differed. */
  isNonDeterministic?: boolean;
  /** When the build started, unix seconds. */
  startTime?: number;
  /** When the build stopped, unix seconds. */
  stopTime?: number;
  /** User CPU time, microseconds (worker protocol >= 1.37). */
  cpuUser?: bigint;
  /** System CPU time, microseconds (worker protocol >= 1.37). */
  cpuSystem?: bigint;
  /** Output name to where it was built, sorted by name. */
  builtOutputs?: Map<string, Realisation>;
  /**
   * (buildhost's builder, not on any wire) With `Built`, when some outputs
   * were valid before the build (and left alone): the names of those it
   * registered. Nix's own BuildResult lists only these.
   */
  newlyBuilt?: string[];
  /** (buildhost's builder, not on any wire) The last lines of a failed build's log. */
  logTail?: string[];
}

/**
 * A result with every field a build gives filled in: what buildhost's
 * builder returns (`builtOutputs` holds every output valid after it).
 */
export type CompleteBuildResult =
  & BuildResult
  & Required<
    Pick<
      BuildResult,
      "timesBuilt" | "isNonDeterministic" | "startTime" | "stopTime" | "builtOutputs" | "logTail"
    >
  >;

/**
 * The realisation of an output built here: its path, no signatures, no
 * dependent realisations.
 *
 * @param outPath The output's store path.
 * @returns Its realisation (without a derivation hash).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtHere } from "./build_result.ts";
 * assert.deepEqual(builtHere("/nix/store/x"), { outPath: "/nix/store/x", signatures: [], dependentRealisations: new Map() });
 * ```
 */
export function builtHere(outPath: string): Realisation {
  return { outPath, signatures: [], dependentRealisations: new Map() };
}
