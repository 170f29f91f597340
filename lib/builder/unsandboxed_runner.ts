/**
 * Running a builder without a sandbox (`--no-sandbox`), as Nix does with
 * `sandbox = false`: the builder runs as this user, in the host's file
 * system and namespaces, in the physical build directory, with Nix's
 * environment (`NIX_BUILD_TOP` and the temporary directories naming the
 * physical build directory). It writes its outputs at their store paths, so
 * the store must be where its store paths say (`--store /`, or a store
 * whose logical directory is its physical one).
 *
 * The builder leads a new session and process group; when it exits, times
 * out, is cancelled or its caller goes away, the group and every descendant
 * still found are killed. A process that leaves the group and its parent
 * chain (double fork plus `setsid`) escapes, as it does from Nix without
 * build users: that is what the sandbox is for.
 *
 * @module
 */
import { prepareBuildEnv } from "./build_env.ts";
import type { SandboxOutcome, SandboxRunner, SandboxSpec } from "./builder.ts";
import { killTree } from "../sandbox/process_tree.ts";
import { SandboxError } from "../sandbox/sandbox_error.ts";

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * A runner that builds without a sandbox.
 *
 * @returns The runner.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unsandboxedRunner } from "./unsandboxed_runner.ts";
 * assert.equal(typeof unsandboxedRunner(), "function");
 * ```
 */
export function unsandboxedRunner(): SandboxRunner {
  return async (spec: SandboxSpec): Promise<SandboxOutcome> => {
    const misplaced = spec.inputs.find((i) => i.physical !== i.path);
    if (misplaced) {
      throw new SandboxError(
        "build without a sandbox",
        `the store path '${misplaced.path}' is at '${misplaced.physical}'; without a sandbox ` +
          "the builder can only see a store at its logical location (use --store / or the sandbox)",
      );
    }
    const env = prepareBuildEnv(spec, spec.buildDir);
    // Leftovers of an earlier failed build at the outputs' paths.
    for (const o of spec.outputs) {
      if (exists(o.path)) await Deno.remove(o.path, { recursive: true });
    }
    // setsid makes the builder the leader of a new process group.
    // Found here: the builder's PATH is Nix's /path-not-set.
    const setsid = ["/usr/bin/setsid", "/bin/setsid"].find(exists) ?? "setsid";
    const child = new Deno.Command(setsid, {
      args: ["--", spec.drv.builder, ...env.args],
      cwd: spec.buildDir,
      clearEnv: true,
      env: Object.fromEntries(env.env),
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();

    let outcome: SandboxOutcome | undefined;
    const killAll = () => {
      killTree(child.pid);
      try {
        Deno.kill(-child.pid, "SIGKILL");
      } catch { /* the group is gone */ }
    };
    const stop = (why: SandboxOutcome) => {
      outcome ??= why;
      killAll();
    };
    let silence: ReturnType<typeof setTimeout> | undefined;
    const armSilence = () => {
      if (spec.maxSilentTime <= 0) return;
      clearTimeout(silence);
      silence = setTimeout(() => stop({ kind: "silent" }), spec.maxSilentTime * 1000);
    };
    armSilence();
    const timeout = spec.buildTimeout > 0
      ? setTimeout(() => stop({ kind: "timedOut" }), spec.buildTimeout * 1000)
      : undefined;
    const onAbort = () => stop({ kind: "cancelled" });
    spec.signal.addEventListener("abort", onAbort);
    if (spec.signal.aborted) onAbort();
    let logged = 0;
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        if (outcome) continue;
        logged += chunk.length;
        if (spec.maxLogSize > 0 && logged > spec.maxLogSize) {
          stop({ kind: "logLimit" });
          continue;
        }
        armSilence();
        spec.log(chunk);
      }
    };
    try {
      const pumps = Promise.all([pump(child.stdout), pump(child.stderr)]);
      const status = await child.status;
      killAll(); // what the builder left running would hold the log open
      await pumps;
      if (outcome) return outcome;
      if (status.signal) return { kind: "signaled", signal: status.signal };
      for (const o of spec.outputs) {
        if (exists(o.path)) await Deno.rename(o.path, o.physical);
      }
      return { kind: "exited", code: status.code };
    } finally {
      clearTimeout(silence);
      clearTimeout(timeout);
      spec.signal.removeEventListener("abort", onAbort);
      killAll();
    }
  };
}
