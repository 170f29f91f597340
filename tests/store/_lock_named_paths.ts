/**
 * Valid paths named like another path's lock, for the path lock tests.
 *
 * @module
 */
import type { Store } from "../../lib/store/store.ts";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";

export const HASH = "0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn";
export const BASE = `/nix/store/${HASH}-foo`;

export function file(text: string): NarNode {
  const bytes = new TextEncoder().encode(text);
  return { type: "regular", executable: false, size: bytes.length, contents: () => [bytes] };
}

export const nodes: Record<string, NarNode> = {
  file: file("a valid path named like a lock\n"),
  directory: { type: "directory", entries: () => [["f", file("inside\n")]] },
  symlink: { type: "symlink", target: "/somewhere" },
};

export function narOf(node: NarNode): WireReader {
  return new WireReader(writeNar(node));
}

export function storeFiles(store: Store): string[] {
  return [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort();
}
