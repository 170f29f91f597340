/**
 * {@linkcode runInSandbox} as a {@linkcode SandboxRunner} for the
 * {@linkcode Builder}: the environment from {@linkcode nixBuildEnv}
 * (`passAsFile`, placeholders, structured attributes, fixed-output
 * variables), the sandbox root next to the build directory
 * (`<buildDir>.chroot`), limits converted from seconds.
 *
 * @module
 */
import type { SandboxOutcome, SandboxRunner, SandboxSpec } from "./builder.ts";
import { prepareBuildEnv } from "./build_env.ts";
import { runInSandbox, type SandboxPath, type SandboxTools } from "../sandbox/sandbox.ts";
import type { RunnerSpares } from "../sandbox/runner_spares.ts";

/** Options of {@linkcode nixSandboxRunner}. */
export interface NixSandboxRunnerOptions {
  /** Extra host paths (Nix's `sandbox-paths`). */
  sandboxPaths?: readonly SandboxPath[];
  /** Inputs read-only (default `true`; `false` is exactly Nix). */
  readOnlyInputs?: boolean;
  /** Host programs, instead of searching for them. */
  tools?: Partial<SandboxTools>;
  /** Runners started ahead (see `runner_spares.ts`); without, each build starts its own. */
  spares?: RunnerSpares;
}

/**
 * A runner that builds in the Nix-identical sandbox.
 *
 * @param options Sandbox paths, read-only inputs, tools.
 * @returns The runner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nixSandboxRunner } from "./sandbox_runner.ts";
 * assert.equal(typeof nixSandboxRunner(), "function");
 * ```
 */
export function nixSandboxRunner(options: NixSandboxRunnerOptions = {}): SandboxRunner {
  return async (spec: SandboxSpec): Promise<SandboxOutcome> => {
    const env = prepareBuildEnv(spec);
    const seconds = (s: number) => (s > 0 ? s * 1000 : undefined);
    const timeoutMs = seconds(spec.buildTimeout);
    const maxSilentMs = seconds(spec.maxSilentTime);
    const result = await runInSandbox({
      storeDir: spec.storeDir,
      rootDir: `${spec.buildDir}.chroot`,
      buildDir: spec.buildDir,
      inputs: spec.inputs.map((i) => ({ logical: i.path, physical: i.physical })),
      outputs: new Map(spec.outputs.map((o) => [o.path, o.physical])),
      builder: spec.drv.builder,
      args: env.args,
      env: env.env,
      network: spec.network,
      platform: spec.drv.platform,
      ...(options.sandboxPaths ? { sandboxPaths: options.sandboxPaths } : {}),
      ...(options.readOnlyInputs !== undefined ? { readOnlyInputs: options.readOnlyInputs } : {}),
      ...(options.tools ? { tools: options.tools } : {}),
      ...(options.spares ? { spares: options.spares } : {}),
      ...(timeoutMs ? { timeoutMs } : {}),
      ...(maxSilentMs ? { maxSilentMs } : {}),
      ...(spec.maxLogSize > 0 ? { maxLogBytes: spec.maxLogSize } : {}),
      signal: spec.signal,
      log: spec.log,
    });
    switch (result.reason) {
      case "timeout":
        return { kind: "timedOut" };
      case "silent":
      case "logLimit":
      case "cancelled":
        return { kind: result.reason };
      case "exited":
        if (result.signal !== null) {
          return { kind: "signaled", signal: result.signal };
        }
        return { kind: "exited", code: result.exitCode ?? 1 };
    }
  };
}
