/**
 * Test helpers: in-memory trees, written to disk or turned into NarNodes,
 * and a fast-check arbitrary of such trees.
 *
 * @module
 */
import fc from "fast-check";
import { join } from "node:path";
import type { NarNode } from "../../lib/nar/nar_writer.ts";

/** A file tree held in memory. */
export type Tree =
  | { type: "file"; data: Uint8Array; executable: boolean }
  | { type: "symlink"; target: string }
  | { type: "dir"; entries: Record<string, Tree> };

const enc = new TextEncoder();

function byBytes(a: string, b: string): number {
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** The tree as a NarNode. */
export function treeNode(t: Tree): NarNode {
  switch (t.type) {
    case "file":
      return {
        type: "regular",
        executable: t.executable,
        size: t.data.length,
        contents: async function* () {
          if (t.data.length > 0) yield t.data;
        },
      };
    case "symlink":
      return { type: "symlink", target: t.target };
    case "dir":
      return {
        type: "directory",
        entries: async function* () {
          for (const name of Object.keys(t.entries).sort(byBytes)) {
            yield [name, treeNode(t.entries[name]!)] as [string, NarNode];
          }
        },
      };
  }
}

/** Write the tree at `path`. */
export function writeTree(path: string, t: Tree): void {
  switch (t.type) {
    case "file":
      Deno.writeFileSync(path, t.data, { mode: t.executable ? 0o755 : 0o644 });
      Deno.chmodSync(path, t.executable ? 0o755 : 0o644);
      return;
    case "symlink":
      Deno.symlinkSync(t.target, path);
      return;
    case "dir":
      Deno.mkdirSync(path);
      for (const [name, child] of Object.entries(t.entries)) writeTree(join(path, name), child);
  }
}

/** Names that stress sorting and encoding: unicode, spaces, quotes, dashes, dots. */
const nameArb = fc.oneof(
  fc.constantFrom(
    "a",
    "B",
    "Z",
    "_",
    "-leading-dash",
    "with space",
    'quo"te',
    "new\nline",
    "tab\there",
    "ümlaut",
    "日本語",
    "emoji🙂",
    ".hidden",
    "...",
    "a.b",
    "aa",
    "a b",
    "~",
    "\u00e9",
    "e\u0301",
  ),
  fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }).filter((s) =>
    !s.includes("/") && !s.includes("\0") && s !== "." && s !== ".."
  ),
);

const fileArb: fc.Arbitrary<Tree> = fc.record({
  type: fc.constant("file" as const),
  data: fc.oneof(
    fc.uint8Array({ maxLength: 40 }),
    fc.uint8Array({ minLength: 900, maxLength: 5000 }),
  ),
  executable: fc.boolean(),
}, { noNullPrototype: true });
const symlinkArb: fc.Arbitrary<Tree> = fc.record({
  type: fc.constant("symlink" as const),
  target: fc.constantFrom("/nix/store/x", "../a", "dangling", "a b/c", "ü", "./."),
}, { noNullPrototype: true });

/** Random trees (root is a directory), up to a few levels deep. */
export const treeArb: fc.Arbitrary<Tree> = fc.letrec((tie) => ({
  node: fc.oneof({ depthSize: "small", withCrossShrink: true }, fileArb, symlinkArb, tie("dir")),
  dir: fc.record({
    type: fc.constant("dir" as const),
    entries: fc.dictionary(nameArb, tie("node") as fc.Arbitrary<Tree>, {
      maxKeys: 5,
      noNullPrototype: true,
    }),
  }, { noNullPrototype: true }),
})).dir as fc.Arbitrary<Tree>;

/** Concatenate chunks. */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c.slice());
    n += c.length;
  }
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}
