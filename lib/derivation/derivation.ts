/**
 * Derivations as Nix 2.8 stores them (`.drv` files) and sends them
 * (`BasicDerivation` in the serve protocol's BuildDerivation).
 *
 * A `BasicDerivation` is what a builder needs: outputs, input sources (store
 * paths that must exist, including outputs of other derivations once
 * built), platform, builder, arguments and environment. A `Derivation` adds
 * `inputDrvs`: the derivations whose outputs it needs.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/**
 * An output of a derivation, as written in the ATerm's output tuple.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationOutput } from "./derivation.ts";
 * const o: DerivationOutput = { kind: "deferred" };
 * assert.equal(o.kind, "deferred");
 * ```
 */
export type DerivationOutput =
  /** Input-addressed: the path follows from the derivation. */
  | { kind: "inputAddressed"; path: string }
  /** Fixed-output: the content hash is known in advance. */
  | {
    kind: "fixed";
    path: string;
    method: "flat" | "recursive";
    /** md5, sha1, sha256 or sha512. */
    hashAlgo: string;
    /** The expected hash in base16. */
    hash: string;
  }
  /** Content-addressed, path known only after the build (`("out","","r:sha256","")`). */
  | { kind: "floating"; method: "flat" | "recursive"; hashAlgo: string }
  /** Input-addressed but not yet computable (`("out","","","")`). */
  | { kind: "deferred" };

/**
 * The derivation proper, without its input derivations.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { BasicDerivation } from "./derivation.ts";
 * const d: BasicDerivation = { name: "x", outputs: new Map(), inputSrcs: [], platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map() };
 * assert.equal(d.name, "x");
 * ```
 */
export interface BasicDerivation {
  /** The name (the `.drv` file's name without `.drv`). */
  name: string;
  /** Output name to output, sorted by name. */
  outputs: Map<string, DerivationOutput>;
  /** Store paths the build needs, sorted. */
  inputSrcs: string[];
  /** e.g. `x86_64-linux`. */
  platform: string;
  /** The program to run. */
  builder: string;
  /** Its arguments. */
  args: string[];
  /** Environment, sorted by key. */
  env: Map<string, string>;
}

/**
 * A full derivation: a BasicDerivation plus the derivations it depends on.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Derivation } from "./derivation.ts";
 * const d: Derivation = { name: "x", outputs: new Map(), inputDrvs: new Map(), inputSrcs: [], platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map() };
 * assert.equal(d.inputDrvs.size, 0);
 * ```
 */
export interface Derivation extends BasicDerivation {
  /** `.drv` path to the sorted output names it needs. */
  inputDrvs: Map<string, string[]>;
}

/**
 * A derivation that cannot be parsed or is inconsistent.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDerivation } from "./aterm.ts";
 * import { DerivationError } from "./derivation.ts";
 * assert.throws(() => parseDerivation("Derive(", "x"), DerivationError);
 * ```
 */
export class DerivationError extends BuildhostError {
  override name = "DerivationError";
}

/**
 * The ATerm tuple fields of an output: path, hashAlgo (with `r:`), hash.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputFields } from "./derivation.ts";
 * assert.deepEqual(outputFields({ kind: "floating", method: "recursive", hashAlgo: "sha256" }), ["", "r:sha256", ""]);
 * ```
 */
export function outputFields(o: DerivationOutput): [string, string, string] {
  switch (o.kind) {
    case "inputAddressed":
      return [o.path, "", ""];
    case "fixed":
      return [o.path, (o.method === "recursive" ? "r:" : "") + o.hashAlgo, o.hash];
    case "floating":
      return ["", (o.method === "recursive" ? "r:" : "") + o.hashAlgo, ""];
    case "deferred":
      return ["", "", ""];
  }
}

/**
 * The output from its ATerm fields.
 *
 * @param name The output's name, for errors.
 * @param path The path ("" if not known).
 * @param hashAlgo "" or the algorithm, `r:` first for recursive hashing.
 * @param hash "" or the base16 hash.
 * @returns The output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputFromFields } from "./derivation.ts";
 * assert.equal(outputFromFields("out", "", "", "").kind, "deferred");
 * ```
 */
export function outputFromFields(
  name: string,
  path: string,
  hashAlgo: string,
  hash: string,
): DerivationOutput {
  if (hashAlgo === "") {
    if (hash !== "") {
      throw new DerivationError(`Cannot read output "${name}": a hash without an algorithm`);
    }
    return path === "" ? { kind: "deferred" } : { kind: "inputAddressed", path };
  }
  const method = hashAlgo.startsWith("r:") ? "recursive" : "flat";
  const algo = method === "recursive" ? hashAlgo.slice(2) : hashAlgo;
  if (!["md5", "sha1", "sha256", "sha512"].includes(algo)) {
    throw new DerivationError(`Cannot read output "${name}": unknown hash algorithm "${hashAlgo}"`);
  }
  if (hash === "") {
    if (path !== "") {
      throw new DerivationError(
        `Cannot read output "${name}": a content-addressed output with a path but no hash`,
      );
    }
    return { kind: "floating", method, hashAlgo: algo };
  }
  return { kind: "fixed", path, method, hashAlgo: algo, hash };
}

/**
 * The name of a derivation from its `.drv` path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationNameFromPath } from "./derivation.ts";
 * assert.equal(derivationNameFromPath("/nix/store/ffffffffffffffffffffffffffffffff-hello-1.0.drv"), "hello-1.0");
 * ```
 */
export function derivationNameFromPath(drvPath: string): string {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  const dash = base.indexOf("-");
  const name = base.slice(dash + 1);
  if (!name.endsWith(".drv")) {
    throw new DerivationError(
      `Cannot use "${drvPath}" as a derivation path: it does not end in .drv`,
    );
  }
  return name.slice(0, -4);
}

/**
 * True when the derivation has exactly one output, `out`, that is fixed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFixedOutput } from "./derivation.ts";
 * assert.equal(isFixedOutput({ name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [], platform: "", builder: "", args: [], env: new Map() }), false);
 * ```
 */
export function isFixedOutput(drv: BasicDerivation): boolean {
  return drv.outputs.size === 1 && drv.outputs.get("out")?.kind === "fixed";
}
