/**
 * The JSON of Nix 2.8's `nix show-derivation`: an object keyed by the
 * `.drv` path, each value with `outputs` (`path`, and `hashAlgo` + `hash`
 * for content-addressed outputs), `inputSrcs`, `inputDrvs`, `system`,
 * `builder`, `args` and `env`.
 *
 * @module
 */
import type { Derivation } from "./derivation.ts";
import { outputFields } from "./derivation.ts";

/**
 * The JSON value of one derivation.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationJson } from "./derivation_json.ts";
 * const j: DerivationJson = { outputs: {}, inputSrcs: [], inputDrvs: {}, system: "x86_64-linux", builder: "/bin/sh", args: [], env: {} };
 * assert.equal(j.system, "x86_64-linux");
 * ```
 */
export interface DerivationJson {
  outputs: Record<string, { path?: string; hashAlgo?: string; hash?: string }>;
  inputSrcs: string[];
  inputDrvs: Record<string, string[]>;
  system: string;
  builder: string;
  args: string[];
  env: Record<string, string>;
}

/**
 * A derivation as `nix show-derivation` shows it.
 *
 * @param drv The derivation.
 * @returns The JSON value (without the path key).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationToJson } from "./derivation_json.ts";
 * const j = derivationToJson({
 *   name: "x", outputs: new Map([["out", { kind: "inputAddressed" as const, path: "/nix/store/ffffffffffffffffffffffffffffffff-x" }]]),
 *   inputSrcs: [], inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map(),
 * });
 * assert.deepEqual(j.outputs, { out: { path: "/nix/store/ffffffffffffffffffffffffffffffff-x" } });
 * ```
 */
export function derivationToJson(drv: Derivation): DerivationJson {
  const outputs: DerivationJson["outputs"] = {};
  for (const [name, o] of [...drv.outputs].sort(([a], [b]) => (a < b ? -1 : 1))) {
    const [path, hashAlgo, hash] = outputFields(o);
    const v: { path?: string; hashAlgo?: string; hash?: string } = {};
    if (path !== "") v.path = path;
    if (hashAlgo !== "") v.hashAlgo = hashAlgo;
    if (hash !== "") v.hash = hash;
    outputs[name] = v;
  }
  return {
    outputs,
    inputSrcs: [...drv.inputSrcs].sort(),
    inputDrvs: Object.fromEntries(
      [...drv.inputDrvs].sort(([a], [b]) => (a < b ? -1 : 1)).map(([p, o]) => [p, [...o].sort()]),
    ),
    system: drv.platform,
    builder: drv.builder,
    args: drv.args,
    env: Object.fromEntries([...drv.env].sort(([a], [b]) => (a < b ? -1 : 1))),
  };
}
