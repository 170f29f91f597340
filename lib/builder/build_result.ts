/**
 * The result of a build, as Nix reports it (its `BuildResult`): a status
 * with Nix's numeric codes, an error message, how many times it was built,
 * start and stop times, and the outputs built.
 *
 * @module
 */

/** Nix's build status codes (the numbers are on the wire). */
export const BuildStatus = {
  Built: 0,
  Substituted: 1,
  AlreadyValid: 2,
  PermanentFailure: 3,
  InputRejected: 4,
  OutputRejected: 5,
  TransientFailure: 6,
  CachedFailure: 7,
  TimedOut: 8,
  MiscFailure: 9,
  DependencyFailed: 10,
  LogLimitExceeded: 11,
  NotDeterministic: 12,
  ResolvesToAlreadyValid: 13,
  NoSubstituters: 14,
} as const;

/** One of the status codes. */
export type BuildStatusCode = typeof BuildStatus[keyof typeof BuildStatus];

/** The name of a status code (`Built`, `PermanentFailure`, ...). */
export type BuildStatusName = keyof typeof BuildStatus;

/**
 * The name of a status code.
 *
 * @param code The code.
 * @returns Its name, or undefined for an unknown code.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { buildStatusName } from "./build_result.ts";
 * assert.equal(buildStatusName(3), "PermanentFailure");
 * ```
 */
export function buildStatusName(code: number): BuildStatusName | undefined {
  return (Object.keys(BuildStatus) as BuildStatusName[]).find((k) => BuildStatus[k] === code);
}

/** What a build came to. */
export interface BuildResult {
  /** The status code. */
  status: BuildStatusCode;
  /** Why it failed ("" on success). */
  errorMsg: string;
  /** How many times the builder ran. */
  timesBuilt: number;
  /** Whether repeated builds differed. */
  isNonDeterministic: boolean;
  /** Unix seconds. */
  startTime: number;
  /** Unix seconds. */
  stopTime: number;
  /** Output name -> store path, for the outputs that are valid now. */
  builtOutputs: Map<string, string>;
  /**
   * With `Built`, when some outputs were valid before the build (and left
   * alone): the names of those it registered. Nix's own BuildResult lists
   * only these.
   */
  newlyBuilt?: string[];
  /** The last lines of the build log, when the builder failed. */
  logTail: string[];
}

/**
 * Whether a status means success (the outputs are valid).
 *
 * @param status The status code.
 * @returns True for Built, Substituted, AlreadyValid, ResolvesToAlreadyValid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { BuildStatus, isSuccess } from "./build_result.ts";
 * assert.ok(isSuccess(BuildStatus.AlreadyValid));
 * assert.ok(!isSuccess(BuildStatus.TimedOut));
 * ```
 */
export function isSuccess(status: number): boolean {
  return status === BuildStatus.Built || status === BuildStatus.Substituted ||
    status === BuildStatus.AlreadyValid || status === BuildStatus.ResolvesToAlreadyValid;
}
