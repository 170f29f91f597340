/**
 * Listing a NAR without unpacking it: the JSON form of Nix's `.ls` files and
 * `nix nar ls --json -R`, and the lines of `nix nar ls -R -l`.
 *
 * @module
 */
import type { WireReader } from "../wire/wire_reader.ts";
import { readNar } from "./nar_reader.ts";

/**
 * A listing node, as Nix writes it in JSON.
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
 * Read one NAR from `r` into its listing (file contents are skipped).
 *
 * @param r The reader positioned at the NAR.
 * @returns The root node.
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
export async function listNar(r: WireReader): Promise<NarListing> {
  let root: NarListing | undefined;
  const dirs = new Map<string, Record<string, NarListing>>();
  for await (const e of readNar(r)) {
    let node: NarListing;
    if (e.type === "directory") {
      const entries: Record<string, NarListing> = {};
      dirs.set(e.path, entries);
      node = { type: "directory", entries };
    } else if (e.type === "symlink") node = { type: "symlink", target: e.target };
    else {
      node = e.executable
        ? { type: "regular", size: e.size, executable: true, narOffset: e.narOffset }
        : { type: "regular", size: e.size, narOffset: e.narOffset };
    }
    if (e.path === "") root = node;
    else {
      const slash = e.path.lastIndexOf("/");
      dirs.get(slash < 0 ? "" : e.path.slice(0, slash))![e.path.slice(slash + 1)] = node;
    }
  }
  return root!;
}

/**
 * The lines of `nix nar ls -R -l NAR /` for a listing: mode, size and path
 * of every entry below the root (the root itself when it is not a directory).
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
  const line = (n: NarListing, path: string) => {
    const mode = n.type === "directory"
      ? "dr-xr-xr-x"
      : n.type === "symlink"
      ? "lrwxrwxrwx"
      : n.executable
      ? "-r-xr-xr-x"
      : "-r--r--r--";
    const size = n.type === "regular" ? n.size : 0;
    const suffix = n.type === "symlink" ? ` -> ${n.target}` : "";
    lines.push(`${mode} ${String(size).padStart(20)} ${path}${suffix}`);
  };
  const walk = (n: NarListing, path: string) => {
    if (n.type !== "directory") return;
    for (const [name, child] of Object.entries(n.entries)) {
      line(child, `${path}/${name}`);
      walk(child, `${path}/${name}`);
    }
  };
  if (listing.type === "directory") walk(listing, ".");
  else line(listing, ".");
  return lines;
}
