/**
 * Derivations as Nix 2.8 stores them (`.drv` files) and sends them
 * (`BasicDerivation` in the serve protocol's BuildDerivation).
 *
 * A {@linkcode BasicDerivation} is what a builder needs: outputs, input
 * sources (store paths that must exist, including outputs of other
 * derivations once built), platform, builder, arguments and environment. A
 * {@linkcode Derivation} adds `inputDrvs`: the derivations whose outputs it
 * needs. Its name is not written in the `.drv`: it is the `.drv` file's
 * name without `.drv`.
 *
 * Collections are kept sorted as Nix's `std::map`/`std::set` are (byte-wise
 * on the UTF-8); the printers sort them again anyway.
 *
 * Each output is one of Nix 2.8's five kinds, told apart in the ATerm by
 * which of (path, hashAlgo, hash) are empty:
 *
 * | kind             | path | hashAlgo           | hash       |
 * |------------------|------|--------------------|------------|
 * | `inputAddressed` | set  | `""`               | `""`       |
 * | `fixed`          | set  | `[r:]algo`         | base16     |
 * | `floating`       | `""` | `[r:]algo`         | `""`       |
 * | `impure`         | `""` | `[r:]algo`         | `"impure"` |
 * | `deferred`       | `""` | `""`               | `""`       |
 *
 * `floating` (content-addressed derivations) and `impure` are experimental
 * in Nix 2.8; they are read and printed but their paths are known only
 * after a build.
 *
 * @module
 */
import type { Hash, HashAlgorithm } from "../hash/hash.ts";
import {
  type FileIngestionMethod,
  makeFixedOutputPath,
  outputPathName,
} from "../store_path/make_store_path.ts";
import { DEFAULT_STORE_DIR, StorePath, StorePathError } from "../store_path/store_path.ts";
import { DerivationError } from "./derivation_error.ts";

/**
 * An output of a derivation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationOutput } from "./derivation.ts";
 * const o: DerivationOutput = { kind: "inputAddressed", path: "/nix/store/ffffffffffffffffffffffffffffffff-x" };
 * assert.equal(o.kind, "inputAddressed");
 * ```
 */
export type DerivationOutput =
  /** Input-addressed: the path follows from the derivation. */
  | { kind: "inputAddressed"; path: string }
  /**
   * Fixed-output: the content hash is known in advance. `path` is what the
   * `.drv` says; Nix 2.8 does not keep it but recomputes it from the hash
   * whenever it prints or hashes the derivation, and so do the printers here
   * (see {@linkcode fixedOutputPath}).
   */
  | { kind: "fixed"; path: string; method: FileIngestionMethod; hash: Hash }
  /** Content-addressed (experimental): the path is known after the build. */
  | { kind: "floating"; method: FileIngestionMethod; hashAlgo: HashAlgorithm }
  /** Impure (experimental): never cached, path known after the build. */
  | { kind: "impure"; method: FileIngestionMethod; hashAlgo: HashAlgorithm }
  /** Input-addressed, but the path is not computed (yet). */
  | { kind: "deferred" };

/**
 * The derivation proper, without its input derivations: what a builder needs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BasicDerivation } from "./derivation.ts";
 * const drv: BasicDerivation = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [],
 *   platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * };
 * assert.equal(drv.outputs.size, 1);
 * ```
 */
export interface BasicDerivation {
  /** The name (the `.drv` file's name without `.drv`). */
  name: string;
  /** Output name to output, sorted by name. */
  outputs: Map<string, DerivationOutput>;
  /** Store paths the build needs, sorted, unique. */
  inputSrcs: string[];
  /** The system it builds on, e.g. `x86_64-linux`. */
  platform: string;
  /** The program to run. */
  builder: string;
  /** Its arguments. */
  args: string[];
  /** Environment, sorted by key. */
  env: Map<string, string>;
}

/**
 * A full derivation: a {@linkcode BasicDerivation} plus the derivations it
 * depends on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Derivation } from "./derivation.ts";
 * const drv: Derivation = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [],
 *   inputDrvs: new Map([["/nix/store/ffffffffffffffffffffffffffffffff-y.drv", ["out"]]]),
 *   platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * };
 * assert.equal(drv.inputDrvs.size, 1);
 * ```
 */
export interface Derivation extends BasicDerivation {
  /** `.drv` path to the sorted, unique output names it needs. */
  inputDrvs: Map<string, string[]>;
}

/**
 * The kind of a whole derivation, from its outputs (Nix 2.8's
 * `DerivationType`): all outputs must be of one kind; a fixed-output
 * derivation has exactly one output, `out`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationKind } from "./derivation.ts";
 * const k: DerivationKind = "fixed";
 * assert.equal(k, "fixed");
 * ```
 */
export type DerivationKind = "inputAddressed" | "deferred" | "fixed" | "floating" | "impure";

/**
 * Classify a derivation as Nix 2.8's `BasicDerivation::type()` does.
 *
 * @param drv The derivation.
 * @returns Its kind.
 * @throws {DerivationError} When it has no outputs, mixes output kinds, has
 *   more than one fixed output or one not named `out`, or floating outputs
 *   with different hash algorithms.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationKind } from "./derivation.ts";
 * const base = { name: "x", inputSrcs: [], platform: "p", builder: "b", args: [], env: new Map() };
 * assert.equal(derivationKind({ ...base, outputs: new Map([["out", { kind: "deferred" }]]) }), "deferred");
 * assert.throws(() => derivationKind({ ...base, outputs: new Map() }), /no outputs/);
 * ```
 */
