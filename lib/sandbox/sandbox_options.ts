/**
 * What a sandboxed run is given ({@linkcode SandboxOptions}: the root, the
 * build directory, inputs, outputs, builder, environment, limits) and what
 * it gives back ({@linkcode SandboxResult}).
 *
 * @module
 */
import type { SandboxTools } from "./sandbox_tools.ts";
import type { RunnerSpares } from "./runner_spares.ts";

/** A store path the builder may read: where it appears and where it is. */
export interface SandboxInput {
  /** The path inside, e.g. `/nix/store/…-busybox`. */
  logical: string;
  /** The path on this machine, e.g. `/tmp/store/nix/store/…-busybox`. */
  physical: string;
}

/** An extra host path to show inside (Nix's `sandbox-paths`). */
export interface SandboxPath {
  /** The path inside. */
  target: string;
  /** The host path. */
  source: string;
  /** Skip it if the source does not exist (Nix: a trailing `?`). */
  optional?: boolean;
}

/** Why the run ended. */
export type SandboxEndReason =
  /** The builder exited (or was killed by a signal of its own). */
  | "exited"
  /** `timeoutMs` passed. */
  | "timeout"
  /** `maxSilentMs` passed without output. */
  | "silent"
  /** The log grew over `maxLogBytes`. */
  | "logLimit"
  /** The `signal` was aborted. */
  | "cancelled";

/** What {@linkcode runInSandbox} needs. */
export interface SandboxOptions {
  /** The logical store directory (default `/nix/store`). */
  storeDir?: string;
  /**
   * A physical directory to build the sandbox root in (Nix uses
   * `<store>/<drv>.chroot`). Removed first if it exists, and afterwards.
   */
  rootDir: string;
  /** The physical build directory (`/build` inside); must exist. */
  buildDir: string;
  /** The input closure. */
  inputs: readonly SandboxInput[];
  /**
   * The outputs: logical path → physical path where the output is moved
   * after the builder exits (it must not exist; its parent must).
   */
  outputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** The builder: an absolute path inside, or a path relative to `/build`. */
  builder: string;
  /** Its arguments (`argv[1...]`; `argv[0]` is the builder's base name). */
  args: readonly string[];
  /** The environment; passed sorted by name, as Nix does. */
  env: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Extra host paths. */
  sandboxPaths?: readonly SandboxPath[];
  /** Share the host's network (fixed-output derivations). */
  network?: boolean;
  /** Bind `/dev/kvm` (default: when it can be opened read-write, as Nix's default `kvm` feature). */
  kvm?: boolean;
  /** The derivation's platform, for the personality (default `x86_64-linux`). */
  platform?: string;
  /** Report Linux 2.6 as the kernel (Nix's `impersonate-linux-26`). */
  impersonateLinux26?: boolean;
  /** Inputs and sandbox paths read-only (default `true`; `false` is exactly Nix). */
  readOnlyInputs?: boolean;
  /** `/dev/shm` size (Nix's `sandbox-shm-size`, default `50%`). */
  shmSize?: string;
  /** Kill the build after this long (ms). */
  timeoutMs?: number;
  /** Kill the build after this long without output (ms). */
  maxSilentMs?: number;
  /** Kill the build when its log grows over this many bytes. */
  maxLogBytes?: number;
  /** Kill the build when aborted. */
  signal?: AbortSignal;
  /** Receives the log (the builder's stdout and stderr, merged). */
  log: (chunk: Uint8Array) => void | Promise<void>;
  /** Host programs (default: found in `/usr/bin`, `/bin`, `/usr/sbin`, `/sbin`). */
  tools?: Partial<SandboxTools>;
  /**
   * Runners started ahead, for a process that builds many derivations:
   * the run takes one and starts the next (see `runner_spares.ts`).
   * Without it, each run starts its own.
   */
  spares?: RunnerSpares;
}

/** How a sandboxed run ended. */
export interface SandboxResult {
  /** Why it ended. */
  reason: SandboxEndReason;
  /** The builder's exit code, if it exited. */
  exitCode: number | null;
  /** The signal that killed the builder, if one did. */
  signal: number | null;
  /** Bytes of log passed to the sink. */
  logBytes: number;
  /** Logical paths of the outputs that existed and were moved. */
  outputs: string[];
  /** When the builder was started (ms since the epoch). */
  startTime: number;
  /** When it was over (ms since the epoch). */
  stopTime: number;
}

/**
 * The pairs of a map or a record, in its order.
 *
 * @param m A map or a record of strings.
 * @returns Its `[key, value]` pairs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { entriesOf } from "./sandbox_options.ts";
 * assert.deepEqual(entriesOf(new Map([["a", "1"]])), entriesOf({ a: "1" }));
 * ```
 */
export function entriesOf(
  m: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): [string, string][] {
  return m instanceof Map ? [...m.entries()] : Object.entries(m);
}
