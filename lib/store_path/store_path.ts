/**
 * Store paths: `<storeDir>/<hash part>-<name>`, where the hash part is 32
 * nix32 characters (20 bytes) and the name is 1 to 211 characters from
 * `A-Z a-z 0-9 + - . _ ? =` (Nix 2.8's rules).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import { NIX32_ALPHABET } from "../hash/nix_base32.ts";

/** The default logical store directory. */
export const DEFAULT_STORE_DIR = "/nix/store";
/** Length of a store path's hash part. */
export const HASH_PART_LENGTH = 32;
/** Longest allowed name. */
export const MAX_NAME_LENGTH = 211;

/** A string that is not a valid store path or name. */
export class StorePathError extends BuildhostError {
  override name = "StorePathError";
  /**
   * @param path The text at fault.
   * @param detail What is wrong with it.
   */
  constructor(readonly path: string, readonly detail: string) {
    super(`Cannot use store path "${path}": ${detail}`);
  }
}

const NAME_CHAR = /^[A-Za-z0-9+\-._?=]$/;

/**
 * Check a store path name, throwing a {@linkcode StorePathError} naming the
 * first bad character.
 *
 * @param name The name.
 * @param path The whole path, for the error message.
 */
export function checkStorePathName(name: string, path: string = name): void {
  if (name.length === 0) throw new StorePathError(path, "the name is empty");
  if (name.length > MAX_NAME_LENGTH) {
    throw new StorePathError(path, `the name is longer than ${MAX_NAME_LENGTH} characters`);
  }
  for (let i = 0; i < name.length; i++) {
    if (!NAME_CHAR.test(name[i]!)) {
      throw new StorePathError(
        path,
        `the name has the invalid character ${JSON.stringify(name[i])} at position ${i}`,
      );
    }
  }
}

/**
 * A parsed store path, independent of the store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorePath } from "./store_path.ts";
 * const p = StorePath.parse("/nix/store/ffffffffffffffffffffffffffffffff-hello-1.0");
 * assert.equal(p.name, "hello-1.0");
 * assert.equal(p.toString(), "/nix/store/ffffffffffffffffffffffffffffffff-hello-1.0");
 * ```
 */
export class StorePath {
  /**
   * @param hashPart 32 nix32 characters.
   * @param name The name after the dash.
   */
  constructor(readonly hashPart: string, readonly name: string) {
    const base = `${hashPart}-${name}`;
    if (hashPart.length !== HASH_PART_LENGTH) {
      throw new StorePathError(base, `the hash part has ${hashPart.length} characters, not 32`);
    }
    for (let i = 0; i < hashPart.length; i++) {
      if (!NIX32_ALPHABET.includes(hashPart[i]!)) {
        throw new StorePathError(
          base,
          `the hash part has the invalid character ${JSON.stringify(hashPart[i])} at position ${i}`,
        );
      }
    }
    checkStorePathName(name, base);
  }

  /**
   * Parse a base name `<hash>-<name>`.
   *
   * @param baseName The last component of a store path.
   */
  static fromBaseName(baseName: string): StorePath {
    if (baseName.length < HASH_PART_LENGTH + 2 || baseName[HASH_PART_LENGTH] !== "-") {
      throw new StorePathError(baseName, "not of the form <32-character hash>-<name>");
    }
    return new StorePath(baseName.slice(0, HASH_PART_LENGTH), baseName.slice(HASH_PART_LENGTH + 1));
  }

  /**
   * Parse a full store path. Only a path directly inside `storeDir` is one: no
   * sub-path, no `..`, no trailing slash.
   *
   * @param path The path.
   * @param storeDir The store directory.
   */
  static parse(path: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
    const prefix = storeDir + "/";
    if (!path.startsWith(prefix)) {
      throw new StorePathError(path, `not in the store directory "${storeDir}"`);
    }
    const base = path.slice(prefix.length);
    if (base.includes("/")) throw new StorePathError(path, "it has a '/' after the store directory");
    try {
      return StorePath.fromBaseName(base);
    } catch (e) {
      if (e instanceof StorePathError) throw new StorePathError(path, e.detail);
      throw e;
    }
  }

  /** `<hash>-<name>` */
  get baseName(): string {
    return `${this.hashPart}-${this.name}`;
  }

  /** True for a `.drv` file's path. */
  get isDerivation(): boolean {
    return this.name.endsWith(".drv");
  }

  /**
   * The full path.
   *
   * @param storeDir The store directory.
   */
  toString(storeDir: string = DEFAULT_STORE_DIR): string {
    return `${storeDir}/${this.baseName}`;
  }
}

/**
 * Check that a store directory is absolute, canonical and not the root.
 *
 * @param dir The store directory, e.g. `/nix/store`.
 * @returns The same directory.
 */
export function checkStoreDir(dir: string): string {
  if (
    !dir.startsWith("/") || dir.length < 2 || dir.endsWith("/") || dir.includes("//") ||
    dir.split("/").some((c) => c === "." || c === "..")
  ) {
    throw new StorePathError(dir, "the store directory must be an absolute, canonical path");
  }
  return dir;
}
