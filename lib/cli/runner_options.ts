/**
 * The build flags `buildhost build` and `buildhost serve` share:
 * `--sandbox-paths P` (repeatable, white-space separated, Nix's syntax),
 * `sandbox-paths` / `extra-sandbox-paths` from `NIX_CONFIG` as Nix reads
 * them, and `--no-sandbox`.
 *
 * @module
 */
import type { SandboxRunner } from "../build/builder.ts";
import { sandboxTools } from "../build/sandbox.ts";
import { parseSandboxPaths, sandboxPathsFromNixConfig } from "../build/sandbox_paths.ts";
import { nixSandboxRunner } from "../build/sandbox_runner.ts";
import { unsandboxedRunner } from "../build/unsandboxed_runner.ts";

/** The `parseArgs` options of the build flags. */
export const RUNNER_FLAGS: {
  "sandbox-paths": { type: "string"; multiple: true; default: string[] };
  "no-sandbox": { type: "boolean"; default: boolean };
} = {
  "sandbox-paths": { type: "string", multiple: true, default: [] },
  "no-sandbox": { type: "boolean", default: false },
};

/**
 * The runner the flags ask for; the sandbox's tools and user namespaces are
 * checked first.
 *
 * @param values The parsed flags.
 * @returns The runner.
 * @throws {SandboxUnavailableError} The sandbox cannot run here (the message
 *   says what is missing; `--no-sandbox` is the way out).
 */
export async function runnerFromFlags(
  values: { "sandbox-paths": string[]; "no-sandbox": boolean },
): Promise<SandboxRunner> {
  if (values["no-sandbox"]) return unsandboxedRunner();
  await sandboxTools();
  const sandboxPaths = parseSandboxPaths([
    ...values["sandbox-paths"],
    ...sandboxPathsFromNixConfig(Deno.env.get("NIX_CONFIG")),
  ]);
  return nixSandboxRunner({ sandboxPaths });
}
