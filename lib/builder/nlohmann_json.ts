/**
 * JSON as Nix 2.8 re-serialises it when it writes `.attrs.json`: parsed and
 * dumped by nlohmann::json (compact, object keys sorted by their bytes as a
 * `std::map` keeps them).
 *
 * The differences from `JSON.stringify` that matter:
 * - Numbers keep their kind: integers print as integers (any size Nix makes,
 *   64 bits), floating-point numbers as the shortest decimal that reads back
 *   the same, laid out by nlohmann's rules: fixed notation when the decimal
 *   point falls within 15 digits (an integral value gets `.0`, e.g. `2.0`,
 *   `1234570.0`), `0.000…digits` down to 1e-4, otherwise `d.ddde±XX` with
 *   at least two exponent digits (`1e+20`, `2.5e-05`).
 * - Strings escape `"`, `\`, `\b`, `\f`, `\n`, `\r`, `\t` and other control
 *   characters as `\u00xx` (lowercase hex); everything else, DEL and
 *   non-ASCII included, is written as is.
 *
 * @module
 */
import { compareUtf8 } from "../wire/utf8_order.ts";

/** A parsed JSON value; numbers keep their text and kind. */
export type NJson =
  | null
  | boolean
  | string
  | { kind: "int"; value: bigint }
  | { kind: "float"; value: number }
  | NJson[]
  | { kind: "object"; entries: Map<string, NJson> };

/**
 * Parse JSON text, keeping integers apart from floating-point numbers.
 *
 * @param text The JSON text.
 * @returns The value.
 * @throws {SyntaxError} The text is not JSON.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNJson } from "./nlohmann_json.ts";
 * assert.deepEqual(parseNJson("[1, 1.0]"), [{ kind: "int", value: 1n }, { kind: "float", value: 1 }]);
 * ```
 */
