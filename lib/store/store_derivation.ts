/**
 * Reading a `.drv` file that is a valid path of a store.
 *
 * @module
 */
import { parseDerivation } from "../derivation/aterm.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { type Store, StoreError } from "./store.ts";

/**
 * Read a `.drv` file from the store.
 *
 * @param store The store.
 * @param drvPath A valid `.drv` path.
 * @returns The derivation.
 * @throws {StoreError} The path is not valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "./store.ts";
 * import { readStoreDerivation } from "./store_derivation.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * assert.throws(() => readStoreDerivation(store, "/nix/store/00000000000000000000000000000000-x.drv"), /not in the store/);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function readStoreDerivation(store: Store, drvPath: string): Derivation {
  if (!store.isValid(drvPath)) {
    throw new StoreError(`Cannot read "${drvPath}": the derivation is not in the store`);
  }
  return parseDerivation(Deno.readFileSync(store.realPath(drvPath)), {
    path: drvPath,
    storeDir: store.storeDir,
  });
}

/**
 * Read derivations and, recursively, their input derivations.
 *
 * @param store The store holding them.
 * @param drvPaths Valid `.drv` paths.
 * @returns Every derivation of the graph by path (inputs after their users).
 * @throws {StoreError} One of them is not valid.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "./store.ts";
 * import { readDerivationGraph } from "./store_derivation.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * assert.equal(readDerivationGraph(store, []).size, 0);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function readDerivationGraph(store: Store, drvPaths: string[]): Map<string, Derivation> {
  const drvs = new Map<string, Derivation>();
  const visit = (p: string) => {
    if (drvs.has(p)) return;
    const d = readStoreDerivation(store, p);
    drvs.set(p, d);
    for (const input of d.inputDrvs.keys()) visit(input);
  };
  for (const p of drvPaths) visit(p);
  return drvs;
}
