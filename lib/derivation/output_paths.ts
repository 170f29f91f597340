/**
 * The store paths that follow from a derivation, as Nix 2.8 computes them
 * when it instantiates one (`derivationStrict`, `writeDerivation`):
 *
 * - a fixed output: `makeFixedOutputPath(name, method, hash)`;
 * - input-addressed outputs: `makeOutputPath(output, hashModulo(masked), name)`
 *   (type `output:<name>`), unless the hash is deferred;
 * - floating and impure outputs: unknown before the build; their env
 *   variable holds a placeholder;
 * - the `.drv` file itself: a text path named `<name>.drv` of its ATerm,
 *   whose references are its input sources and input derivations.
 *
 * @module
 */
import { Hash } from "../hash/hash.ts";
import { makeOutputPath, makeTextPath } from "../store_path/make_store_path.ts";
import { DEFAULT_STORE_DIR, StorePathError } from "../store_path/store_path.ts";
import { encodeNixString, sortByNixKey } from "./nix_string.ts";
import { encodeDerivation } from "./aterm_writer.ts";
import {
  type Derivation,
  derivationKind,
  type DerivationOutput,
  fixedOutputPath,
} from "./derivation.ts";
import { DerivationError } from "./derivation_error.ts";
import type { DrvHash } from "./hash_modulo.ts";

/**
 * What {@linkcode outputPaths} needs of a `HashModulo`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashModulo } from "./hash_modulo.ts";
 * import type { ModuloHasher } from "./output_paths.ts";
 * const m: ModuloHasher = new HashModulo(() => { throw new Error("no inputs"); });
 * assert.equal(m.storeDir, "/nix/store");
 * ```
 */
export interface ModuloHasher {
  /** The store directory. */
  readonly storeDir: string;
  /** The hash modulo of a derivation. */
  hash(drv: Derivation, maskOutputs: boolean): Promise<DrvHash>;
}

/** The derivation with input-addressed outputs made deferred, as instantiation starts. */
function deferInputAddressed(drv: Derivation): Derivation {
  return {
    ...drv,
    outputs: new Map(
      [...drv.outputs].map(([n, o]) => [n, o.kind === "inputAddressed" ? { kind: "deferred" } : o]),
    ),
  };
}

function outputStorePath(drv: Derivation, output: string, h: Hash, storeDir: string): string {
  try {
    return makeOutputPath(drv.name, output, h, storeDir).toString(storeDir);
  } catch (e) {
    if (!(e instanceof StorePathError)) throw e;
    throw new DerivationError(
      `Cannot compute the path of output "${output}" of "${drv.name}": ${e.detail}`,
    );
  }
}

/**
 * The output paths Nix 2.8 gives a derivation, computed from its content
 * (the paths written in it are not used, except that input-addressed and
 * deferred outputs count alike).
 *
 * @param drv The derivation.
 * @param modulo Computes hash modulo values (a `HashModulo` over the store the inputs are in).
 * @returns Output name to full store path, for each output whose path is
 *   known before building: none for floating or impure outputs, none when an
 *   input is deferred.
 * @throws {DerivationError} When the outputs cannot be classified or hashed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashModulo } from "./hash_modulo.ts";
 * import { outputPaths } from "./output_paths.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["dev", { kind: "deferred" as const }], ["out", { kind: "deferred" as const }]]),
 *   inputSrcs: [], inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [],
 *   env: new Map([["dev", ""], ["out", ""]]),
 * };
 * const paths = await outputPaths(drv, new HashModulo(() => { throw new Error("no inputs"); }));
 * assert.match(paths.get("dev")!, /-x-dev$/);
 * ```
 */
export async function outputPaths(
  drv: Derivation,
  modulo: ModuloHasher,
): Promise<Map<string, string>> {
  const storeDir = modulo.storeDir;
  const base = deferInputAddressed(drv);
  const paths = new Map<string, string>();
  switch (derivationKind(base)) {
    case "fixed":
      for (const [name, o] of drv.outputs) {
        if (o.kind === "fixed") paths.set(name, fixedOutputPath(drv.name, name, o, storeDir));
      }
      break;
    case "deferred": {
      const h = await modulo.hash(base, true);
      if (h.kind === "regular") {
        for (const [name, hash] of h.hashes) {
          paths.set(name, outputStorePath(drv, name, hash, storeDir));
        }
      }
      break;
    }
    default:
      break;
  }
  return paths;
}

