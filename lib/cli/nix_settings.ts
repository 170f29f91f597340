/**
 * The settings buildhost reads from Nix's configuration, found as Nix 2.8
 * finds it: `$NIX_CONF_DIR/nix.conf` (default `/etc/nix/nix.conf`), then the
 * user's files (`NIX_USER_CONF_FILES`, colon-separated, else
 * `nix/nix.conf` in `XDG_CONFIG_DIRS` and `XDG_CONFIG_HOME`, the latter
 * winning), then the text of `NIX_CONFIG`. Defaults are Nix's.
 *
 * @module
 */
import type { FetchurlSettings } from "../builder/builtin_fetchurl.ts";
import { join } from "../posix_path.ts";
import { applyNixConfig, configValue, type NixConfig, NixConfigError } from "./nix_config.ts";

/** What buildhost uses of Nix's settings. */
export interface NixSettings {
  /** `system`: this host's platform (default from the machine, e.g. `x86_64-linux`). */
  system: string;
  /** `extra-platforms`: platforms it builds for too (default as Nix's on this CPU). */
  extraPlatforms: string[];
  /** `system-features` (default `nixos-test benchmark big-parallel`, `kvm` with `/dev/kvm`). */
  systemFeatures: string[];
  /** `max-jobs` (`auto`: the number of cores; default 1). */
  maxJobs: number;
  /** `cores` (0: all; default all). */
  cores: number;
  /** `sandbox`: `true`, `false` or `relaxed` (default `true`). */
  sandbox: "true" | "false" | "relaxed";
  /** `sandbox-paths` with `extra-sandbox-paths`, unparsed items. */
  sandboxPaths: string[];
  /** `post-build-hook`: a program run after each build (empty: none). */
  postBuildHook: string;
  /** `max-silent-time` in seconds (0: none). */
  maxSilentTime: number;
  /** `timeout` in seconds (0: none). */
  timeout: number;
  /** `build-dir`: where build directories are made (empty: the default). */
  buildDir: string;
  /** `hashed-mirrors`, `netrc-file` (default `$NIX_CONF_DIR/netrc`), `download-attempts`. */
  fetchurl: FetchurlSettings;
}

/** The configuration files Nix reads, in order. */
export function nixConfigFiles(env: Record<string, string | undefined>): string[] {
  const files = [join(env.NIX_CONF_DIR || "/etc/nix", "nix.conf")];
  if (env.NIX_USER_CONF_FILES !== undefined) {
    return [...files, ...env.NIX_USER_CONF_FILES.split(":").filter((f) => f).reverse()];
  }
  const home = env.XDG_CONFIG_HOME || join(env.HOME ?? "/", ".config");
  const dirs = [home, ...(env.XDG_CONFIG_DIRS || "/etc/xdg").split(":").filter((d) => d)];
  return [...files, ...dirs.map((d) => join(d, "nix/nix.conf")).reverse()];
}

function readIfThere(path: string): string | undefined {
  try {
    return Deno.readTextFileSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
      return undefined;
    }
    throw e;
  }
}

/**
 * Nix's configuration as this process would see it.
 *
 * @param env The environment.
 * @returns The settings set, before defaults.
 * @throws {NixConfigError} A line Nix would refuse.
 */
export function loadNixConfig(env: Record<string, string | undefined>): NixConfig {
  const config: NixConfig = new Map();
  const reader = { readFile: readIfThere };
  for (const file of nixConfigFiles(env)) {
    const text = readIfThere(file);
    if (text !== undefined) applyNixConfig(config, text, file, reader);
  }
  if (env.NIX_CONFIG !== undefined) {
    applyNixConfig(config, env.NIX_CONFIG, "NIX_CONFIG", reader, Deno.cwd());
  }
  return config;
}

/** Nix's `system` for this machine. */
function thisSystem(): string {
  const arch = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  return `${arch}-${Deno.build.os === "darwin" ? "darwin" : Deno.build.os}`;
}

