/**
 * `nix.conf` as Nix 2.8 reads it. Each line is `name = value` (a `#` starts
 * a comment anywhere; the value is the remaining words joined by one space),
 * `include PATH` (an error when PATH is missing) or `!include PATH` (skipped
 * when missing), PATH relative to the including file's directory. Settings
 * apply in order; `extra-NAME = v` appends `v` to `NAME`'s words.
 *
 * Pure: files are read through the `readFile` it is given.
 *
 * @module
 */
import { dirname, resolve } from "../posix_path.ts";
import { BuildhostError } from "../errors.ts";

/** A configuration line Nix would refuse. */
export class NixConfigError extends BuildhostError {
  override name = "NixConfigError";
}

/** Settings whose own name starts with `extra-` (not an append). */
const EXTRA_NAMED = new Set(["extra-platforms"]);

/** Nix 2.8's old names of the settings buildhost reads. */
const ALIASES: Record<string, string> = {
  "build-max-jobs": "max-jobs",
  "build-cores": "cores",
  "build-timeout": "timeout",
  "build-max-silent-time": "max-silent-time",
  "build-use-sandbox": "sandbox",
  "build-use-chroot": "sandbox",
  "build-sandbox-paths": "sandbox-paths",
  "build-chroot-dirs": "sandbox-paths",
  "build-extra-sandbox-paths": "extra-sandbox-paths",
  "build-extra-chroot-dirs": "extra-sandbox-paths",
};

/**
 * Settings by name: the value last set (absent: the default), then the
 * words `extra-NAME` appended since.
 */
export type NixConfig = Map<string, { value?: string; extra: string[] }>;

/**
 * A setting's value: the one set, else `defaultValue`, with the `extra-`
 * words appended.
 *
 * @param config The settings.
 * @param name The setting's name.
 * @param defaultValue Its default.
 * @returns The value, or `undefined` when neither set nor defaulted.
 */
export function configValue(
  config: NixConfig,
  name: string,
  defaultValue?: string,
): string | undefined {
  const s = config.get(name);
  const base = s?.value ?? defaultValue;
  if (!s || s.extra.length === 0) return base;
  return [...(base ? [base] : []), ...s.extra].join(" ");
}

/** How {@linkcode applyNixConfig} reads included files. */
export interface ConfigReader {
  /** The file's text, or `undefined` when it does not exist. */
  readFile(path: string): string | undefined;
}

/**
 * Apply the text of one configuration source to `config`.
 *
 * @param config The settings so far; changed in place.
 * @param text The source's text.
 * @param source Its path (includes are relative to its directory), or a
 *   name such as `NIX_CONFIG` (includes relative to `cwd`).
 * @param reader Reads included files.
 * @param cwd The directory for a source that is not a file.
 * @throws {NixConfigError} A line that is not a setting or an include, a
 *   missing `include`, or a file that includes itself (directly or not).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { applyNixConfig, configValue } from "./nix_config.ts";
 * const config = new Map();
 * const files: Record<string, string> = { "/etc/nix/more.conf": "extra-system-features = kvm\n" };
 * applyNixConfig(config, "system-features = foo  bar # comment\ninclude more.conf\n",
 *   "/etc/nix/nix.conf", { readFile: (p) => files[p] });
 * assert.equal(configValue(config, "system-features"), "foo bar kvm");
 * ```
 */
export function applyNixConfig(
  config: NixConfig,
  text: string,
  source: string,
  reader: ConfigReader,
  cwd = "/",
): void {
  apply(config, text, source, reader, cwd, [source]);
}

/** {@linkcode applyNixConfig} within the chain of files that include each other. */
function apply(
  config: NixConfig,
  text: string,
  source: string,
  reader: ConfigReader,
  cwd: string,
  chain: string[],
): void {
  for (const raw of text.split("\n")) {
    const hash = raw.indexOf("#");
    const line = hash < 0 ? raw : raw.slice(0, hash);
    const tokens = line.split(/[ \t\r]+/).filter((t) => t !== "");
    if (tokens.length === 0) continue;
    if (tokens.length < 2) {
      throw new NixConfigError(`illegal configuration line '${raw}' in '${source}'`);
    }
    if (tokens[0] === "include" || tokens[0] === "!include") {
      if (tokens.length !== 2) {
        throw new NixConfigError(`illegal configuration line '${raw}' in '${source}'`);
      }
      const base = source.startsWith("/") ? dirname(source) : cwd;
      const path = resolve(base, tokens[1]!);
      if (chain.includes(path)) {
        throw new NixConfigError(`file '${path}' included from '${source}' includes itself`);
      }
      const included = reader.readFile(path);
      if (included !== undefined) apply(config, included, path, reader, cwd, [...chain, path]);
      else if (tokens[0] === "include") {
        throw new NixConfigError(`file '${path}' included from '${source}' not found`);
      }
      continue;
    }
    if (tokens[1] !== "=") {
      throw new NixConfigError(`illegal configuration line '${raw}' in '${source}'`);
    }
    const name = Object.hasOwn(ALIASES, tokens[0]!) ? ALIASES[tokens[0]!]! : tokens[0]!,
      value = tokens.slice(2).join(" ");
    if (name.startsWith("extra-") && !EXTRA_NAMED.has(name)) {
      const base = name.slice("extra-".length);
      const s = config.get(base) ?? { extra: [] };
      if (value !== "") s.extra.push(value);
      config.set(base, s);
    } else {
      config.set(name, { value, extra: [] });
    }
  }
}
