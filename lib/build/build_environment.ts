/**
 * The environment a builder gets, as Nix 2.8 sets it: the derivation's env,
 * except `passAsFile` variables, which become files `/build/.attr-<nix32 of
 * sha256 of the name>` named by `<name>Path`; then `PATH=/path-not-set`,
 * `HOME=/homeless-shelter`, `NIX_STORE`, `NIX_BUILD_CORES`, `NIX_BUILD_TOP`,
 * `TMPDIR`, `TEMPDIR`, `TMP`, `TEMP` and `PWD` (all `/build`),
 * `NIX_LOG_FD=2` and `TERM=xterm-256color`.
 *
 * @module
 */
import { join } from "node:path";
import { Hash } from "../hash/hash.ts";
import type { SandboxSpec } from "./builder.ts";

/** The builder's working directory inside the sandbox. */
export const SANDBOX_BUILD_TOP = "/build";

/**
 * Compute the environment and write the passAsFile files into the build dir.
 *
 * @param spec The build.
 * @returns The environment.
 */
export async function buildEnvironment(
  spec: Pick<SandboxSpec, "drv" | "buildDir" | "storeDir" | "cores">,
): Promise<Record<string, string>> {
  const env: Record<string, string> = {
    PATH: "/path-not-set",
    HOME: "/homeless-shelter",
    NIX_STORE: spec.storeDir,
    NIX_BUILD_CORES: String(spec.cores),
  };
  const passAsFile = new Set((spec.drv.env.get("passAsFile") ?? "").split(/\s+/).filter((s) => s));
  for (const [k, v] of spec.drv.env) {
    if (!passAsFile.has(k)) {
      env[k] = v;
      continue;
    }
    const fn = `.attr-${Hash.of("sha256", k).toString("base32")}`;
    await Deno.writeTextFile(join(spec.buildDir, fn), v);
    env[`${k}Path`] = `${SANDBOX_BUILD_TOP}/${fn}`;
  }
  for (const k of ["NIX_BUILD_TOP", "TMPDIR", "TEMPDIR", "TMP", "TEMP", "PWD"]) {
    env[k] = SANDBOX_BUILD_TOP;
  }
  env.NIX_LOG_FD = "2";
  env.TERM = "xterm-256color";
  return env;
}
