/**
 * Read a `.drv` file (see `aterm.ts` for the grammar) strictly: the syntax
 * must be exactly what Nix writes, or a {@linkcode DerivationError} names the
 * byte offset, the field and what was expected there.
 *
 * Where Nix 2.8's reader is looser, this one is stricter:
 * - Nix skips a stray `,` before a list item and accepts items without
 *   commas between them; here lists are `[` item (`,` item)* `]`.
 * - Nix reads `\x` as `x` for any `x`; here only the escapes Nix writes
 *   (`\"` `\\` `\n` `\r` `\t`) are accepted.
 * - Nix ignores bytes after the closing `)`; here they are an error.
 * - Nix lets a later duplicate win (first for outputs); here a duplicate
 *   output, input derivation, input source, output name or env key is an
 *   error (Nix never writes one).
 * - Nix only checks that a fixed output's path starts with `/`; here it
 *   must be a store path, and input derivations must end in `.drv`.
 * - A hash with an empty hash algorithm is an error (Nix ignores the hash).
 * - Nix writes output names, output fields, the output names of inputs and
 *   the platform as they are, without escapes (and reads `\x` in them as
 *   `x`); here a backslash there is an error, so that what is read prints
 *   back to what reads the same.
 * - A fixed output whose path cannot be computed (its name, with the
 *   derivation's, is no store path name) is an error.
 *
 * As in Nix, the order of outputs, inputs and env entries is not checked
 * (the result is sorted; printing it again gives Nix's order), and a fixed
 * output's hash may be written in base16, nix32 or base64.
 *
 * Strings are bytes in Nix. They are decoded as UTF-8; a byte that is not
 * part of valid UTF-8 becomes the lone surrogate U+DC80..U+DCFF, which
 * `encodeDerivation` writes back as that byte, so any `.drv` file
 * round-trips byte for byte.
 *
 * @module
 */
import {
  checkStorePathName,
  DEFAULT_STORE_DIR,
  StorePath,
  StorePathError,
} from "../store_path/store_path.ts";
import { outputPathName } from "../store_path/make_store_path.ts";
import { decodeNixString, encodeNixString, sortByNixKey, sortNixStrings } from "./nix_string.ts";
import { type Derivation, derivationNameFromPath, type DerivationOutput } from "./derivation.ts";
import { DerivationError } from "./derivation_error.ts";
import { outputFromTriple, type OutputTriple, type OutputTripleField } from "./output_triple.ts";

/**
 * Options of {@linkcode parseDerivation}.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { ParseDerivationOptions } from "./aterm_parser.ts";
 * const o: ParseDerivationOptions = { path: "/nix/store/ffffffffffffffffffffffffffffffff-x.drv" };
 * assert.ok(o.path);
 * ```
 */
export interface ParseDerivationOptions {
  /**
   * The `.drv` file's store path: gives the derivation's name and names the
   * file in error messages.
   */
  path?: string;
  /** The name, if no path is given (default: the env variable `name`). */
  name?: string;
  /** The store directory every path must be in (default `/nix/store`). */
  storeDir?: string;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const UNESCAPE: Record<number, number> = {
  0x22: 0x22, // \"
  0x5c: 0x5c, // \\
  0x6e: 0x0a, // \n
  0x72: 0x0d, // \r
  0x74: 0x09, // \t
};

/** A recursive-descent reader over the ATerm's bytes. */
class AtermReader {
  pos = 0;
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    readonly storeDir: string,
  ) {}

  fail(at: number, field: string, detail: string): never {
    throw DerivationError.parse(this.file, at, field, detail);
  }

  /** What is at `at`, for messages. */
  found(at = this.pos): string {
    if (at >= this.bytes.length) return "the end of the file";
    const b = this.bytes[at]!;
    return b >= 0x20 && b < 0x7f
      ? `"${String.fromCharCode(b)}"`
      : `byte 0x${b.toString(16).padStart(2, "0")}`;
  }

  peek(c: string): boolean {
    return this.bytes[this.pos] === c.charCodeAt(0);
  }

  /** One ASCII character. */
  expect(c: string, field: string): void {
    if (!this.peek(c)) this.fail(this.pos, field, `expected "${c}", found ${this.found()}`);
    this.pos++;
  }

