/**
 * The JSON of Nix 2.8's `nix show-derivation`: an object keyed by `.drv`
 * path, each value with, in this order,
 *
 * - `outputs`: name to `{}` (deferred), `{"path"}` (input-addressed),
 *   `{"path","hashAlgo","hash"}` (fixed; the path computed from the hash,
 *   `hashAlgo` with `r:` when recursive, `hash` in base16),
 *   `{"hashAlgo"}` (floating) or `{"hashAlgo","impure":true}` (impure);
 * - `inputSrcs` (list), `inputDrvs` (path to list of output names),
 *   `system`, `builder`, `args` (list), `env` (object).
 *
 * {@linkcode showDerivationJson} writes the very bytes Nix does: two-space
 * indentation, `": "`, `[]`/`{}` when empty, keys sorted byte-wise, strings
 * escaped as Nix's `toJSON` (`\"` `\\` `\n` `\r` `\t`, other bytes below
 * 0x20 as `\u00XX`, everything else raw, non-UTF-8 bytes included), and a
 * final newline.
 *
 * @module
 */
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { sortByNixKey, sortNixStrings } from "./nix_string.ts";
import type { Derivation, DerivationOutput } from "./derivation.ts";
import { outputTriple } from "./output_triple.ts";

/**
 * One output in the JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationOutputJson } from "./derivation_json.ts";
 * const o: DerivationOutputJson = { hashAlgo: "r:sha256", impure: true };
 * assert.equal(o.impure, true);
 * ```
 */
export interface DerivationOutputJson {
  /** Input-addressed and fixed outputs. */
  path?: string;
  /** Content-addressed outputs: `[r:]algo`. */
  hashAlgo?: string;
  /** Fixed outputs: base16. */
  hash?: string;
  /** Impure outputs. */
  impure?: true;
}

/**
 * One derivation in the JSON (the value under its path).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DerivationJson } from "./derivation_json.ts";
 * const j: DerivationJson = {
 *   outputs: { out: {} }, inputSrcs: [], inputDrvs: {}, system: "x86_64-linux",
 *   builder: "/bin/sh", args: [], env: {},
 * };
 * assert.deepEqual(j.outputs.out, {});
 * ```
 */
export interface DerivationJson {
  /** Output name to output. */
  outputs: Record<string, DerivationOutputJson>;
  /** Input sources. */
  inputSrcs: string[];
  /** Input derivation to output names. */
  inputDrvs: Record<string, string[]>;
  /** The platform. */
  system: string;
  /** The builder. */
  builder: string;
  /** Its arguments. */
  args: string[];
  /** The environment. */
  env: Record<string, string>;
}

/** The output's triple with its empty fields left out, `hash` "impure" as `impure: true`. */
function outputJson(
  drv: Derivation,
  name: string,
  o: DerivationOutput,
  storeDir: string,
): DerivationOutputJson {
  const [path, hashAlgo, hash] = outputTriple(drv.name, name, o, storeDir);
  const json: DerivationOutputJson = {};
  if (path !== "") json.path = path;
  if (hashAlgo !== "") json.hashAlgo = hashAlgo;
  if (hash === "impure") json.impure = true;
  else if (hash !== "") json.hash = hash;
  return json;
}

/**
 * A derivation as `nix show-derivation` shows it, as a value (equal to
 * `JSON.parse` of Nix's output under the derivation's path).
 *
 * @param drv The derivation.
 * @param storeDir The store directory (for fixed output paths).
 * @returns The JSON value.
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
export function derivationToJson(
  drv: Derivation,
  storeDir: string = DEFAULT_STORE_DIR,
): DerivationJson {
  return {
    outputs: Object.fromEntries(
      sortByNixKey(drv.outputs).map(([n, o]) => [n, outputJson(drv, n, o, storeDir)]),
    ),
    inputSrcs: sortNixStrings(drv.inputSrcs),
    inputDrvs: Object.fromEntries(
      sortByNixKey(drv.inputDrvs).map(([p, outs]) => [p, sortNixStrings(outs)]),
    ),
    system: drv.platform,
    builder: drv.builder,
    args: [...drv.args],
    env: Object.fromEntries(sortByNixKey(drv.env)),
  };
}

/** A JSON value in the order it is written: objects as entry lists. */
type Json = string | boolean | Json[] | { entries: [string, Json][] };