export function parseNJson(text: string): NJson {
  let i = 0;
  const ws = () => {
    while (i < text.length && " \t\n\r".includes(text[i]!)) i++;
  };
  const fail = (what: string): never => {
    throw new SyntaxError(`Cannot parse JSON at offset ${i}: ${what}`);
  };
  const value = (): NJson => {
    ws();
    const c = text[i];
    if (c === "{") {
      i++;
      const entries = new Map<string, NJson>();
      ws();
      if (text[i] === "}") {
        i++;
        return { kind: "object", entries };
      }
      for (;;) {
        ws();
        if (text[i] !== '"') fail("expected a key");
        const k = str();
        ws();
        if (text[i++] !== ":") fail("expected ':'");
        entries.set(k, value());
        ws();
        const d = text[i++];
        if (d === "}") return { kind: "object", entries };
        if (d !== ",") fail("expected ',' or '}'");
      }
    }
    if (c === "[") {
      i++;
      const items: NJson[] = [];
      ws();
      if (text[i] === "]") {
        i++;
        return items;
      }
      for (;;) {
        items.push(value());
        ws();
        const d = text[i++];
        if (d === "]") return items;
        if (d !== ",") fail("expected ',' or ']'");
      }
    }
    if (c === '"') return str();
    for (const [word, v] of [["true", true], ["false", false], ["null", null]] as const) {
      if (text.startsWith(word, i)) {
        i += word.length;
        return v;
      }
    }
    const m = /^-?(?:0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?/.exec(text.slice(i, i + 400));
    if (!m) return fail("unexpected character");
    i += m[0].length;
    if (m[1] === undefined && m[2] === undefined) {
      const n = BigInt(m[0]);
      // Beyond 64 bits nlohmann falls back to a double.
      if (n >= -(2n ** 63n) && n < 2n ** 64n) return { kind: "int", value: n };
    }
    return { kind: "float", value: Number(m[0]) };
  };
  const str = (): string => {
    i++; // opening quote
    let out = "";
    for (;;) {
      const c = text[i++];
      if (c === undefined) fail("unterminated string");
      if (c === '"') return out;
      if (c !== "\\") {
        out += c;
        continue;
      }
      const e = text[i++];
      const simple: Record<string, string> = {
        '"': '"',
        "\\": "\\",
        "/": "/",
        b: "\b",
        f: "\f",
        n: "\n",
        r: "\r",
        t: "\t",
      };
      if (e !== undefined && e in simple) out += simple[e];
      else if (e === "u") {
        const hex = text.slice(i, i + 4);
        if (!/^[0-9a-fA-F]{4}$/.test(hex)) fail("bad \\u escape");
        out += String.fromCharCode(parseInt(hex, 16));
        i += 4;
      } else fail("bad escape");
    }
  };
  const v = value();
  ws();
  if (i !== text.length) fail("trailing characters");
  return v;
}

function escapeString(s: string): string {
  let out = '"';
  for (const ch of s) {
    const code = ch.codePointAt(0)!;
    switch (ch) {
      case '"':
        out += '\\"';
        break;
      case "\\":
        out += "\\\\";
        break;
      case "\b":
        out += "\\b";
        break;
      case "\f":
        out += "\\f";
        break;
      case "\n":
        out += "\\n";
        break;
      case "\r":
        out += "\\r";
        break;
      case "\t":
        out += "\\t";
        break;
      default:
        out += code <= 0x1f ? "\\u" + code.toString(16).padStart(4, "0") : ch;
    }
  }
  return out + '"';
}

/**
 * A double as nlohmann::json dumps it.
 *
 * @param x The number.
 * @returns Its text (`null` for NaN and infinities).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatNJsonFloat } from "./nlohmann_json.ts";
 * assert.deepEqual([1, 1234567, 0.1, 1e-7, 1e15, 1e20, 2.5e-5, -0].map(formatNJsonFloat),
 *   ["1.0", "1234567.0", "0.1", "1e-07", "1e+15", "1e+20", "2.5e-05", "-0.0"]);
 * ```
 */
export function formatNJsonFloat(x: number): string {
  if (!Number.isFinite(x)) return "null";
  if (x === 0) return Object.is(x, -0) ? "-0.0" : "0.0";
  const sign = x < 0 ? "-" : "";
  // Shortest digits that read back as x, and the decimal exponent.
  const [mantissa, exp] = Math.abs(x).toExponential().split("e") as [string, string];
  const digits = mantissa.replace(".", "");
  const k = digits.length;
  const n = Number(exp) + 1; // position of the decimal point
  const maxExp = 15;
  const minExp = -4;
  if (k <= n && n <= maxExp) return sign + digits + "0".repeat(n - k) + ".0";
  if (0 < n && n <= maxExp) return sign + digits.slice(0, n) + "." + digits.slice(n);
  if (minExp < n && n <= 0) return sign + "0." + "0".repeat(-n) + digits;
  const e = n - 1;
  const eText = (e < 0 ? "-" : "+") + String(Math.abs(e)).padStart(2, "0");
  return sign + (k === 1 ? digits : digits[0] + "." + digits.slice(1)) + "e" + eText;
}

/**
 * Dump a value as nlohmann::json's `dump()` does (compact, sorted keys).
 *
 * @param v The value.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dumpNJson, parseNJson } from "./nlohmann_json.ts";
 * assert.equal(dumpNJson(parseNJson('{"b": 1.0, "a": "\\u0001é"}')), '{"a":"\\u0001é","b":1.0}');
 * ```
 */
export function dumpNJson(v: NJson): string {
  if (v === null) return "null";
  if (typeof v === "boolean") return v ? "true" : "false";
  if (typeof v === "string") return escapeString(v);
  if (Array.isArray(v)) return "[" + v.map(dumpNJson).join(",") + "]";
  if (v.kind === "int") return v.value.toString();
  if (v.kind === "float") return formatNJsonFloat(v.value);
  const keys = [...v.entries.keys()].sort(compareUtf8);
  return "{" + keys.map((k) => escapeString(k) + ":" + dumpNJson(v.entries.get(k)!)).join(",") +
    "}";
}
