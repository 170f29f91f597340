/**
 * `hashDerivationModulo` as in Nix 2.8: the hash that input-addressed output
 * paths are made from, and that stands for a derivation inside the hashes
 * of the derivations that depend on it.
 *
 * - A fixed-output derivation (one output, `out`, with a known hash) hashes
 *   to `sha256("fixed:out:<r:><algo>:<hash base16>:<out path>")`. Its
 *   builder, inputs and env do not count: changing how a source is fetched
 *   changes nothing downstream.
 * - An impure derivation hashes to `sha256("impure")` for each output, and
 *   is deferred.
 * - Any other derivation hashes to the sha256 of its ATerm in which each
 *   input derivation's path is replaced by the base16 of that input's hash
 *   for the wanted output (inputs with the same hash merge their output
 *   names). Output paths and the env variables named after outputs are
 *   blanked ("masked") when the hash is for the derivation's own output
 *   paths; not when it is for a dependent.
 * - The result is deferred when the derivation is floating
 *   content-addressed or an input is deferred: its output paths are then
 *   unknown until inputs are built.
 *
 * The functions are pure: input derivations (or their hashes) come from a
 * lookup callback, never a store.
 *
 * @module
 */
import { Hash } from "../hash/hash.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { encodeDerivation } from "./aterm_writer.ts";
import { type Derivation, derivationKind, fixedOutputPath, methodAlgo } from "./derivation.ts";
import { DerivationError } from "./derivation_error.ts";
import { outputPaths, withOutputPaths } from "./output_paths.ts";

// Kept here too for callers that imported it from this module first.
export { derivationPath } from "./output_paths.ts";

/**
 * The hash modulo of a derivation, per output (Nix 2.8's `DrvHash`).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import type { DrvHash } from "./hash_modulo.ts";
 * const h: DrvHash = { kind: "regular", hashes: new Map([["out", Hash.of("sha256", "")]]) };
 * assert.equal(h.hashes.size, 1);
 * ```
 */
export interface DrvHash {
  /**
   * `regular`: the output paths follow from the hashes. `deferred`: they
   * depend on content-addressed or impure inputs not built yet.
   */
  kind: "regular" | "deferred";
  /** Output name to its hash (the same hash for all outputs unless fixed). */
  hashes: Map<string, Hash>;
}

/**
 * Finds an input derivation by its `.drv` path (reading a store, a map of
 * parsed derivations...), or gives its hash modulo directly.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationLookup } from "./hash_modulo.ts";
 * const lookup: DerivationLookup = (p) => { throw new Error(`no ${p}`); };
 * assert.throws(() => lookup("/nix/store/x.drv"));
 * ```
 */
export type DerivationLookup = (
  drvPath: string,
) => Derivation | DrvHash | Promise<Derivation | DrvHash>;

/**
 * The hash of every output of an impure derivation: `sha256("impure")`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { IMPURE_OUTPUT_HASH } from "./hash_modulo.ts";
 * assert.ok(IMPURE_OUTPUT_HASH.equals(Hash.of("sha256", "impure")));
 * ```
 */
// Written out rather than hashed when the module loads: loading must not
// need the hasher (see `createHash` in hash.ts).
export const IMPURE_OUTPUT_HASH: Hash = Hash.parse(
  "sha256:ddffc26775f61118da8597d1f2f62c544ec92461b31b5b1075ed8689a7ee8292",
);

/**
 * Computes hash-modulo values, remembering those of input derivations by
 * path (so a shared input is read and hashed once). One instance per store.
 *
 * @example A derivation without inputs
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashModulo } from "./hash_modulo.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [],
 *   inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [],
 *   env: new Map([["out", ""]]),
 * };
 * const modulo = new HashModulo(() => { throw new Error("no inputs"); });
 * const h = await modulo.hash(drv, true);
 * assert.equal(h.kind, "regular");
 * const full = await modulo.withOutputPaths(drv);
 * assert.match(full.env.get("out")!, /^\/nix\/store\/[0-9a-z]{32}-x$/);
 * ```
 */
export class HashModulo {
  #memo = new Map<string, DrvHash>();

  /**
   * @param lookup Finds input derivations (or their hashes) by `.drv` path.
   * @param storeDir The store directory.
   */
  constructor(
    readonly lookup: DerivationLookup,
    readonly storeDir: string = DEFAULT_STORE_DIR,
  ) {}

  /**
   * The hash modulo of a derivation.
   *
   * @param drv The derivation.
   * @param maskOutputs Blank its output paths and their env variables (true
   *   when computing its own output paths, false when hashing it as an input).
   * @returns Its hash per output, and whether paths are deferred.
   * @throws {DerivationError} For an invalid mix of outputs, a missing output
   *   of an input, or a cycle of inputs.
   */
  hash(drv: Derivation, maskOutputs = false): Promise<DrvHash> {
    return this.#hash(drv, maskOutputs, []);
  }

