/**
 * A derivation output as the triple (path, hashAlgo, hash) that the `.drv`
 * file, the serve and worker protocols' BasicDerivation and (with empty
 * fields left out) `nix show-derivation`'s JSON all carry. The kind of
 * output is told by which fields are empty, as in Nix 2.8:
 *
 * | kind             | path          | hashAlgo           | hash       |
 * |------------------|---------------|--------------------|------------|
 * | input-addressed  | its path      | ""                 | ""         |
 * | fixed            | computed path | `[r:]algo`         | base16     |
 * | floating CA      | ""            | `[r:]algo`         | ""         |
 * | impure CA        | ""            | `[r:]algo`         | `impure`   |
 * | deferred         | ""            | ""                 | ""         |
 *
 * `r:` marks recursive (NAR) hashing. A fixed output's path is always the
 * one its hash gives (written computed, as Nix 2.8 does; read as given
 * once it is a store path).
 *
 * @module
 */
import { Hash, HASH_SIZES, type HashAlgorithm, HashError } from "../hash/hash.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { type DerivationOutput, fixedOutputPath, methodAlgo } from "./derivation.ts";

/** An output's (path, hashAlgo, hash). */
export type OutputTriple = [path: string, hashAlgo: string, hash: string];

/** The name of a field of the triple, for error messages. */
export type OutputTripleField = "path" | "hashAlgo" | "hash";

/**
 * The triple of an output.
 *
 * @param drvName The derivation's name (for a fixed output's path).
 * @param outputName The output's name.
 * @param output The output.
 * @param storeDir The store directory (for a fixed output's path).
 * @param maskPath Leave the path empty (as when hashing a derivation modulo its outputs).
 * @returns Its triple.
 * @throws {DerivationError} When a fixed output's path cannot be computed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { outputTriple } from "./output_triple.ts";
 * const hash = Hash.of("sha256", "");
 * assert.deepEqual(outputTriple("f", "out", { kind: "fixed", path: "", method: "flat", hash }), [
 *   "/nix/store/i8yf3p9li8bd9rwjsr5nkg63lxs367am-f",
 *   "sha256",
 *   "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
 * ]);
 * assert.deepEqual(outputTriple("f", "out", { kind: "impure", method: "recursive", hashAlgo: "sha256" }), [
 *   "", "r:sha256", "impure",
 * ]);
 * ```
 */
export function outputTriple(
  drvName: string,
  outputName: string,
  output: DerivationOutput,
  storeDir: string = DEFAULT_STORE_DIR,
  maskPath = false,
): OutputTriple {
  switch (output.kind) {
    case "inputAddressed":
      return [maskPath ? "" : output.path, "", ""];
    case "fixed":
      return [
        maskPath ? "" : fixedOutputPath(drvName, outputName, output, storeDir),
        methodAlgo(output.method, output.hash.algorithm),
        output.hash.toString("base16"),
      ];
    case "floating":
      return ["", methodAlgo(output.method, output.hashAlgo), ""];
    case "impure":
      return ["", methodAlgo(output.method, output.hashAlgo), "impure"];
    case "deferred":
      return ["", "", ""];
  }
}

/** How {@linkcode outputFromTriple} checks a path and reports a bad field. */
export interface OutputTripleReader {
  /** Check that the path is a store path (throws the reader's error if not). */
  checkPath(path: string): void;
  /** Report a bad field: the reader's error, naming where it is. */
  fail(field: OutputTripleField, detail: string, cause?: unknown): never;
  /** The words for a kind of content-addressed output in messages (default: its name). */
  describe?: (kind: "floating" | "impure") => string;
}

/**
 * The output a triple stands for, as Nix 2.8's `parseDerivationOutput`
 * reads it, and stricter: a hash without a hash algorithm, a floating or
 * impure output with a path (Nix asserts), and a fixed output's hash with a
 * `:` or `-` (a prefix Nix does not write there) are errors.
 *
 * @param triple The fields read.
 * @param reader Checks paths, reports errors.
 * @returns The output.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputFromTriple } from "./output_triple.ts";
 * const reader = {
 *   checkPath: () => {},
 *   fail: (field: string, detail: string): never => { throw new Error(`${field}: ${detail}`); },
 * };
 * assert.deepEqual(outputFromTriple(["", "r:sha256", ""], reader), {
 *   kind: "floating", method: "recursive", hashAlgo: "sha256",
 * });
 * assert.throws(() => outputFromTriple(["", "", "00"], reader), /hash: a hash without a hash algorithm/);
 * ```
 */
export function outputFromTriple(
  [path, algoText, hash]: OutputTriple,
  reader: OutputTripleReader,
): DerivationOutput {
  if (algoText === "") {
    if (hash !== "") reader.fail("hash", "a hash without a hash algorithm");
    if (path === "") return { kind: "deferred" };
    reader.checkPath(path);
    return { kind: "inputAddressed", path };
  }
  const method = algoText.startsWith("r:") ? "recursive" : "flat";
  const algo = method === "recursive" ? algoText.slice(2) : algoText;
  if (!Object.hasOwn(HASH_SIZES, algo)) {
    reader.fail(
      "hashAlgo",
      `unknown hash algorithm "${algoText}" (md5, sha1, sha256 or sha512, "r:" first for recursive)`,
    );
  }
  const hashAlgo = algo as HashAlgorithm;
  if (hash === "" || hash === "impure") {
    const kind = hash === "" ? "floating" : "impure";
    if (path !== "") {
      const words = reader.describe?.(kind) ?? kind;
      reader.fail("path", `${/^[aeiou]/.test(words) ? "an" : "a"} ${words} output has no path`);
    }
    return { kind, method, hashAlgo };
  }
  reader.checkPath(path);
  if (/[:-]/.test(hash)) {
    reader.fail("hash", `"${hash}" is not a bare base16, nix32 or base64 hash`);
  }
  try {
    return { kind: "fixed", path, method, hash: Hash.parse(hash, hashAlgo) };
  } catch (e) {
    if (!(e instanceof HashError)) throw e;
    return reader.fail("hash", e.message, e);
  }
}
