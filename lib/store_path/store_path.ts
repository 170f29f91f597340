/**
 * Store paths: `<storeDir>/<hash part>-<name>`, where the hash part is 32
 * nix32 characters (20 bytes) and the name is 1 to 211 characters from
 * `A-Z a-z 0-9 + - . _ ? =` (Nix 2.8's rules).
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";
import { NIX32_ALPHABET } from "../hash/nix_base32.ts";

/**
 * The default logical store directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { DEFAULT_STORE_DIR } from "./store_path.ts";
 * assert.equal(DEFAULT_STORE_DIR, "/nix/store");
 * ```
 */
export const DEFAULT_STORE_DIR = "/nix/store";
/**
 * Length of a store path's hash part.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { HASH_PART_LENGTH } from "./store_path.ts";
 * assert.equal(HASH_PART_LENGTH, 32);
 * ```
 */
export const HASH_PART_LENGTH = 32;
/**
 * Longest allowed name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStorePathName, MAX_NAME_LENGTH } from "./store_path.ts";
 * assert.throws(() => checkStorePathName("a".repeat(MAX_NAME_LENGTH + 1)));
 * ```
 */
export const MAX_NAME_LENGTH = 211;

/**
 * A string that is not a valid store path or name.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { StorePath, StorePathError } from "./store_path.ts";
 * assert.throws(() => StorePath.parse("/nix/store/../etc"), StorePathError);
 * ```
 */
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
 * Whole valid names and hash parts, tested at once: the common case. Only a
 * string that fails is walked character by character, for the message.
 */
const VALID_NAME = /^[A-Za-z0-9+\-._?=]+$/;
/** 32 nix32 characters from `lastIndex`. */
const VALID_HASH_PART = /[0-9a-df-np-sv-z]{32}/y;
/** `<hash>-<name>` from `lastIndex` to the end. */
const VALID_BASE_NAME = /[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+$/y;

/** The character at `i` (a whole code point), quoted for an error message. */
function quoteChar(text: string, i: number): string {
  return JSON.stringify(String.fromCodePoint(text.codePointAt(i)!));
}

/**
 * Check a store path name, throwing a {@linkcode StorePathError} naming the
 * first bad character. Positions in the message count from the start of
 * `path` (the name is taken to be its end).
 *
 * @param name The name.
 * @param path The whole path, for the error message.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStorePathName } from "./store_path.ts";
 * checkStorePathName("hello-1.0");
 * assert.throws(() => checkStorePathName("a b"), /invalid character " " at position 1/);
 * ```
 */
export function checkStorePathName(name: string, path: string = name): void {
  if (name.length <= MAX_NAME_LENGTH && VALID_NAME.test(name)) return;
  const at = path.endsWith(name) ? path.length - name.length : 0;
  if (name.length === 0) throw new StorePathError(path, "the name is empty");
  if (name.length > MAX_NAME_LENGTH) {
    throw new StorePathError(
      path,
      `the name has ${name.length} characters, more than ${MAX_NAME_LENGTH}`,
    );
  }
  for (let i = 0; i < name.length; i++) {
    if (!NAME_CHAR.test(name[i]!)) {
      throw new StorePathError(
        path,
        `the name has the invalid character ${quoteChar(name, i)} at position ${at + i}`,
      );
    }
  }
}

/** Check the 32 characters of `text` from `start` as a hash part. */
function checkHashPart(text: string, start: number): void {
  VALID_HASH_PART.lastIndex = start;
  if (VALID_HASH_PART.test(text)) return;
  for (let i = start; i < start + HASH_PART_LENGTH; i++) {
    if (!NIX32_ALPHABET.includes(text[i]!)) {
      throw new StorePathError(
        text,
        `the hash part has the invalid character ${quoteChar(text, i)} at position ${i}` +
          ` (nix32 is 0-9 and a-z without e, o, u, t)`,
      );
    }
  }
}

/** Check `text` from `start` on as `<hash>-<name>`, positions counted in `text`. */
function checkBaseName(text: string, start: number): void {
  const len = text.length - start;
  VALID_BASE_NAME.lastIndex = start;
  if (len <= HASH_PART_LENGTH + 1 + MAX_NAME_LENGTH && VALID_BASE_NAME.test(text)) return;
  if (len <= HASH_PART_LENGTH) {
    throw new StorePathError(
      text,
      `the base name has ${len} characters; it needs a 32-character hash part, "-" and a name`,
    );
  }
  const dash = start + HASH_PART_LENGTH;
  if (text[dash] !== "-") {
    const before = text.indexOf("-", start);
    throw new StorePathError(
      text,
      before >= start && before < dash
        ? `the hash part has ${before - start} characters, not ${HASH_PART_LENGTH}`
        : `expected "-" after the ${HASH_PART_LENGTH}-character hash part at position ${dash}`,
    );
  }
  checkHashPart(text, start);
  checkStorePathName(text.slice(dash + 1), text);
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
    checkHashPart(base, 0);
    checkStorePathName(name, base);
  }

  /**
   * Parse a base name `<hash>-<name>`.
   *
   * @param baseName The last component of a store path.
   * @returns The store path.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { StorePath } from "./store_path.ts";
   * assert.equal(StorePath.fromBaseName("ffffffffffffffffffffffffffffffff-x").name, "x");
   * ```
   */
  static fromBaseName(baseName: string): StorePath {
    checkBaseName(baseName, 0);
    return new StorePath(baseName.slice(0, HASH_PART_LENGTH), baseName.slice(HASH_PART_LENGTH + 1));
  }

  /**
   * Parse a full store path. Only a path directly inside `storeDir` is one: no
   * sub-path, no `..`, no `//`, no trailing slash (Nix 2.8 would first make
   * such paths canonical; here they are errors). Positions in error messages
   * count from the start of `path`.
   *
   * @param path The path.
   * @param storeDir The store directory.
   * @returns The store path.
   */
  static parse(path: string, storeDir: string = DEFAULT_STORE_DIR): StorePath {
    const prefix = storeDir + "/";
    if (!path.startsWith(prefix)) {
      throw new StorePathError(path, `not in the store directory "${storeDir}"`);
    }
    const slash = path.indexOf("/", prefix.length);
    if (slash >= 0) {
      throw new StorePathError(
        path,
        `it has a "/" at position ${slash}, below a store path or after the store directory`,
      );
    }
    checkBaseName(path, prefix.length);
    return new StorePath(
      path.slice(prefix.length, prefix.length + HASH_PART_LENGTH),
      path.slice(prefix.length + HASH_PART_LENGTH + 1),
    );
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
   * @returns `<storeDir>/<hash>-<name>`.
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
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkStoreDir } from "./store_path.ts";
 * assert.equal(checkStoreDir("/nix/store"), "/nix/store");
 * assert.throws(() => checkStoreDir("/nix/store/"));
 * ```
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
