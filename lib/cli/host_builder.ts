/**
 * The Builder a serve or daemon host builds with: the runner its flags and
 * Nix's settings choose, and what the host can build (platforms, features,
 * jobs, cores, post-build hook) from the settings and the store URL.
 *
 * @module
 */
import { Builder, type SandboxRunner } from "../builder/builder.ts";
import type { Store } from "../store/store.ts";
import type { StoreLocation } from "../store/store_location.ts";
import type { NixSettings } from "./nix_settings.ts";
import { runnerFromFlags } from "./runner_options.ts";

/**
 * A host's Builder, or undefined (with a warning logged) when this machine
 * cannot build: the session then serves copies and queries only.
 *
 * @param values The runner flags.
 * @param settings Nix's settings.
 * @param store The host's store.
 * @param location Where the store URL put it (its `system-features`, if any).
 * @param log Where the warning goes.
 * @param wrapRunner Applied to the runner (e.g. to keep build logs).
 * @returns The Builder, or undefined.
 */
export async function hostBuilder(
  values: { "sandbox-paths": string[]; "no-sandbox": boolean },
  settings: NixSettings,
  store: Store,
  location: StoreLocation,
  log: (text: string) => void,
  wrapRunner: (runner: SandboxRunner) => SandboxRunner = (runner) => runner,
): Promise<Builder | undefined> {
  try {
    const runner = await runnerFromFlags(values, settings, store.layout);
    return new Builder(store, wrapRunner(runner), {
      system: settings.system,
      extraPlatforms: settings.extraPlatforms,
      systemFeatures: location.systemFeatures ?? settings.systemFeatures,
      maxJobs: settings.maxJobs,
      cores: settings.cores,
      postBuildHook: settings.postBuildHook,
      buildDir: settings.buildDir,
      fetchurl: settings.fetchurl,
    });
  } catch (e) {
    log(`warning: ${(e as Error).message}\n`);
    return undefined;
  }
}
