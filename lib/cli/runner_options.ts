/**
 * The build flags `buildhost build` and `buildhost serve` share:
 * `--sandbox-paths P` (repeatable, white-space separated, Nix's syntax),
 * with `sandbox`, `sandbox-paths` / `extra-sandbox-paths` from Nix's
 * settings, and `--no-sandbox`.
 *
 * The runners' modules (the sandbox above all) are loaded when a runner is
 * chosen, not with this one: a host session that only copies never loads them.
 *
 * @module
 */
import type { SandboxRunner } from "../builder/builder.ts";
import type { StoreLayout } from "../store/store_layout.ts";
import type { NixSettings } from "./nix_settings.ts";

/** The `parseArgs` options of the build flags. */
export const RUNNER_FLAGS: {
  "sandbox-paths": { type: "string"; multiple: true; default: string[] };
  "no-sandbox": { type: "boolean"; default: boolean };
} = {
  "sandbox-paths": { type: "string", multiple: true, default: [] },
  "no-sandbox": { type: "boolean", default: false },
};

/**
 * The runner the flags ask for; the sandbox's tools are looked for first
 * (whether its namespaces can be made is tried when a set-up fails). As Nix: `sandbox = false` runs builders directly, except
 * for a store whose files are not at its logical directory (a chroot store),
 * which is always sandboxed.
 *
 * @param values The parsed flags.
 * @param settings Nix's settings (`sandbox`, `sandbox-paths`, `extra-sandbox-paths`).
 * @param layout The store's layout.
 * @param options `spares`: the sandbox's runners are started ahead, one
 *   waiting for the next build (`runner_spares.ts`), for commands that
 *   build and end the process when done.
 * @returns The runner.
 * @throws {SandboxUnavailableError} The sandbox cannot run here (the message
 *   says what is missing; `--no-sandbox` is the way out).
 */
export async function runnerFromFlags(
  values: { "sandbox-paths": string[]; "no-sandbox": boolean },
  settings: Pick<NixSettings, "sandbox" | "sandboxPaths"> & Partial<Pick<NixSettings, "buildDir">>,
  layout: StoreLayout,
  options: { spares?: boolean } = {},
): Promise<SandboxRunner> {
  if (
    values["no-sandbox"] ||
    (settings.sandbox === "false" && layout.realStoreDir === layout.storeDir)
  ) {
    return (await import("../builder/unsandboxed_runner.ts")).unsandboxedRunner();
  }
  const [{ sandboxTools }, { parseSandboxPaths }, { nixSandboxRunner }, { processRunnerSpares }] =
    await Promise.all([
      import("../sandbox/sandbox.ts"),
      import("../sandbox/sandbox_paths.ts"),
      import("../builder/sandbox_runner.ts"),
      import("../sandbox/runner_spares.ts"),
    ]);
  await sandboxTools();
  const sandboxPaths = parseSandboxPaths([...values["sandbox-paths"], ...settings.sandboxPaths]);
  return nixSandboxRunner({
    sandboxPaths,
    ...(options.spares ? { spares: processRunnerSpares() } : {}),
  });
}