  /** The top-level constructor and its parenthesis: `Derive(`. */
  constructorName(): void {
    const b = this.bytes;
    let i = 0;
    while (i < b.length && ((b[i]! | 0x20) >= 0x61 && (b[i]! | 0x20) <= 0x7a)) i++;
    const word = decodeNixString(b.subarray(0, i));
    if (word !== "Derive") {
      this.fail(
        0,
        "constructor",
        word === ""
          ? `expected "Derive(", found ${this.found(0)}`
          : `unknown constructor "${word}" (Nix 2.8 writes "Derive")`,
      );
    }
    this.pos = i;
    this.expect("(", "constructor");
  }

  /**
   * A quoted string with Nix's escapes; with `escapes` false, a field Nix
   * writes as it is (output names and fields, input output names, the
   * platform), where a backslash has no meaning.
   */
  string(field: string, escapes = true): string {
    const b = this.bytes;
    const start = this.pos;
    if (b[start] !== QUOTE) {
      this.fail(start, field, `expected '"' to start a string, found ${this.found()}`);
    }
    let i = start + 1;
    let segment = i;
    let parts: Uint8Array[] | undefined;
    while (true) {
      if (i >= b.length) this.fail(start, field, "the string is not closed");
      const c = b[i]!;
      if (c === QUOTE) break;
      if (c === BACKSLASH) {
        if (!escapes) {
          this.fail(i, field, "a backslash, where Nix writes the string as it is (no escapes)");
        }
        if (i + 1 >= b.length) this.fail(i, field, "the file ends inside an escape");
        const e = UNESCAPE[b[i + 1]!];
        if (e === undefined) {
          this.fail(
            i,
            field,
            `unknown escape "\\" followed by ${
              this.found(i + 1)
            } (Nix writes only \\" \\\\ \\n \\r \\t)`,
          );
        }
        (parts ??= []).push(b.subarray(segment, i), Uint8Array.of(e));
        i += 2;
        segment = i;
        continue;
      }
      i++;
    }
    this.pos = i + 1;
    if (parts === undefined) return decodeNixString(b.subarray(start + 1, i));
    parts.push(b.subarray(segment, i));
    const joined = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let off = 0;
    for (const p of parts) {
      joined.set(p, off);
      off += p.length;
    }
    return decodeNixString(joined);
  }

  /** Check that `s`, read at `at`, is a store path. */
  checkStorePath(s: string, at: number, field: string): void {
    try {
      StorePath.parse(s, this.storeDir);
    } catch (e) {
      if (!(e instanceof StorePathError)) throw e;
      this.fail(at, field, `"${s}" is not a store path: ${e.detail}`);
    }
  }

  /** A quoted store path. */
  storePath(field: string): string {
    const at = this.pos;
    const s = this.string(field);
    this.checkStorePath(s, at, field);
    return s;
  }

  /** `[item,item,...]`; `item` gets the index and the item's offset. */
  list(field: string, item: (index: number, at: number) => void): void {
    this.expect("[", field);
    if (this.peek("]")) {
      this.pos++;
      return;
    }
    for (let i = 0;; i++) {
      item(i, this.pos);
      if (this.peek(",")) this.pos++;
      else if (this.peek("]")) {
        this.pos++;
        return;
      } else this.fail(this.pos, field, `expected "," or "]", found ${this.found()}`);
    }
  }

  /** The output tuple's fields made into an output (see `output_triple.ts`). */
  output(name: string, triple: OutputTriple, offsets: number[]): DerivationOutput {
    const at = (f: OutputTripleField) => offsets[f === "path" ? 0 : f === "hashAlgo" ? 1 : 2]!;
    const field = (f: string) => `output "${name}" ${f}`;
    return outputFromTriple(triple, {
      checkPath: (path) => this.checkStorePath(path, at("path"), field("path")),
      fail: (f, detail) => this.fail(at(f), field(f), detail),
      describe: (kind) => `${kind} content-addressed`,
    });
  }
}

/**
 * Parse a `.drv` file.
 *
 * @param input The file's bytes (or its text, which is encoded as
 *   `encodeDerivation` does; offsets are then in those bytes).
 * @param options Its path (for its name and error messages), or a name, and the store directory.
 * @returns The derivation, its collections sorted.
 * @throws {DerivationError} Naming the byte offset and field on malformed input.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseDerivation } from "./aterm_parser.ts";
 * const drv = parseDerivation(
 *   'Derive([("out","/nix/store/ffffffffffffffffffffffffffffffff-x","","")],[],[],"x86_64-linux","/bin/sh",["-c","echo \\"hi\\""],[("name","x")])',
 * );
 * assert.equal(drv.name, "x");
 * assert.equal(drv.args[1], 'echo "hi"');
 * assert.throws(() => parseDerivation("Derive([)"), /at byte 8 \(outputs\)/);
 * ```
 */