  /**
   * The (unmasked) hash modulo of the derivation at `drvPath`, as its
   * dependents see it; memoised.
   *
   * @param drvPath The `.drv` path, as the lookup understands it.
   * @returns Its hash per output.
   */
  ofPath(drvPath: string): Promise<DrvHash> {
    return this.#ofPath(drvPath, []);
  }

  /**
   * The output paths Nix 2.8 gives the derivation (see `outputPaths` in
   * `output_paths.ts`).
   *
   * @param drv The derivation.
   * @returns Output name to store path, for the outputs whose path is known.
   */
  outputPaths(drv: Derivation): Promise<Map<string, string>> {
    return outputPaths(drv, this);
  }

  /**
   * The derivation with its output paths and their env variables filled in,
   * as `nix-instantiate` writes it (see `withOutputPaths` in `output_paths.ts`).
   *
   * @param drv The derivation (outputs deferred or already set).
   * @returns A new derivation.
   */
  withOutputPaths(drv: Derivation): Promise<Derivation> {
    return withOutputPaths(drv, this);
  }

  async #ofPath(drvPath: string, chain: string[]): Promise<DrvHash> {
    const known = this.#memo.get(drvPath);
    if (known) return known;
    if (chain.includes(drvPath)) {
      throw new DerivationError(
        `Cannot hash derivation "${drvPath}": it depends on itself (${
          [...chain.slice(chain.indexOf(drvPath)), drvPath].join(" -> ")
        })`,
      );
    }
    const found = await this.lookup(drvPath);
    const h = "hashes" in found ? found : await this.#hash(found, false, [...chain, drvPath]);
    this.#memo.set(drvPath, h);
    return h;
  }

  async #hash(drv: Derivation, maskOutputs: boolean, chain: string[]): Promise<DrvHash> {
    const kind = derivationKind(drv);
    if (kind === "fixed") {
      const [name, out] = [...drv.outputs][0]!;
      if (out.kind !== "fixed") throw new Error("unreachable: derivationKind said fixed");
      const fingerprint = `fixed:out:${methodAlgo(out.method, out.hash.algorithm)}:${
        out.hash.toString("base16")
      }:${fixedOutputPath(drv.name, name, out, this.storeDir)}`;
      return { kind: "regular", hashes: new Map([[name, Hash.of("sha256", fingerprint)]]) };
    }
    if (kind === "impure") {
      return {
        kind: "deferred",
        hashes: new Map([...drv.outputs.keys()].map((n) => [n, IMPURE_OUTPUT_HASH])),
      };
    }
    let deferred = kind === "floating";
    const inputs = new Map<string, Set<string>>();
    for (const [path, wanted] of drv.inputDrvs) {
      const res = await this.#ofPath(path, chain);
      if (res.kind === "deferred") deferred = true;
      for (const output of wanted) {
        const h = res.hashes.get(output);
        if (h === undefined) {
          throw new DerivationError(
            `Cannot hash derivation "${drv.name}": its input "${path}" has no output "${output}"`,
          );
        }
        const key = h.toString("base16");
        const set = inputs.get(key) ?? new Set();
        set.add(output);
        inputs.set(key, set);
      }
    }
    const text = encodeDerivation(drv, { maskOutputs, inputDrvs: inputs, storeDir: this.storeDir });
    const h = Hash.of("sha256", text);
    return {
      kind: deferred ? "deferred" : "regular",
      hashes: new Map([...drv.outputs.keys()].map((n) => [n, h])),
    };
  }
}

/**
 * `hashDerivationModulo` in one call (without memo across calls; use a
 * {@linkcode HashModulo} for many derivations of one store).
 *
 * @param drv The derivation.
 * @param maskOutputs Blank its outputs (true for computing its own output paths).
 * @param lookup Finds input derivations or their hashes by `.drv` path.
 * @param storeDir The store directory.
 * @returns Its hash per output.
 *
 * @example A fixed-output derivation's hash depends only on its output
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { hashDerivationModulo } from "./hash_modulo.ts";
 * const hash = Hash.of("sha256", "");
 * const path = "/nix/store/i8yf3p9li8bd9rwjsr5nkg63lxs367am-f";
 * const drv = {
 *   name: "f", outputs: new Map([["out", { kind: "fixed" as const, path, method: "flat" as const, hash }]]),
 *   inputSrcs: [], inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [],
 *   env: new Map(),
 * };
 * const h = await hashDerivationModulo(drv, false, () => { throw new Error("no inputs"); });
 * assert.ok(h.hashes.get("out")!.equals(Hash.of("sha256", `fixed:out:sha256:${hash.toString("base16")}:${path}`)));
 * ```
 */
export function hashDerivationModulo(
  drv: Derivation,
  maskOutputs: boolean,
  lookup: DerivationLookup,
  storeDir: string = DEFAULT_STORE_DIR,
): Promise<DrvHash> {
  return new HashModulo(lookup, storeDir).hash(drv, maskOutputs);
}
