/**
 * Structured attributes (`__structuredAttrs = true`) as Nix 2.8 hands them
 * to a builder: the derivation's `__json` environment variable, parsed,
 * with `outputs` replaced by an object from output name to output path,
 * written to `/build/.attrs.json` (see {@linkcode dumpNJson}) and rendered
 * as shell declarations in `/build/.attrs.sh`:
 *
 * - only top-level keys that are shell names (`[A-Za-z_][A-Za-z0-9_]*`);
 * - a "simple" value becomes `declare KEY=VALUE`: a string shell-quoted
 *   (`'...'`, each `'` written `'\''`), `null` as `''`, `true` as `1`,
 *   `false` as nothing, a number when it is integral after conversion to a
 *   C `float`, printed as a C `int` (so 64-bit integers wrap to 32 bits and
 *   1.5 is left out, as in Nix 2.8);
 * - an array of simple values becomes `declare -a KEY=(V1 V2 )`, an object
 *   of simple values `declare -A KEY=(['K1']=V1 ['K2']=V2 )`; anything else
 *   is left out.
 *
 * @module
 */
import { type NJson, parseNJson } from "./nlohmann_json.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";

/** A string as one word for bash (single quotes). */
function shellQuote(s: string): string {
  return "'" + s.replaceAll("'", "'\\''") + "'";
}

/**
 * The structured attributes of a derivation with its outputs set.
 *
 * @param json The derivation's `__json` value.
 * @param outputs Output name → path.
 * @returns The object to write.
 * @throws {SyntaxError} `__json` is not a JSON object.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { structuredAttrs } from "./structured_attrs.ts";
 * import { dumpNJson } from "./nlohmann_json.ts";
 * const v = structuredAttrs('{"outputs":["out"],"x":1}', new Map([["out", "/nix/store/a-x"]]));
 * assert.equal(dumpNJson(v), '{"outputs":{"out":"/nix/store/a-x"},"x":1}');
 * ```
 */
export function structuredAttrs(json: string, outputs: ReadonlyMap<string, string>): NJson {
  const v = parseNJson(json);
  if (v === null || typeof v !== "object" || Array.isArray(v) || v.kind !== "object") {
    throw new SyntaxError("Cannot use __json: it is not a JSON object");
  }
  v.entries.set("outputs", { kind: "object", entries: new Map(outputs) });
  return v;
}

/** A double converted to a C `int` as x86_64 does (`INT_MIN` when out of range). */
function cInt(x: number): number {
  if (!Number.isFinite(x) || x >= 2 ** 31 || x < -(2 ** 31)) return -(2 ** 31);
  return Math.trunc(x);
}

function simple(v: NJson): string | undefined {
  if (typeof v === "string") return shellQuote(v);
  if (v === null) return "''";
  if (typeof v === "boolean") return v ? "1" : "";
  if (typeof v === "object" && !Array.isArray(v)) {
    if (v.kind === "int") return String(BigInt.asIntN(32, v.value));
    if (v.kind === "float") {
      const f = Math.fround(v.value);
      if (Math.ceil(f) === f) return String(cInt(v.value));
    }
  }
  return undefined;
}

const SH_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/**
 * `.attrs.sh` for structured attributes.
 *
 * @param attrs The attributes (a JSON object).
 * @returns The shell text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { attrsShell } from "./structured_attrs.ts";
 * import { parseNJson } from "./nlohmann_json.ts";
 * assert.equal(attrsShell(parseNJson('{"a":"it\'s","b":[1,"x"],"c":{"k":true},"d-e":1,"f":1.5}')),
 *   "declare a='it'\\''s'\ndeclare -a b=(1 'x' )\ndeclare -A c=(['k']=1 )\n");
 * ```
 */
export function attrsShell(attrs: NJson): string {
  if (attrs === null || typeof attrs !== "object" || Array.isArray(attrs)) return "";
  if (attrs.kind !== "object") return "";
  let out = "";
  const keys = [...attrs.entries.keys()].sort(compareUtf8);
  for (const key of keys) {
    if (!SH_NAME.test(key)) continue;
    const value = attrs.entries.get(key)!;
    const s = simple(value);
    if (s !== undefined) {
      out += `declare ${key}=${s}\n`;
      continue;
    }
    if (Array.isArray(value)) {
      const items = value.map(simple);
      if (items.every((x) => x !== undefined)) {
        out += `declare -a ${key}=(${items.map((x) => x + " ").join("")})\n`;
      }
    } else if (typeof value === "object" && value !== null && value.kind === "object") {
      const ks = [...value.entries.keys()].sort(compareUtf8);
      const items = ks.map((k) => [k, simple(value.entries.get(k)!)] as const);
      if (items.every(([, x]) => x !== undefined)) {
        out += `declare -A ${key}=(${
          items.map(([k, x]) => `[${shellQuote(k)}]=${x} `).join("")
        })\n`;
      }
    }
  }
  return out;
}
