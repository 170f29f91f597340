/**
 * Nix's `post-build-hook`: after a derivation is built and its outputs
 * registered, the program runs with the process's environment plus
 * `DRV_PATH` (the `.drv` path) and `OUT_PATHS` (output paths, sorted,
 * separated by spaces); its stdout and stderr go to the build log. A hook
 * that fails fails the build, in Nix's words.
 *
 * Nix 2.8 itself collects the output paths for `OUT_PATHS` before it has
 * recorded them, so its hook always sees `OUT_PATHS` empty after a build
 * (checked against `nix-store --serve --write`); the builder passes none,
 * to behave as the Nix it replaces.
 *
 * @module
 */
import { signalFailure } from "./signal_text.ts";

/**
 * Run the hook.
 *
 * @param hook The program (empty: nothing runs).
 * @param drvPath The derivation built.
 * @param outPaths Its output paths.
 * @param log Receives the hook's output.
 * @returns `undefined`, or Nix's error message when the hook failed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { runPostBuildHook } from "./post_build_hook.ts";
 * const out: Uint8Array[] = [];
 * const dir = Deno.makeTempDirSync();
 * Deno.writeTextFileSync(`${dir}/hook`, '#!/bin/sh\necho "$DRV_PATH: $OUT_PATHS"\n', { mode: 0o755 });
 * assert.equal(await runPostBuildHook(`${dir}/hook`, "/nix/store/x.drv", ["/nix/store/b", "/nix/store/a"], (c) => out.push(c)), undefined);
 * assert.equal(new TextDecoder().decode(out[0]), "/nix/store/x.drv: /nix/store/a /nix/store/b\n");
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function runPostBuildHook(
  hook: string,
  drvPath: string,
  outPaths: readonly string[],
  log: (chunk: Uint8Array) => void,
): Promise<string | undefined> {
  if (hook === "") return undefined;
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(hook, {
      env: { DRV_PATH: drvPath, OUT_PATHS: [...outPaths].sort().join(" ") },
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    return `executing '${hook}': ${(e as Error).message}`;
  }
  const pump = async (s: ReadableStream<Uint8Array>) => {
    for await (const chunk of s) log(chunk);
  };
  const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
  if (status.success) return undefined;
  return `program '${hook}' ${
    status.signal ? signalFailure(status.signal) : `failed with exit code ${status.code}`
  }`;
}
