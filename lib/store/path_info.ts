/**
 * What a store knows about a valid path, as Nix records it (the columns of
 * `ValidPaths` and `Refs`), and the JSON of `nix path-info --json`.
 *
 * @module
 */
import type { Hash } from "../hash/hash.ts";

/** Metadata of a valid store path. */
export interface PathInfo {
  /** The full store path. */
  path: string;
  /** The `.drv` that produced it, if known. */
  deriver?: string;
  /** sha256 of its NAR serialisation. */
  narHash: Hash;
  /** Size of its NAR serialisation in bytes. */
  narSize: number;
  /** Full store paths it refers to (possibly itself), sorted. */
  references: string[];
  /** When it was registered (unix seconds). */
  registrationTime: number;
  /** Whether it was built locally ("ultimately trusted"). */
  ultimate: boolean;
  /** Signatures. */
  sigs: string[];
  /** Content address (`text:sha256:...`, `fixed:r:sha256:...`), if any. */
  ca?: string;
}

/**
 * The JSON object `nix path-info --json` (Nix 2.8) prints for a path.
 *
 * @param info The path's metadata.
 * @returns The JSON value.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { pathInfoToJson } from "./path_info.ts";
 * const j = pathInfoToJson({ path: "/nix/store/ffffffffffffffffffffffffffffffff-x", narHash: Hash.of("sha256", ""),
 *   narSize: 8, references: [], registrationTime: 1, ultimate: false, sigs: [] });
 * assert.equal(j.narSize, 8);
 * ```
 */
export function pathInfoToJson(info: PathInfo): Record<string, unknown> {
  const j: Record<string, unknown> = {
    path: info.path,
    narHash: info.narHash.toString("sri"),
    narSize: info.narSize,
    references: [...info.references].sort(),
  };
  if (info.deriver) j.deriver = info.deriver;
  j.registrationTime = info.registrationTime;
  if (info.ultimate) j.ultimate = true;
  if (info.sigs.length > 0) j.signatures = info.sigs;
  if (info.ca) j.ca = info.ca;
  return j;
}
