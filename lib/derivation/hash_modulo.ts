/**
 * `hashDerivationModulo` and the paths that follow from it, as in Nix 2.8.
 *
 * - A fixed-output derivation hashes to
 *   `sha256("fixed:out:<r:><algo>:<hash base16>:<out path>")`: its inputs do
 *   not matter, so changing how a source is fetched changes nothing
 *   downstream.
 * - Any other derivation hashes to the sha256 of its ATerm in which every
 *   input derivation's path is replaced by the base16 of that input's own
 *   hash modulo (computed without masking).
 * - For computing its own output paths, the output paths and their
 *   environment variables are blanked (masked).
 *
 * The functions are pure: input derivations come from a lookup callback.
 *
 * @module
 */
import { Hash, type HashAlgorithm } from "../hash/hash.ts";
import {
  makeFixedOutputPath,
  makeOutputPath,
  makeTextPath,
} from "../store_path/make_store_path.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { printDerivation } from "./aterm.ts";
import { type Derivation, DerivationError, type DerivationOutput } from "./derivation.ts";

/**
 * Finds an input derivation by its `.drv` path (e.g. reading the store).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationLookup } from "./hash_modulo.ts";
 * const lookup: DerivationLookup = (p) => { throw new Error(`no ${p}`); };
 * assert.throws(() => lookup("/nix/store/x.drv"));
 * ```
 */
export type DerivationLookup = (drvPath: string) => Derivation | Promise<Derivation>;

/**
 * Computes hash-modulo values, remembering those of input derivations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashModulo } from "./hash_modulo.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [],
 *   inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * };
 * const h = await new HashModulo(() => { throw new Error("no inputs"); }).of(drv, true);
 * assert.equal(h.algorithm, "sha256");
 * ```
 */
export class HashModulo {
  #memo = new Map<string, Hash>();

  /**
   * @param lookup Finds input derivations.
   * @param storeDir The store directory.
   */
  constructor(readonly lookup: DerivationLookup, readonly storeDir: string = DEFAULT_STORE_DIR) {}

  /**
   * The hash modulo of a derivation.
   *
   * @param drv The derivation.
   * @param maskOutputs Blank its outputs (true when computing its output paths).
   * @returns The sha256 hash.
   */
  async of(drv: Derivation, maskOutputs: boolean): Promise<Hash> {
    const out = drv.outputs.get("out");
    if (drv.outputs.size === 1 && out?.kind === "fixed") {
      return Hash.of(
        "sha256",
        `fixed:out:${
          out.method === "recursive" ? "r:" : ""
        }${out.hashAlgo}:${out.hash}:${out.path}`,
      );
    }
    const inputs = new Map<string, string[]>();
    for (const [path, outputs] of drv.inputDrvs) {
      const h = await this.ofPath(path);
      // As Nix 2.8: inputs with the same hash (fixed outputs with one path) overwrite.
      inputs.set(h.toString("base16"), outputs);
    }
    return Hash.of("sha256", printDerivation(drv, { maskOutputs, inputDrvs: inputs }));
  }

  /** The (unmasked) hash modulo of the derivation at `drvPath`. */
  async ofPath(drvPath: string): Promise<Hash> {
    let h = this.#memo.get(drvPath);
    if (!h) {
      h = await this.of(await this.lookup(drvPath), false);
      this.#memo.set(drvPath, h);
    }
    return h;
  }

  /**
   * The output paths a derivation must have, computed from its content.
   *
   * @param drv The derivation (output paths in it are ignored for input-addressed outputs).
   * @returns Output name to store path.
   */
  async outputPaths(drv: Derivation): Promise<Map<string, string>> {
    const paths = new Map<string, string>();
    let masked: Hash | undefined;
    for (const [name, o] of drv.outputs) {
      if (o.kind === "fixed") {
        if (name !== "out") {
          throw new DerivationError(
            `Cannot compute the path of fixed output "${name}" of "${drv.name}": it must be "out"`,
          );
        }
        const hash = Hash.parse(o.hash, o.hashAlgo as HashAlgorithm);
        paths.set(
          name,
          makeFixedOutputPath(drv.name, o.method, hash, [], false, this.storeDir).toString(
            this.storeDir,
          ),
        );
      } else if (o.kind === "inputAddressed" || o.kind === "deferred") {
        masked ??= await this.of(drv, true);
        paths.set(
          name,
          makeOutputPath(drv.name, name, masked, this.storeDir).toString(this.storeDir),
        );
      }
    }
    return paths;
  }

  /**
   * Fill in the output paths (and their env variables) of a derivation
   * written with empty ones, as instantiation does.
   *
   * @param drv The derivation with deferred or input-addressed outputs.
   * @returns A copy with every computable output path set.
   */
  async withOutputPaths(drv: Derivation): Promise<Derivation> {
    const paths = await this.outputPaths(drv);
    const outputs = new Map<string, DerivationOutput>();
    const env = new Map(drv.env);
    for (const [name, o] of drv.outputs) {
      const p = paths.get(name);
      if (p === undefined) outputs.set(name, o);
      else {
        outputs.set(
          name,
          o.kind === "fixed" ? { ...o, path: p } : { kind: "inputAddressed", path: p },
        );
        if (env.has(name)) env.set(name, p);
      }
    }
    return { ...drv, outputs, env };
  }
}

/**
 * The store path of a `.drv` file: a text path of its ATerm whose references
 * are its input sources and input derivations.
 *
 * @param drv The derivation.
 * @param storeDir The store directory.
 * @returns The full path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationPath } from "./hash_modulo.ts";
 * const p = derivationPath({ name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputDrvs: new Map(), inputSrcs: [], platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map() });
 * assert.match(p, /^\/nix\/store\/[0-9a-z]{32}-x\.drv$/);
 * ```
 */
export function derivationPath(drv: Derivation, storeDir: string = DEFAULT_STORE_DIR): string {
  return makeTextPath(
    `${drv.name}.drv`,
    printDerivation(drv),
    [...drv.inputSrcs, ...drv.inputDrvs.keys()],
    storeDir,
  ).toString(storeDir);
}
