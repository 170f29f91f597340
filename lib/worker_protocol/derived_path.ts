/**
 * Derived paths as the worker protocol sends them (BuildPaths, QueryMissing,
 * BuildPathsWithResults): a store path, or a derivation and the outputs
 * wanted, `/nix/store/...drv!out,dev` (`!*` for all). From 1.30 Nix writes
 * `DerivedPath::to_string_legacy`, before `StorePathWithOutputs`; both are
 * this text.
 *
 * @module
 */

/** A store path, or outputs of a derivation. */
export interface DerivedPath {
  /** The store path (a `.drv` when outputs are wanted). */
  path: string;
  /** The outputs wanted (`["*"]` for all); undefined for a plain path. */
  outputs?: string[];
}

/**
 * Parse the text form.
 *
 * @param text `path` or `drv!out1,out2`.
 * @returns The derived path (the store path is checked by the caller).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDerivedPath } from "./derived_path.ts";
 * assert.deepEqual(parseDerivedPath("/nix/store/x.drv!out,dev"), {
 *   path: "/nix/store/x.drv", outputs: ["out", "dev"],
 * });
 * ```
 */
export function parseDerivedPath(text: string): DerivedPath {
  const bang = text.indexOf("!");
  if (bang < 0) return { path: text };
  return { path: text.slice(0, bang), outputs: text.slice(bang + 1).split(",") };
}

/**
 * The text form.
 *
 * @param p The derived path.
 * @returns `path` or `drv!out1,out2`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatDerivedPath } from "./derived_path.ts";
 * assert.equal(formatDerivedPath({ path: "/nix/store/x.drv", outputs: ["*"] }), "/nix/store/x.drv!*");
 * ```
 */
export function formatDerivedPath(p: DerivedPath): string {
  return p.outputs === undefined ? p.path : `${p.path}!${p.outputs.join(",")}`;
}
