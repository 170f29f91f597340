/**
 * The `.drv` file format: one ATerm,
 *
 * ```
 * Derive([outputs],[inputDrvs],[inputSrcs],"platform","builder",[args],[env])
 * outputs   = ("name","path","hashAlgo","hash"),...       sorted by name
 * inputDrvs = ("/nix/store/...drv",["out",...]),...        sorted by path
 * inputSrcs = "/nix/store/...",...                         sorted
 * env       = ("key","value"),...                          sorted by key
 * ```
 *
 * Strings are in double quotes; `"`, `\`, newline, carriage return and tab
 * are written `\"`, `\\`, `\n`, `\r`, `\t`, every other character as itself.
 * When reading, a backslash followed by any other character stands for that
 * character.
 *
 * @module
 */
import { DEFAULT_STORE_DIR, StorePath, StorePathError } from "../store_path/store_path.ts";
import {
  type BasicDerivation,
  type Derivation,
  DerivationError,
  outputFields,
  outputFromFields,
} from "./derivation.ts";

/**
 * Options of {@linkcode printDerivation}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { PrintOptions } from "./aterm.ts";
 * const o: PrintOptions = { maskOutputs: true };
 * assert.ok(o.maskOutputs);
 * ```
 */
export interface PrintOptions {
  /** Blank output paths and their env variables (for output path hashing). */
  maskOutputs?: boolean;
  /** Print these input derivations instead of the derivation's own. */
  inputDrvs?: Map<string, string[]>;
}

function quote(s: string): string {
  let out = '"';
  for (const c of s) {
    switch (c) {
      case '"':
        out += '\\"';
        break;
      case "\\":
        out += "\\\\";
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
        out += c;
    }
  }
  return out + '"';
}

const list = (items: string[]) => `[${items.join(",")}]`;

