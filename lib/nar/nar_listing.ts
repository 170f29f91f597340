/**
 * Listing a NAR without unpacking it: the JSON form of Nix's `.ls` files and
 * of `nix nar ls --json -R NAR /`, and the lines of `nix nar ls -R -l NAR /`.
 *
 * JSON nodes: `{"type":"directory","entries":{NAME:NODE,...}}`,
 * `{"type":"regular","size":N,"executable":true,"narOffset":N}` (no
 * `executable` key when it is not; `narOffset` is where the contents start
 * in the NAR), `{"type":"symlink","target":T}`.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import { type NarEntry, readNar } from "./nar_reader.ts";
import { compareBytes } from "./tokens.ts";

/**
 * A listing node, as Nix writes it in JSON. Directory entries are own
 * properties (even one named `__proto__`); JS orders integer-like keys first,
 * so use {@linkcode narListingEntries} or {@linkcode narListingJson} for
 * Nix's order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { NarListing } from "./nar_listing.ts";
 * const l: NarListing = { type: "regular", size: 1, narOffset: 96 };
 * assert.equal(l.type, "regular");
 * ```
 */
export type NarListing =
  | { type: "directory"; entries: Record<string, NarListing> }
  | { type: "regular"; size: number; executable?: true; narOffset: number }
  | { type: "symlink"; target: string };

/**
 * Build the listing of a stream of NAR entries (file contents are skipped).
 * Memory grows with the number of entries, not with file sizes.
 *
 * @param entries The entries, e.g. from `readNar` or `narEntries`.
 * @returns The root node.
 * @throws {NarError} As the entries do.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narEntries } from "./nar_reader.ts";
 * import { narListing } from "./nar_listing.ts";
 * import { writeNar } from "./nar_writer.ts";
 * const nar = writeNar({ type: "directory", entries: () => [["a", { type: "symlink", target: "b" }]] });
 * assert.deepEqual(await narListing(narEntries(nar)), {
 *   type: "directory",
 *   entries: { a: { type: "symlink", target: "b" } },
 * });
 * ```
 */
export async function narListing(entries: AsyncIterable<NarEntry>): Promise<NarListing> {
  let root: NarListing | undefined;
  const dirs = new Map<string, Record<string, NarListing>>();
  for await (const e of entries) {
    let node: NarListing;
    if (e.type === "directory") {
      const children: Record<string, NarListing> = {};
      dirs.set(e.path, children);
      node = { type: "directory", entries: children };
    } else if (e.type === "symlink") node = { type: "symlink", target: e.target };
    else {
      node = e.executable
        ? { type: "regular", size: e.size, executable: true, narOffset: e.narOffset }
        : { type: "regular", size: e.size, narOffset: e.narOffset };
    }
    if (e.path === "") root = node;
    else {
      const slash = e.path.lastIndexOf("/");
      const parent = dirs.get(slash < 0 ? "" : e.path.slice(0, slash));
      // readNar guarantees the parent; guard against other sources of entries.
      if (!parent) throw new TypeError(`Cannot list "${e.path}": its directory was not listed`);
      const name = e.path.slice(slash + 1);
      if (name === "__proto__") {
        Object.defineProperty(parent, name, {
          value: node,
          enumerable: true,
          writable: true,
          configurable: true,
        });
      } else parent[name] = node;
    }
  }
  if (!root) throw new TypeError("Cannot list a NAR: there were no entries");
  return root;
}

/**
 * Read one NAR from `r` into its listing (file contents are skipped), leaving
 * `r` just after it.
 *
 * @param r The reader positioned at the NAR.
 * @returns The root node.
 * @throws {NarError} On a malformed NAR.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { listNar } from "./nar_listing.ts";
 * import { writeNar } from "./nar_writer.ts";
 * const nar = writeNar({ type: "symlink", target: "x" });
 * assert.deepEqual(await listNar(new WireReader(nar)), { type: "symlink", target: "x" });
 * ```
 */
export function listNar(r: WireReader): Promise<NarListing> {
  return narListing(readNar(r));
}

function line(n: NarListing | NarEntry, path: string): string {
  const mode = n.type === "directory"
    ? "dr-xr-xr-x"
    : n.type === "symlink"
    ? "lrwxrwxrwx"
    : n.executable
    ? "-r-xr-xr-x"
    : "-r--r--r--";
  const size = n.type === "regular" ? n.size : 0;
  const suffix = n.type === "symlink" ? ` -> ${n.target}` : "";
  return `${mode} ${String(size).padStart(20)} ${path}${suffix}`;
}