/**
 * Fill in the output paths of a derivation and the env variables named
 * after its outputs, as `nix-instantiate` does before writing the `.drv`:
 * a fixed output gets its path and `out`; input-addressed outputs get their
 * paths and variables (left deferred, with empty variables, when an input
 * is deferred); floating and impure outputs get {@linkcode hashPlaceholder}
 * in their variables. A variable is added if missing.
 *
 * @param drv The derivation (outputs deferred, or set: they are recomputed).
 * @param modulo Computes hash modulo values.
 * @returns A new derivation.
 * @throws {DerivationError} When the outputs cannot be classified or hashed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HashModulo } from "./hash_modulo.ts";
 * import { withOutputPaths } from "./output_paths.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [],
 *   inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * };
 * const full = await withOutputPaths(drv, new HashModulo(() => { throw new Error("no inputs"); }));
 * const out = full.outputs.get("out")!;
 * assert.equal(out.kind, "inputAddressed");
 * assert.equal(full.env.get("out"), out.kind === "inputAddressed" ? out.path : "");
 * ```
 */
export async function withOutputPaths(
  drv: Derivation,
  modulo: ModuloHasher,
): Promise<Derivation> {
  const storeDir = modulo.storeDir;
  const outputs = new Map<string, DerivationOutput>(drv.outputs);
  const env = new Map(drv.env);
  switch (derivationKind(deferInputAddressed(drv))) {
    case "fixed":
      for (const [name, o] of drv.outputs) {
        if (o.kind !== "fixed") continue;
        const path = fixedOutputPath(drv.name, name, o, storeDir);
        outputs.set(name, { ...o, path });
        env.set(name, path);
      }
      break;
    case "floating":
    case "impure":
      for (const name of drv.outputs.keys()) env.set(name, hashPlaceholder(name));
      break;
    case "deferred": {
      for (const name of drv.outputs.keys()) {
        outputs.set(name, { kind: "deferred" });
        env.set(name, "");
      }
      const h = await modulo.hash({ ...drv, outputs, env }, true);
      if (h.kind === "regular") {
        for (const [name, hash] of h.hashes) {
          const path = outputStorePath(drv, name, hash, storeDir);
          outputs.set(name, { kind: "inputAddressed", path });
          env.set(name, path);
        }
      }
      break;
    }
    default:
      break;
  }
  return { ...drv, outputs: new Map(sortByNixKey(outputs)), env: new Map(sortByNixKey(env)) };
}

/**
 * The store path of a `.drv` file: a text path named `<name>.drv` of its
 * ATerm ({@linkcode encodeDerivation}), referring to its input sources and
 * input derivations (not its outputs).
 *
 * @param drv The derivation.
 * @param storeDir The store directory.
 * @returns The full path.
 * @throws {DerivationError} When the name is not a valid store path name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationPath } from "./output_paths.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [],
 *   inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * };
 * assert.match(derivationPath(drv), /^\/nix\/store\/[0-9a-z]{32}-x\.drv$/);
 * ```
 */
export function derivationPath(drv: Derivation, storeDir: string = DEFAULT_STORE_DIR): string {
  try {
    return makeTextPath(
      `${drv.name}.drv`,
      encodeDerivation(drv, { storeDir }),
      [...drv.inputSrcs, ...drv.inputDrvs.keys()],
      storeDir,
    ).toString(storeDir);
  } catch (e) {
    if (!(e instanceof StorePathError)) throw e;
    throw new DerivationError(`Cannot compute the path of derivation "${drv.name}": ${e.detail}`);
  }
}

/**
 * The placeholder Nix 2.8 puts in the env variable of a floating or impure
 * output (`builtins.placeholder`): `/` followed by the nix32 of
 * `sha256("nix-output:<name>")`.
 *
 * @param outputName The output's name.
 * @returns The placeholder.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { hashPlaceholder } from "./output_paths.ts";
 * assert.equal(hashPlaceholder("out"), "/1rz4g4znpzjwh1xymhjpm42vipw92pr73vdgl6xs1hycac8kf2n9");
 * ```
 */
export function hashPlaceholder(outputName: string): string {
  return "/" + Hash.of("sha256", encodeNixString(`nix-output:${outputName}`)).toString("base32");
}