/**
 * Nix's default extra platforms: i686 and the x86-64 micro-architecture
 * levels of this CPU (from `/proc/cpuinfo`; Nix asks libcpuid, which may
 * see fewer levels).
 */
function defaultExtraPlatforms(system: string): string[] {
  if (system !== "x86_64-linux") return [];
  const out = ["i686-linux"];
  let flags = new Set<string>();
  try {
    const info = Deno.readTextFileSync("/proc/cpuinfo");
    flags = new Set(/^flags\s*:(.*)$/m.exec(info)?.[1]?.trim().split(/\s+/) ?? []);
  } catch { /* no levels */ }
  const levels: [string, string[]][] = [
    ["x86_64-v1", ["lm"]],
    ["x86_64-v2", ["cx16", "lahf_lm", "popcnt", "sse4_1", "sse4_2", "ssse3"]],
    ["x86_64-v3", ["avx", "avx2", "bmi1", "bmi2", "f16c", "fma", "movbe", "xsave"]],
    ["x86_64-v4", ["avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"]],
  ];
  for (const [level, need] of levels) {
    if (!need.every((f) => flags.has(f))) break;
    out.push(`${level}-linux`);
  }
  return out;
}

function defaultSystemFeatures(config: NixConfig): string[] {
  const out = ["nixos-test", "benchmark", "big-parallel"];
  try {
    const f = Deno.openSync("/dev/kvm", { read: true, write: true });
    f.close();
    out.push("kvm");
  } catch { /* no kvm */ }
  const xp = (configValue(config, "experimental-features") ?? "").split(/\s+/);
  if (xp.includes("ca-derivations")) out.push("ca-derivations");
  if (xp.includes("recursive-nix")) out.push("recursive-nix");
  return out;
}

function words(v: string | undefined): string[] {
  return (v ?? "").split(/\s+/).filter((w) => w !== "");
}

function seconds(config: NixConfig, name: string, dflt: number): number {
  const v = configValue(config, name);
  if (v === undefined || v === "") return dflt;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0) {
    throw new NixConfigError(`configuration setting '${name}' should be an integer, not '${v}'`);
  }
  return n;
}

/**
 * The typed settings from a configuration, with Nix's defaults.
 *
 * @param config The configuration (see {@linkcode loadNixConfig}).
 * @param env The environment (`NIX_CONF_DIR` places the default `netrc-file`).
 * @returns The settings.
 * @throws {NixConfigError} A value of the wrong kind.
 */
export function nixSettings(
  config: NixConfig,
  env: Record<string, string | undefined> = Deno.env.toObject(),
): NixSettings {
  const system = configValue(config, "system") || thisSystem();
  const cpus = navigator.hardwareConcurrency;
  const maxJobsText = configValue(config, "max-jobs", "1")!;
  const sandbox = configValue(config, "sandbox", "true")!;
  if (sandbox !== "true" && sandbox !== "false" && sandbox !== "relaxed") {
    throw new NixConfigError(`configuration setting 'sandbox' should be true, false or relaxed`);
  }
  return {
    system,
    extraPlatforms: words(
      configValue(config, "extra-platforms", defaultExtraPlatforms(system).join(" ")),
    ),
    systemFeatures: words(
      configValue(config, "system-features", defaultSystemFeatures(config).join(" ")),
    ),
    maxJobs: maxJobsText === "auto" ? cpus : seconds(config, "max-jobs", 1),
    cores: seconds(config, "cores", cpus) || cpus,
    sandbox,
    sandboxPaths: words(configValue(config, "sandbox-paths")),
    postBuildHook: configValue(config, "post-build-hook") ?? "",
    maxSilentTime: seconds(config, "max-silent-time", 0),
    timeout: seconds(config, "timeout", 0),
    buildDir: configValue(config, "build-dir") ?? "",
    fetchurl: {
      hashedMirrors: words(configValue(config, "hashed-mirrors")),
      netrcFile: configValue(config, "netrc-file") ??
        join(env.NIX_CONF_DIR || "/etc/nix", "netrc"),
      downloadAttempts: seconds(config, "download-attempts", 5),
    },
  };
}