export function derivationKind(drv: BasicDerivation): DerivationKind {
  const fail = (detail: string): never => {
    throw new DerivationError(`Cannot classify derivation "${drv.name}": ${detail}`);
  };
  const kinds = new Set<DerivationKind>();
  let floatingAlgo: HashAlgorithm | undefined;
  for (const o of drv.outputs.values()) {
    kinds.add(o.kind);
    if (o.kind === "floating") {
      if (floatingAlgo !== undefined && floatingAlgo !== o.hashAlgo) {
        fail("all floating outputs must use the same hash algorithm");
      }
      floatingAlgo = o.hashAlgo;
    }
  }
  if (kinds.size === 0) fail("it has no outputs");
  if (kinds.size > 1) {
    fail(
      `it mixes output kinds (${[...drv.outputs].map(([n, o]) => `"${n}" ${o.kind}`).join(", ")})`,
    );
  }
  const kind = [...kinds][0]!;
  if (kind === "fixed") {
    if (drv.outputs.size > 1) {
      fail(`only one fixed output is allowed, it has ${drv.outputs.size}`);
    }
    const [name] = drv.outputs.keys();
    if (name !== "out") fail(`its single fixed output must be named "out", not "${name}"`);
  }
  return kind;
}

/**
 * The `<r:>algo` text of a content-addressed output's hash algorithm, as in
 * the ATerm and JSON (`r:sha256` for recursive, `sha256` for flat).
 *
 * @param method flat or recursive.
 * @param algorithm The hash algorithm.
 * @returns The text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { methodAlgo } from "./derivation.ts";
 * assert.equal(methodAlgo("recursive", "sha256"), "r:sha256");
 * assert.equal(methodAlgo("flat", "sha1"), "sha1");
 * ```
 */
export function methodAlgo(method: FileIngestionMethod, algorithm: HashAlgorithm): string {
  return (method === "recursive" ? "r:" : "") + algorithm;
}

/**
 * The path of a fixed output, computed from its hash as Nix 2.8 always does
 * (`makeFixedOutputPath` of the output's name).
 *
 * @param drvName The derivation's name.
 * @param outputName The output's name (`out`).
 * @param output The fixed output.
 * @param storeDir The store directory.
 * @returns The full store path.
 * @throws {DerivationError} When the name is not a valid store path name.
 *
 * @example `fetchurl`-style: the path depends only on name and hash
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { fixedOutputPath } from "./derivation.ts";
 * const hash = Hash.of("sha256", "");
 * const o = { kind: "fixed" as const, path: "", method: "flat" as const, hash };
 * assert.equal(fixedOutputPath("f", "out", o), "/nix/store/i8yf3p9li8bd9rwjsr5nkg63lxs367am-f");
 * ```
 */
export function fixedOutputPath(
  drvName: string,
  outputName: string,
  output: { method: FileIngestionMethod; hash: Hash },
  storeDir: string = DEFAULT_STORE_DIR,
): string {
  try {
    return makeFixedOutputPath(
      outputPathName(drvName, outputName),
      output.method,
      output.hash,
      [],
      false,
      storeDir,
    ).toString(storeDir);
  } catch (e) {
    if (!(e instanceof StorePathError)) throw e;
    throw new DerivationError(
      `Cannot compute the path of fixed output "${outputName}" of "${drvName}": ${e.detail}`,
    );
  }
}

/**
 * The path of an output as Nix 2.8 knows it before building (its
 * `DerivationOutput::path`): the written path of an input-addressed output,
 * the computed path of a fixed output, none for the others.
 *
 * @param drvName The derivation's name.
 * @param outputName The output's name.
 * @param output The output.
 * @param storeDir The store directory.
 * @returns The full store path, or undefined.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputPath } from "./derivation.ts";
 * assert.equal(outputPath("x", "out", { kind: "deferred" }), undefined);
 * ```
 */
export function outputPath(
  drvName: string,
  outputName: string,
  output: DerivationOutput,
  storeDir: string = DEFAULT_STORE_DIR,
): string | undefined {
  switch (output.kind) {
    case "inputAddressed":
      return output.path;
    case "fixed":
      return fixedOutputPath(drvName, outputName, output, storeDir);
    default:
      return undefined;
  }
}

/**
 * The name of a derivation from its `.drv` path: the store path's name
 * without `.drv`.
 *
 * @param drvPath A full store path or a base name (`<hash>-<name>.drv`).
 * @returns The name.
 * @throws {DerivationError} When it is no store path ending in `.drv`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationNameFromPath } from "./derivation.ts";
 * assert.equal(derivationNameFromPath("/nix/store/ffffffffffffffffffffffffffffffff-hello-2.12.drv"), "hello-2.12");
 * assert.throws(() => derivationNameFromPath("/nix/store/ffffffffffffffffffffffffffffffff-hello"), /\.drv/);
 * ```
 */
export function derivationNameFromPath(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  let name: string;
  try {
    name = StorePath.fromBaseName(base).name;
  } catch (e) {
    if (!(e instanceof StorePathError)) throw e;
    throw new DerivationError(`Cannot use "${drvPath}" as a derivation path: ${e.detail}`);
  }
  if (!name.endsWith(".drv") || name.length === 4) {
    throw new DerivationError(
      `Cannot use "${drvPath}" as a derivation path: its name does not end in ".drv"`,
    );
  }
  return name.slice(0, -4);
}