export function parseDerivation(
  input: Uint8Array | string,
  options: ParseDerivationOptions = {},
): Derivation {
  const bytes = typeof input === "string" ? encodeNixString(input) : input;
  const file = options.path ??
    (options.name === undefined ? "<derivation>" : `${options.name}.drv`);
  const r = new AtermReader(bytes, file, options.storeDir ?? DEFAULT_STORE_DIR);
  const duplicate = (at: number, field: string, what: string): never =>
    r.fail(at, field, `${what} appears twice`);

  r.constructorName();
  const outputs = new Map<string, DerivationOutput>();
  const outputAt = new Map<string, number>();
  r.list("outputs", (_, at) => {
    r.expect("(", "outputs");
    const name = r.string("output name", false);
    const values: OutputTriple = ["", "", ""];
    const offsets: number[] = [];
    (["path", "hashAlgo", "hash"] as const).forEach((f, i) => {
      r.expect(",", `output "${name}"`);
      offsets.push(r.pos);
      values[i] = r.string(`output "${name}" ${f}`, false);
    });
    r.expect(")", `output "${name}"`);
    if (outputs.has(name)) duplicate(at, "output name", `output "${name}"`);
    outputs.set(name, r.output(name, values, offsets));
    outputAt.set(name, at + 1);
  });
  r.expect(",", "after outputs");

  const inputDrvs = new Map<string, string[]>();
  r.list("input derivations", (_, at) => {
    r.expect("(", "input derivations");
    const path = r.storePath("input derivation path");
    if (!path.endsWith(".drv")) {
      r.fail(at + 1, "input derivation path", `"${path}" does not end in ".drv"`);
    }
    r.expect(",", `input derivation "${path}"`);
    const outs = new Set<string>();
    r.list(`output names of input "${path}"`, (_, oat) => {
      const o = r.string(`output name of input "${path}"`, false);
      if (outs.has(o)) duplicate(oat, `output name of input "${path}"`, `output name "${o}"`);
      outs.add(o);
    });
    r.expect(")", `input derivation "${path}"`);
    if (inputDrvs.has(path)) duplicate(at, "input derivation path", `input "${path}"`);
    inputDrvs.set(path, sortNixStrings(outs));
  });
  r.expect(",", "after input derivations");

  const inputSrcs = new Set<string>();
  r.list("input sources", (_, at) => {
    const p = r.storePath("input source");
    if (inputSrcs.has(p)) duplicate(at, "input source", `input source "${p}"`);
    inputSrcs.add(p);
  });
  r.expect(",", "after input sources");
  const platform = r.string("platform", false);
  r.expect(",", "after platform");
  const builder = r.string("builder");
  r.expect(",", "after builder");
  const args: string[] = [];
  r.list("args", (i) => args.push(r.string(`args[${i}]`)));
  r.expect(",", "after args");

  const env = new Map<string, string>();
  r.list("env", (_, at) => {
    r.expect("(", "env");
    const key = r.string("env key");
    r.expect(",", `env "${key}"`);
    const value = r.string(`env value of "${key}"`);
    r.expect(")", `env "${key}"`);
    if (env.has(key)) duplicate(at, "env key", `env key "${key}"`);
    env.set(key, value);
  });
  r.expect(")", "end of derivation");
  if (r.pos !== bytes.length) {
    r.fail(r.pos, "end of derivation", `expected the end of the file, found ${r.found()}`);
  }

  let name = options.name;
  if (name === undefined && options.path !== undefined) {
    name = derivationNameFromPath(options.path);
  }
  name ??= env.get("name");
  if (name === undefined) {
    throw new DerivationError(
      `Cannot name derivation "${file}": no path or name was given and it has no "name" env variable`,
    );
  }
  // A fixed output's path is computed from its name whenever it is printed.
  for (const [out, o] of outputs) {
    if (o.kind !== "fixed") continue;
    try {
      checkStorePathName(outputPathName(name, out));
    } catch (e) {
      if (!(e instanceof StorePathError)) throw e;
      r.fail(outputAt.get(out)!, "output name", `fixed output "${out}" has no path: ${e.detail}`);
    }
  }
  return {
    name,
    outputs: new Map(sortByNixKey(outputs)),
    inputDrvs: new Map(sortByNixKey(inputDrvs)),
    inputSrcs: sortNixStrings(inputSrcs),
    platform,
    builder,
    args,
    env: new Map(sortByNixKey(env)),
  };
}
