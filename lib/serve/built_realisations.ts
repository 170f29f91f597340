/**
 * The realisations a BuildResult carries for the outputs a build made, as
 * both of Nix's remote protocols send them: keyed by output name, each with
 * the hash modulo of the in-memory derivation it was built from (its input
 * derivations are never sent, so they take no part: Nix computes it so too).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import type { Hash } from "../hash/hash.ts";
import type { BasicDerivation } from "../derivation/derivation.ts";
import { HashModulo } from "../derivation/hash_modulo.ts";
import type { Realisation } from "../serve_protocol/build_result.ts";
import type { BuildResult } from "../builder/build_result.ts";

/**
 * Realisations of the outputs a build reports, sorted by output name: like
 * Nix, only those the build registered itself when it built (not those that
 * were valid before it), every output when all were valid already.
 *
 * @param result The build's result.
 * @param drv The derivation they were built from; without it, no hash modulo.
 * @param storeDir The store directory.
 * @returns Output name to its realisation.
 */
export async function builtRealisations(
  result: Pick<BuildResult, "builtOutputs" | "newlyBuilt">,
  drv: BasicDerivation | undefined,
  storeDir: string,
): Promise<Map<string, Realisation>> {
  const built = [...result.builtOutputs]
    .filter(([name]) => result.newlyBuilt?.includes(name) ?? true)
    .sort(([a], [b]) => (a < b ? -1 : 1));
  const hashes = built.length > 0 && drv !== undefined
    ? (await new HashModulo(() => {
      throw new BuildhostError("input derivations are not sent with BuildDerivation");
    }, storeDir).hash({ ...drv, inputDrvs: new Map() }, true)).hashes
    : new Map<string, Hash>();
  const realisations = new Map<string, Realisation>();
  for (const [name, path] of built) {
    const drvHash = hashes.get(name);
    realisations.set(name, {
      outPath: path,
      signatures: [],
      dependentRealisations: new Map(),
      ...(drvHash ? { drvHash } : {}),
    });
  }
  return realisations;
}
