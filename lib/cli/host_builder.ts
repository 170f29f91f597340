/**
 * The Builder a serve or daemon host builds with: the runner its flags and
 * Nix's settings choose, and what the host can build (platforms, features,
 * jobs, cores, post-build hook) from the settings and the store URL.
 *
 * The runner is chosen, and the sandbox's tools looked for, at the session's
 * first build, once (a session that only copies or queries never loads the
 * sandbox); a later build reuses the answer.
 *
 * @module
 */
import { Builder, type SandboxRunner } from "../builder/builder.ts";
import { BuildhostError } from "../errors.ts";
import type { Store } from "../store/store.ts";
import type { BuildRecord } from "../store/build_record.ts";
import { keepingBuildLogs } from "../store/build_log.ts";
import type { StoreLocation } from "../store/store_location.ts";
import type { NixSettings } from "./nix_settings.ts";
import { runnerFromFlags } from "./runner_options.ts";

/**
 * A host asked to build cannot: its sandbox cannot run here (the warning
 * logged at the first build says why).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HostCannotBuildError } from "./host_builder.ts";
 * assert.equal(new HostCannotBuildError().message, "this host cannot build (no sandbox)");
 * ```
 */
export class HostCannotBuildError extends BuildhostError {
  override name = "HostCannotBuildError";
  constructor() {
    super("this host cannot build (no sandbox)");
  }
}

/**
 * A host's Builder. Its runner is chosen at the first build: when this
 * machine cannot build, that build and every later one throw
 * {@linkcode HostCannotBuildError} (the session serves copies and queries
 * only), and a warning saying why is logged once.
 *
 * @param values The runner flags.
 * @param settings Nix's settings.
 * @param store The host's store.
 * @param location Where the store URL put it (its `system-features`, if any).
 * @param log Where the warning goes.
 * @param options `wrapRunner`: applied to the chosen runner (default: the
 *   builds' logs are kept in the store, `keepingBuildLogs`, as every host
 *   keeps them); `record`: the build record its builds go in (default: this
 *   process's); `spares`: sandbox runners started ahead (see
 *   `runner_spares.ts`), for a host process that ends when its sessions do.
 * @returns The Builder.
 */
export function hostBuilder(
  values: { "sandbox-paths": string[]; "no-sandbox": boolean },
  settings: NixSettings,
  store: Store,
  location: StoreLocation,
  log: (text: string) => void,
  options: {
    wrapRunner?: (runner: SandboxRunner) => SandboxRunner;
    record?: BuildRecord;
    spares?: boolean;
  } = {},
): Builder {
  const { record, wrapRunner = (runner) => keepingBuildLogs(store, runner) } = options;
  let chosen: Promise<SandboxRunner> | undefined;
  const runner: SandboxRunner = async (spec) => {
    chosen ??= runnerFromFlags(values, settings, store.layout, {
      spares: options.spares ?? false,
    }).then(wrapRunner, (e) => {
      log(`warning: ${(e as Error).message}\n`);
      throw new HostCannotBuildError();
    });
    return (await chosen)(spec);
  };
  return new Builder(store, runner, {
    system: settings.system,
    extraPlatforms: settings.extraPlatforms,
    systemFeatures: location.systemFeatures ?? settings.systemFeatures,
    maxJobs: settings.maxJobs,
    cores: settings.cores,
    postBuildHook: settings.postBuildHook,
    buildDir: settings.buildDir,
    fetchurl: settings.fetchurl,
    ...(record ? { record } : {}),
  });
}