// deno-lint-ignore no-control-regex
const JSON_ESCAPED = /["\\\x00-\x1f]/g;

/** A string as Nix's `toJSON` writes it. */
function jsonString(s: string): string {
  return `"${
    s.replace(JSON_ESCAPED, (c) => {
      switch (c) {
        case '"':
          return '\\"';
        case "\\":
          return "\\\\";
        case "\n":
          return "\\n";
        case "\r":
          return "\\r";
        case "\t":
          return "\\t";
        default:
          return `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
      }
    })
  }"`;
}

/** Write `v` as Nix's indenting JSON writer does, at nesting `depth`. */
function writeJson(v: Json, depth: number): string {
  if (typeof v === "string") return jsonString(v);
  if (typeof v === "boolean") return v ? "true" : "false";
  const inner = "\n" + "  ".repeat(depth + 1);
  const close = "\n" + "  ".repeat(depth);
  if (Array.isArray(v)) {
    if (v.length === 0) return "[]";
    return `[${v.map((x) => inner + writeJson(x, depth + 1)).join(",")}${close}]`;
  }
  if (v.entries.length === 0) return "{}";
  return `{${
    v.entries.map(([k, x]) => `${inner}${jsonString(k)}: ${writeJson(x, depth + 1)}`).join(",")
  }${close}}`;
}

function derivationEntries(drv: Derivation, storeDir: string): Json {
  const outputs: [string, Json][] = sortByNixKey(drv.outputs).map(([n, o]) => {
    const j = outputJson(drv, n, o, storeDir);
    const e: [string, Json][] = [];
    if (j.path !== undefined) e.push(["path", j.path]);
    if (j.hashAlgo !== undefined) e.push(["hashAlgo", j.hashAlgo]);
    if (j.hash !== undefined) e.push(["hash", j.hash]);
    if (j.impure) e.push(["impure", true]);
    return [n, { entries: e }];
  });
  return {
    entries: [
      ["outputs", { entries: outputs }],
      ["inputSrcs", sortNixStrings(drv.inputSrcs)],
      ["inputDrvs", {
        entries: sortByNixKey(drv.inputDrvs).map(([p, outs]) => [p, sortNixStrings(outs)]),
      }],
      ["system", drv.platform],
      ["builder", drv.builder],
      ["args", drv.args],
      ["env", { entries: sortByNixKey(drv.env) }],
    ],
  };
}

/**
 * The text `nix show-derivation` prints for these derivations, byte for
 * byte once encoded as `encodeDerivation` encodes strings (so raw bytes in
 * strings come out raw, as in Nix).
 *
 * @param drvs `.drv` path and derivation pairs (sorted and deduplicated by path here).
 * @param storeDir The store directory (for fixed output paths).
 * @returns The JSON text with its final newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { showDerivationJson } from "./derivation_json.ts";
 * const drv = {
 *   name: "x", outputs: new Map([["out", { kind: "deferred" as const }]]), inputSrcs: [],
 *   inputDrvs: new Map(), platform: "x86_64-linux", builder: "/bin/sh", args: [],
 *   env: new Map([["k", "a\u0001"]]),
 * };
 * const text = showDerivationJson([["/nix/store/ffffffffffffffffffffffffffffffff-x.drv", drv]]);
 * assert.ok(text.includes('\n    "outputs": {\n      "out": {}\n    },\n    "inputSrcs": [],\n'));
 * assert.ok(text.endsWith('"k": "a\\u0001"\n    }\n  }\n}\n'));
 * ```
 */
export function showDerivationJson(
  drvs: Iterable<[string, Derivation]>,
  storeDir: string = DEFAULT_STORE_DIR,
): string {
  const byPath = new Map(drvs);
  const root: Json = {
    entries: sortByNixKey(byPath).map(([p, d]) => [p, derivationEntries(d, storeDir)]),
  };
  return writeJson(root, 0) + "\n";
}
