/**
 * How Nix computes store paths from content (see Nix's `store-api.cc`):
 *
 * ```
 * fingerprint = "<type>:sha256:<inner hash, base16>:<storeDir>:<name>"
 * hash part   = nix32(compress20(sha256(fingerprint)))
 * ```
 *
 * `type` is `text` or `source` followed by `:<reference>` for each (sorted)
 * reference and, for sources, `:self` for a self-reference; or
 * `output:<id>` for derivation outputs. Fixed-output paths that are not
 * recursive sha256 hash `fixed:out:[r:]<algo>:<base16>:` first.
 *
 * @module
 */
import { compressHash, Hash } from "../hash/hash.ts";
import { encodeNix32 } from "../hash/nix_base32.ts";
import { DEFAULT_STORE_DIR, StorePath, StorePathError } from "./store_path.ts";

/**
 * How a fixed-output path's content was hashed: the file itself, or its NAR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { type FileIngestionMethod, makeFixedOutputPath } from "./make_store_path.ts";
 * const method: FileIngestionMethod = "flat";
 * assert.equal(makeFixedOutputPath("f", method, Hash.of("sha256", "")).name, "f");
 * ```
 */
export type FileIngestionMethod = "flat" | "recursive";

/**
 * The low-level store path function.
 *
 * @param type The path type (`text:...`, `source:...`, `output:out`).
 * @param innerHash The hash of the content or of the fixed-output fingerprint.
 * @param name The path's name.
 * @param storeDir The store directory.
 * @returns The store path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { makeStorePath } from "./make_store_path.ts";
 * const p = makeStorePath("text", Hash.of("sha256", "hi\n"), "x");
 * assert.equal(p.name, "x");
 * ```
 */
export function makeStorePath(
  type: string,
  innerHash: Hash,
  name: string,
  storeDir: string = DEFAULT_STORE_DIR,
): StorePath {
  const fingerprint = `${type}:${innerHash.algorithm}:${
    innerHash.toString("base16")
  }:${storeDir}:${name}`;
  const digest = Hash.of("sha256", fingerprint).bytes;
  return new StorePath(encodeNix32(compressHash(digest, 20)), name);
}

/**
 * The type string of a text or source path with references.
 *
 * @param type `text` or `source`.
 * @param references Full store paths referenced (sorted and deduplicated here).
 * @param selfReference Whether the path refers to itself.
 * @returns `<type>:<ref1>:<ref2>...[:self]`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeReferencesType } from "./make_store_path.ts";
 * assert.equal(makeReferencesType("text", ["/nix/store/b", "/nix/store/a"]), "text:/nix/store/a:/nix/store/b");
 * ```
 */
export function makeReferencesType(
  type: string,
  references: Iterable<string>,
  selfReference = false,
): string {
  let out = type;
  // A set, as in Nix: a reference listed twice counts once.
  for (const r of [...new Set(references)].sort()) out += `:${r}`;
  if (selfReference) out += ":self";
  return out;
}

/**
 * The path of a text file (`builtins.toFile`, `nix-store --add` of a
 * derivation): type `text` with its references, hashed with sha256.
 *
 * @param name The name.
 * @param contents The file's bytes or its sha256.
 * @param references Full store paths the text refers to.
 * @param storeDir The store directory.
 * @returns The store path.
 *
 * @example `builtins.toFile "hello.txt" "hello\n"`
 * ```ts
 * import assert from "node:assert/strict";
 * import { makeTextPath } from "./make_store_path.ts";
 * assert.equal(
 *   makeTextPath("hello.txt", "hello\n").toString(),
 *   "/nix/store/qa1w9gdfrba6jl2r57mb3c43863gqywp-hello.txt",
 * );
 * ```
 */
export function makeTextPath(
  name: string,
  contents: Uint8Array | string | Hash,
  references: Iterable<string> = [],
  storeDir: string = DEFAULT_STORE_DIR,
): StorePath {
  const hash = contents instanceof Hash ? contents : Hash.of("sha256", contents);
  if (hash.algorithm !== "sha256") {
    throw new StorePathError(name, "a text path needs a sha256 hash");
  }
  return makeStorePath(makeReferencesType("text", references), hash, name, storeDir);
}

/**
 * The path of fixed-output content: `source` paths for recursive sha256 (the
 * only kind that may have references), `output:out` of a `fixed:out:...`
 * fingerprint otherwise.
 *
 * @param name The name.
 * @param method flat (hash of the file) or recursive (hash of the NAR).
 * @param hash The content's hash.
 * @param references Full store paths referenced (recursive sha256 only).
 * @param selfReference Whether it refers to itself (recursive sha256 only).
 * @param storeDir The store directory.
 * @returns The store path.
 *
 * @example `nix-store --add-fixed sha256 hello.txt` (a file holding "hello\n")
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { makeFixedOutputPath } from "./make_store_path.ts";
 * const p = makeFixedOutputPath("hello.txt", "flat", Hash.of("sha256", "hello\n"));
 * assert.equal(p.toString(), "/nix/store/gy454w1cxaq731grqwylhzf4pp9r5izh-hello.txt");
 * ```
 */
export function makeFixedOutputPath(
  name: string,
  method: FileIngestionMethod,
  hash: Hash,
  references: Iterable<string> = [],
  selfReference = false,
  storeDir: string = DEFAULT_STORE_DIR,
): StorePath {
  const refs = [...references];
  if (method === "recursive" && hash.algorithm === "sha256") {
    return makeStorePath(makeReferencesType("source", refs, selfReference), hash, name, storeDir);
  }
  if (refs.length > 0 || selfReference) {
    throw new StorePathError(name, "only recursive sha256 fixed-output paths may have references");
  }
  const inner = Hash.of(
    "sha256",
    `fixed:out:${method === "recursive" ? "r:" : ""}${hash.toString("base16", true)}:`,
  );
  return makeStorePath("output:out", inner, name, storeDir);
}

/**
 * The name of a derivation output's path: the derivation's name, with
 * `-<output>` appended unless the output is `out`.
 *
 * @param drvName The derivation's name.
 * @param outputName The output's name.
 * @returns The name of the output's store path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { outputPathName } from "./make_store_path.ts";
 * assert.equal(outputPathName("hello-2.12", "out"), "hello-2.12");
 * assert.equal(outputPathName("hello-2.12", "man"), "hello-2.12-man");
 * ```
 */
export function outputPathName(drvName: string, outputName: string): string {
  return outputName === "out" ? drvName : `${drvName}-${outputName}`;
}

/**
 * The path of an input-addressed derivation output.
 *
 * @param drvName The derivation's name.
 * @param outputName The output (`out`, `dev`, ...).
 * @param hashModulo The derivation's `hashDerivationModulo` (sha256).
 * @param storeDir The store directory.
 * @returns The output's store path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Hash } from "../hash/hash.ts";
 * import { makeOutputPath } from "./make_store_path.ts";
 * assert.equal(makeOutputPath("hello", "dev", Hash.of("sha256", "drv")).name, "hello-dev");
 * ```
 */
export function makeOutputPath(
  drvName: string,
  outputName: string,
  hashModulo: Hash,
  storeDir: string = DEFAULT_STORE_DIR,
): StorePath {
  return makeStorePath(
    `output:${outputName}`,
    hashModulo,
    outputPathName(drvName, outputName),
    storeDir,
  );
}