/**
 * The line `nix nar ls -R -l NAR /` prints for one entry: mode, size, `./`
 * and the path, ` -> target` for symlinks. The root prints nothing when it
 * is a directory, and an empty path otherwise (as Nix does).
 *
 * @param entry An entry from `readNar`.
 * @returns The line without a newline, or undefined for a root directory.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narListingLine } from "./nar_listing.ts";
 * assert.equal(
 *   narListingLine({ path: "a/b", type: "symlink", target: "../c" }),
 *   "lrwxrwxrwx                    0 ./a/b -> ../c",
 * );
 * assert.equal(narListingLine({ path: "", type: "directory" }), undefined);
 * ```
 */
export function narListingLine(entry: NarEntry): string | undefined {
  if (entry.path === "") return entry.type === "directory" ? undefined : line(entry, "");
  return line(entry, `./${entry.path}`);
}

/**
 * The lines of `nix nar ls -R -l NAR /` for a listing (see
 * {@linkcode narListingLine}).
 *
 * @param listing The listing.
 * @returns One line per entry, without newlines.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { formatNarListing } from "./nar_listing.ts";
 * assert.deepEqual(formatNarListing({ type: "directory", entries: { a: { type: "symlink", target: "b" } } }), [
 *   "lrwxrwxrwx                    0 ./a -> b",
 * ]);
 * ```
 */
export function formatNarListing(listing: NarListing): string[] {
  const lines: string[] = [];
  const walk = (n: NarListing, path: string) => {
    if (n.type !== "directory") return;
    for (const [name, child] of narListingEntries(n)) {
      lines.push(line(child, `${path}/${name}`));
      walk(child, `${path}/${name}`);
    }
  };
  if (listing.type === "directory") walk(listing, ".");
  else lines.push(line(listing, ""));
  return lines;
}

const encoder = new TextEncoder();

/**
 * The entries of a directory listing in Nix's order (by the bytes of the
 * names), whatever order the object keeps its keys in.
 *
 * @param dir A directory node.
 * @returns The name and node of each entry.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narListingEntries } from "./nar_listing.ts";
 * const leaf = { type: "symlink", target: "x" } as const;
 * const names = narListingEntries({ type: "directory", entries: { "9": leaf, "10": leaf } }).map(([n]) => n);
 * assert.deepEqual(names, ["10", "9"]);
 * ```
 */
export function narListingEntries(
  dir: { type: "directory"; entries: Record<string, NarListing> },
): [string, NarListing][] {
  return Object.entries(dir.entries)
    .map(([name, node]) => [encoder.encode(name), name, node] as const)
    .sort(([a], [b]) => compareBytes(a, b))
    .map(([, name, node]) => [name, node]);
}

// deno-lint-ignore no-control-regex -- control characters are what must be escaped
const NEEDS_ESCAPE = /["\\\u0000-\u001f]/;

/** A JSON string as Nix 2.8 writes it: `\n \r \t \" \\` and `\u00xx` for other controls. */
function jsonString(s: string): string {
  if (!NEEDS_ESCAPE.test(s)) return `"${s}"`;
  let out = '"';
  for (const c of s) {
    const code = c.charCodeAt(0);
    if (c === '"') out += '\\"';
    else if (c === "\\") out += "\\\\";
    else if (c === "\n") out += "\\n";
    else if (c === "\r") out += "\\r";
    else if (c === "\t") out += "\\t";
    else if (code < 0x20) out += `\\u${code.toString(16).padStart(4, "0")}`;
    else out += c;
  }
  return out + '"';
}

/**
 * A listing as the JSON text `nix nar ls --json -R NAR /` prints (without
 * the final newline): no spaces, keys in Nix's order, entries sorted by the
 * bytes of their names, Nix's string escapes (`\u0008`, not `\b`).
 *
 * @param listing The listing.
 * @returns The JSON text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { narListingJson } from "./nar_listing.ts";
 * assert.equal(
 *   narListingJson({ type: "regular", size: 5, executable: true, narOffset: 96 }),
 *   '{"type":"regular","size":5,"executable":true,"narOffset":96}',
 * );
 * ```
 */
export function narListingJson(listing: NarListing): string {
  switch (listing.type) {
    case "regular":
      return `{"type":"regular","size":${listing.size},${
        listing.executable ? '"executable":true,' : ""
      }"narOffset":${listing.narOffset}}`;
    case "symlink":
      return `{"type":"symlink","target":${jsonString(listing.target)}}`;
    case "directory":
      return `{"type":"directory","entries":{${
        narListingEntries(listing).map(([name, node]) =>
          `${jsonString(name)}:${narListingJson(node)}`
        ).join(",")
      }}}`;
  }
}
