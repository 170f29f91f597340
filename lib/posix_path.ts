/**
 * POSIX path strings: `join`, `dirname`, `basename`, `normalize`,
 * `resolve`, `isAbsolute`, with exactly the results of `node:path`'s posix
 * functions (a test compares them on random paths). buildhost runs only on
 * Linux; importing `node:path` loads its Windows half and, through it, much
 * of Deno's Node layer: some 18 ms of every process's start.
 *
 * @module
 */

/** Resolve `.`, `..` and repeated slashes in the segments of `path` (no leading slash kept). */
function normalizeSegments(path: string, allowAboveRoot: boolean): string {
  const out: string[] = [];
  for (const segment of path.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (allowAboveRoot) out.push("..");
      continue;
    }
    out.push(segment);
  }
  return out.join("/");
}

/**
 * Whether `path` starts at the root.
 *
 * @param path A path.
 * @returns True when it begins with `/`.
 */
export function isAbsolute(path: string): boolean {
  return path.startsWith("/");
}

/**
 * `path` with `.` and `..` resolved and repeated slashes made one; a
 * trailing slash stays; the empty path is `.`.
 *
 * @param path A path.
 * @returns The normal form.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { normalize } from "./posix_path.ts";
 * assert.equal(normalize("/a//b/../c/"), "/a/c/");
 * assert.equal(normalize("a/.."), ".");
 * ```
 */
export function normalize(path: string): string {
  if (path === "") return ".";
  const absolute = isAbsolute(path);
  let out = normalizeSegments(path, !absolute);
  if (out === "" && !absolute) out = ".";
  if (out !== "" && path.endsWith("/")) out += "/";
  return absolute ? `/${out}` : out;
}

/**
 * The non-empty parts joined with `/`, normalized; `.` when all are empty.
 *
 * @param parts Path parts.
 * @returns The joined path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { join } from "./posix_path.ts";
 * assert.equal(join("/nix/store", "abc-x", "../y"), "/nix/store/y");
 * ```
 */
export function join(...parts: string[]): string {
  const joined = parts.filter((p) => p !== "").join("/");
  return joined === "" ? "." : normalize(joined);
}

/** The index just past the last character of `path` that is not a trailing slash (at least 1). */
function endWithoutTrailingSlashes(path: string): number {
  let end = path.length;
  while (end > 1 && path[end - 1] === "/") end--;
  return end;
}

/**
 * The directory part of `path`: everything before its last segment
 * (trailing slashes ignored); `.` for a bare name, `/` at the root.
 *
 * @param path A path.
 * @returns Its directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dirname } from "./posix_path.ts";
 * assert.equal(dirname("/nix/store/abc-x/"), "/nix/store");
 * assert.equal(dirname("x"), ".");
 * ```
 */
export function dirname(path: string): string {
  if (path === "") return ".";
  const absolute = isAbsolute(path);
  // The last slash before the last segment, searched from index 1 (a slash
  // at 0 is the root).
  const end = path.lastIndexOf("/", endWithoutTrailingSlashes(path) - 1);
  if (end < 1) return absolute ? "/" : ".";
  if (absolute && end === 1) return "//";
  return path.slice(0, end);
}

/**
 * The last segment of `path`, trailing slashes ignored (`""` for `/`).
 *
 * @param path A path.
 * @returns Its last segment.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { basename } from "./posix_path.ts";
 * assert.equal(basename("/nix/store/abc-x/"), "abc-x");
 * ```
 */
export function basename(path: string): string {
  let end = path.length;
  while (end > 0 && path[end - 1] === "/") end--;
  if (end === 0) return "";
  return path.slice(path.lastIndexOf("/", end - 1) + 1, end);
}

/**
 * An absolute, normalized path: the parts from the last absolute one on,
 * after the current directory when none is absolute; no trailing slash.
 *
 * @param parts Path parts.
 * @returns The absolute path.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolve } from "./posix_path.ts";
 * assert.equal(resolve("/etc/nix", "../x", "y"), "/etc/x/y");
 * ```
 */
export function resolve(...parts: string[]): string {
  let path = "";
  for (let i = parts.length - 1; i >= -1 && !isAbsolute(path); i--) {
    const part = i >= 0 ? parts[i]! : Deno.cwd();
    if (part !== "") path = path === "" ? part : `${part}/${path}`;
  }
  return `/${normalizeSegments(path, false)}`;
}
