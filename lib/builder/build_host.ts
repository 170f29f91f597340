/**
 * What a build host can build, and Nix 2.8's refusal when a derivation asks
 * for more (`ParsedDerivation::canBuildLocally`): its platform must be the
 * host's `system` or one of its `extra-platforms`, each of its
 * `requiredSystemFeatures` must be among the store's `system-features`, and
 * `max-jobs` must not be 0; a `builtin:` builder needs neither platform nor
 * jobs.
 *
 * @module
 */
import type { BasicDerivation } from "../derivation/derivation.ts";

/** A host's build capabilities, from its settings and its store URL. */
export interface BuildHost {
  /** `system`, e.g. `x86_64-linux`. */
  system: string;
  /** `extra-platforms`. */
  extraPlatforms: readonly string[];
  /** The store's `system-features`. */
  systemFeatures: readonly string[];
  /** `max-jobs`: 0 builds nothing here. */
  maxJobs: number;
}

/**
 * The features a derivation requires: `requiredSystemFeatures` (a string of
 * words, or a list in `__json`), and `ca-derivations` for a floating
 * content-addressed output, sorted.
 *
 * @param drv The derivation.
 * @returns The features, sorted and unique.
 */
export function requiredSystemFeatures(drv: BasicDerivation): string[] {
  const out = new Set<string>();
  const json = drv.env.get("__json");
  if (json !== undefined) {
    try {
      const v = JSON.parse(json).requiredSystemFeatures;
      if (Array.isArray(v)) { for (const f of v) if (typeof f === "string") out.add(f); }
    } catch { /* the builder reports a bad __json */ }
  } else {
    for (const f of (drv.env.get("requiredSystemFeatures") ?? "").split(/\s+/)) {
      if (f !== "") out.add(f);
    }
  }
  for (const o of drv.outputs.values()) if (o.kind === "floating") out.add("ca-derivations");
  return [...out].sort();
}

const hl = (s: string) => `\x1b[35;1m${s}\x1b[0m`;

/**
 * Nix's refusal of a derivation this host cannot build, or `undefined`.
 * The text is Nix's, colour escapes included (Nix sends them on the wire).
 *
 * @param drv The derivation.
 * @param drvPath Its path.
 * @param host The host.
 * @returns The error message, or `undefined` when the host can build it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { refusal } from "./build_host.ts";
 * const drv = { name: "x", outputs: new Map(), inputSrcs: [], platform: "aarch64-linux",
 *   builder: "/bin/sh", args: [], env: new Map() };
 * const host = { system: "x86_64-linux", extraPlatforms: [], systemFeatures: ["kvm"], maxJobs: 1 };
 * assert.match(refusal(drv, "/nix/store/x.drv", host) ?? "", /is required to build/);
 * ```
 */
export function refusal(
  drv: BasicDerivation,
  drvPath: string,
  host: BuildHost,
): string | undefined {
  const builtin = drv.builder.startsWith("builtin:");
  const required = requiredSystemFeatures(drv);
  const can =
    (builtin || drv.platform === host.system || host.extraPlatforms.includes(drv.platform)) &&
    (builtin || host.maxJobs !== 0) &&
    required.every((f) => host.systemFeatures.includes(f));
  if (can) return undefined;
  const have = [...new Set(host.systemFeatures)].sort();
  return `\x1b[31;1merror:\x1b[0m a '${hl(drv.platform)}' with features {${
    hl(required.join(", "))
  }} is required to build '${hl(drvPath)}', but I am a '${hl(host.system)}' with features {${
    hl(have.join(", "))
  }}`;
}
