/**
 * Print a derivation as Nix 2.8 writes its `.drv` file (`Derivation::unparse`).
 * See `aterm.ts` for the grammar.
 *
 * Only the builder, the arguments and the environment keys and values are
 * escaped (`"` `\` newline, carriage return, tab as `\"` `\\` `\n` `\r`
 * `\t`). Nix writes every other field between quotes as it is: output
 * names, paths, hash algorithms, hashes, input derivations and their output
 * names, input sources, and the platform. A platform holding `"` or `\`
 * thus gives a `.drv` that does not read back (in Nix either); it is printed
 * the same way here, so the `.drv` path still agrees with Nix's.
 *
 * @module
 */
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { encodeNixString, sortByNixKey, sortNixStrings } from "./nix_string.ts";
import type { BasicDerivation } from "./derivation.ts";
import { outputTriple } from "./output_triple.ts";

/**
 * Options of {@linkcode printDerivation}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PrintDerivationOptions } from "./aterm_writer.ts";
 * const o: PrintDerivationOptions = { maskOutputs: true };
 * assert.ok(o.maskOutputs);
 * ```
 */
export interface PrintDerivationOptions {
  /**
   * Blank the output paths and the environment variables named after
   * outputs (for hashing a derivation to compute its own output paths).
   */
  maskOutputs?: boolean;
  /**
   * Print these input derivations instead of the derivation's own (for
   * hashing: each input's hash modulo in base16 to its output names).
   */
  inputDrvs?: ReadonlyMap<string, Iterable<string>>;
  /** The store directory, for computing fixed output paths. */
  storeDir?: string;
}

const ESCAPES: Record<string, string> = {
  '"': '\\"',
  "\\": "\\\\",
  "\n": "\\n",
  "\r": "\\r",
  "\t": "\\t",
};

/** A string between quotes, escaped. */
function quote(s: string): string {
  return `"${s.replace(/["\\\n\r\t]/g, (c) => ESCAPES[c]!)}"`;
}

/** A string between quotes as it is (Nix's `printUnquotedString`). */
function raw(s: string): string {
  return `"${s}"`;
}

/**
 * Print a derivation as Nix writes its `.drv` file. Outputs, input
 * derivations and their output names, input sources and environment are
 * sorted (byte-wise, as Nix's maps and sets) and duplicates dropped; fixed
 * output paths are computed from their hash, as Nix does.
 *
 * @param drv The derivation (without `inputDrvs`, a {@linkcode BasicDerivation}, prints none).
 * @param options Masking and input replacement, for hashing.
 * @returns The ATerm text (use {@linkcode encodeDerivation} for its bytes).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printDerivation } from "./aterm_writer.ts";
 * const text = printDerivation({
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [], inputDrvs: new Map(),
 *   platform: "x86_64-linux", builder: "/bin/sh", args: ["-c", 'echo "hi"'], env: new Map([["out", ""]]),
 * });
 * assert.equal(text, 'Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\""],[("out","")])');
 * ```
 */
export function printDerivation(
  drv: BasicDerivation & { inputDrvs?: ReadonlyMap<string, Iterable<string>> },
  options: PrintDerivationOptions = {},
): string {
  const mask = options.maskOutputs === true;
  const storeDir = options.storeDir ?? DEFAULT_STORE_DIR;
  const outputs = sortByNixKey(drv.outputs).map(([name, o]) =>
    `(${raw(name)},${outputTriple(drv.name, name, o, storeDir, mask).map(raw).join(",")})`
  );
  const inputDrvs = sortByNixKey(options.inputDrvs ?? drv.inputDrvs ?? new Map()).map(
    ([path, outs]) => `(${raw(path)},[${sortNixStrings(outs).map(raw).join(",")}])`,
  );
  const env = sortByNixKey(drv.env).map(([k, v]) =>
    `(${quote(k)},${quote(mask && drv.outputs.has(k) ? "" : v)})`
  );
  return `Derive([${outputs.join(",")}],[${inputDrvs.join(",")}],[${
    sortNixStrings(drv.inputSrcs).map(raw).join(",")
  }],${raw(drv.platform)},${quote(drv.builder)},[${drv.args.map(quote).join(",")}],[${
    env.join(",")
  }])`;
}

/**
 * The bytes of {@linkcode printDerivation}: UTF-8, with any raw bytes the
 * strings hold (U+DC80..U+DCFF, see `parseDerivation`) written as
 * those bytes. These are the bytes Nix hashes and stores.
 *
 * @param drv The derivation.
 * @param options Masking and input replacement, for hashing.
 * @returns The `.drv` file's bytes.
 * @throws {DerivationError} When a string holds a lone surrogate that stands for no byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { encodeDerivation } from "./aterm_writer.ts";
 * const bytes = encodeDerivation({
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [], inputDrvs: new Map(),
 *   platform: "x86_64-linux", builder: "/bin/sh", args: [], env: new Map([["k", "ü\udcff"]]),
 * });
 * // ...,("k","ü\xff")])
 * assert.deepEqual(bytes.slice(-8), new Uint8Array([0x22, 0xc3, 0xbc, 0xff, 0x22, 0x29, 0x5d, 0x29]));
 * ```
 */
export function encodeDerivation(
  drv: BasicDerivation & { inputDrvs?: ReadonlyMap<string, Iterable<string>> },
  options: PrintDerivationOptions = {},
): Uint8Array {
  return encodeNixString(printDerivation(drv, options));
}