function byKey<V>(m: Map<string, V>): [string, V][] {
  return [...m].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/**
 * Print a derivation as Nix writes its `.drv` file.
 *
 * @param drv The derivation.
 * @param options Masking and input replacement, for hashing.
 * @returns The ATerm text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { printDerivation } from "./aterm.ts";
 * const text = printDerivation({
 *   name: "x", outputs: new Map([["out", { kind: "deferred" }]]), inputSrcs: [], inputDrvs: new Map(),
 *   platform: "x86_64-linux", builder: "/bin/sh", args: ["-c", "echo \"hi\""], env: new Map(),
 * });
 * assert.equal(text, 'Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\""],[])');
 * ```
 */
export function printDerivation(
  drv: BasicDerivation & { inputDrvs?: Map<string, string[]> },
  options: PrintOptions = {},
): string {
  const mask = options.maskOutputs === true;
  const outputs = byKey(drv.outputs).map(([name, o]) => {
    const [path, algo, hash] = outputFields(o);
    return `(${[name, mask ? "" : path, algo, hash].map(quote).join(",")})`;
  });
  const inputDrvs = byKey(options.inputDrvs ?? drv.inputDrvs ?? new Map()).map(
    ([path, outs]) => `(${quote(path)},${list([...outs].sort().map(quote))})`,
  );
  const env = byKey(drv.env).map(([k, v]) =>
    `(${quote(k)},${quote(mask && drv.outputs.has(k) ? "" : v)})`
  );
  return `Derive(${list(outputs)},${list(inputDrvs)},${
    list([...drv.inputSrcs].sort().map(quote))
  },${quote(drv.platform)},${quote(drv.builder)},${list(drv.args.map(quote))},${list(env)})`;
}

/** A recursive-descent reader over the ATerm text with offsets for errors. */
class AtermReader {
  pos = 0;
  constructor(readonly text: string, readonly file: string, readonly storeDir: string) {}

  fail(detail: string, at = this.pos): never {
    throw new DerivationError(
      `Cannot parse derivation "${this.file}" at offset ${at}: ${detail}`,
    );
  }

  expect(lit: string, what = `"${lit}"`): void {
    if (!this.text.startsWith(lit, this.pos)) {
      this.fail(
        this.pos >= this.text.length
          ? `the text ended where ${what} was expected`
          : `expected ${what}, found ${JSON.stringify(this.text.slice(this.pos, this.pos + 12))}`,
      );
    }
    this.pos += lit.length;
  }

  peek(c: string): boolean {
    return this.text[this.pos] === c;
  }

  string(field: string): string {
    this.expect('"', `the string ${field}`);
    let out = "";
    const start = this.pos;
    const t = this.text;
    while (true) {
      const q = t.indexOf('"', this.pos);
      const b = t.indexOf("\\", this.pos);
      if (q < 0) this.fail(`the string ${field} is not closed`, start - 1);
      if (b >= 0 && b < q) {
        out += t.slice(this.pos, b);
        if (b + 1 >= t.length) this.fail(`the string ${field} ends in a backslash`, b);
        const c = t[b + 1]!;
        out += c === "n" ? "\n" : c === "r" ? "\r" : c === "t" ? "\t" : c;
        this.pos = b + 2;
        continue;
      }
      out += t.slice(this.pos, q);
      this.pos = q + 1;
      return out;
    }
  }

  storePath(field: string): string {
    const at = this.pos;
    const s = this.string(field);
    try {
      StorePath.parse(s, this.storeDir);
    } catch (e) {
      if (e instanceof StorePathError) this.fail(`${field}: ${e.message}`, at);
      throw e;
    }
    return s;
  }

  /** `[item,item,...]` */
  list<T>(item: (i: number) => T): T[] {
    this.expect("[");
    const out: T[] = [];
    if (this.peek("]")) {
      this.pos++;
      return out;
    }
    while (true) {
      out.push(item(out.length));
      if (this.peek(",")) {
        this.pos++;
        continue;
      }
      this.expect("]", `"," or "]"`);
      return out;
    }
  }
}

/**
 * Parse a `.drv` file's text.
 *
 * @param text The ATerm.
 * @param name The derivation's name (from its path).
 * @param file What to call it in error messages (its path).
 * @param storeDir The store directory its paths must be in.
 * @returns The derivation.
 * @throws {DerivationError} Naming the offset and field on malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDerivation } from "./aterm.ts";
 * const d = parseDerivation('Derive([("out","","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\""],[])', "x");
 * assert.equal(d.args[1], 'echo "hi"');
 * ```
 */
export function parseDerivation(
  text: string,
  name: string,
  file = `${name}.drv`,
  storeDir: string = DEFAULT_STORE_DIR,
): Derivation {
  const r = new AtermReader(text, file, storeDir);
  r.expect("Derive(", '"Derive("');
  const outputs = new Map<string, ReturnType<typeof outputFromFields>>();
  r.list(() => {
    r.expect("(");
    const at = r.pos;
    const oname = r.string("output name");
    r.expect(",");
    const path = r.peek('"') && r.text[r.pos + 1] === '"'
      ? r.string("output path")
      : r.storePath(`output "${oname}" path`);
    r.expect(",");
    const algo = r.string(`output "${oname}" hash algorithm`);
    r.expect(",");
    const hash = r.string(`output "${oname}" hash`);
    r.expect(")");
    if (outputs.has(oname)) r.fail(`output "${oname}" appears twice`, at);
    try {
      outputs.set(oname, outputFromFields(oname, path, algo, hash));
    } catch (e) {
      if (e instanceof DerivationError) r.fail(e.message, at);
      throw e;
    }
  });
  r.expect(",");
  const inputDrvs = new Map<string, string[]>();
  r.list(() => {
    r.expect("(");
    const at = r.pos;
    const p = r.storePath("input derivation path");
    r.expect(",");
    const outs = r.list(() => r.string(`output name of input "${p}"`));
    r.expect(")");
    if (inputDrvs.has(p)) r.fail(`input derivation "${p}" appears twice`, at);
    inputDrvs.set(p, outs);
  });
  r.expect(",");
  const inputSrcs = r.list(() => r.storePath("input source"));
  r.expect(",");
  const platform = r.string("platform");
  r.expect(",");
  const builder = r.string("builder");
  r.expect(",");
  const args = r.list((i) => r.string(`args[${i}]`));
  r.expect(",");
  const env = new Map<string, string>();
  r.list(() => {
    r.expect("(");
    const at = r.pos;
    const k = r.string("env key");
    r.expect(",");
    const v = r.string(`env value of "${k}"`);
    r.expect(")");
    if (env.has(k)) r.fail(`env key "${k}" appears twice`, at);
    env.set(k, v);
  });
  r.expect(")");
  if (r.pos !== text.length) r.fail("there is text after the derivation");
  return { name, outputs, inputDrvs, inputSrcs, platform, builder, args, env };
}
