/**
 * Test helpers: in-memory trees, written to disk or turned into NarNodes,
 * fast-check arbitraries of such trees, and byte helpers.
 *
 * @module
 */
import fc from "fast-check";
import { join } from "node:path";
import type { NarNode } from "../../lib/nar/nar_writer.ts";
import type { NarEntry } from "../../lib/nar/nar_reader.ts";
import { encodeString, encodeU64 } from "../../lib/wire/wire_writer.ts";

/** A file tree held in memory. `mode` is what the file gets on disk (default 0644/0755). */
export type Tree =
  | { type: "file"; data: Uint8Array; executable: boolean; mode?: number }
  | { type: "symlink"; target: string }
  | { type: "dir"; entries: Record<string, Tree> };

const enc = new TextEncoder();

/** Compare names by their UTF-8 bytes, as Nix orders them. */
export function byBytes(a: string, b: string): number {
  const x = enc.encode(a), y = enc.encode(b);
  for (let i = 0; i < Math.min(x.length, y.length); i++) if (x[i] !== y[i]) return x[i]! - y[i]!;
  return x.length - y.length;
}

/** The tree as a NarNode (async sources, one chunk per file). */
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

/** The tree without file modes (what a NAR keeps). */
export function canonical(t: Tree): Tree {
  switch (t.type) {
    case "file":
      return { type: "file", data: t.data, executable: t.executable };
    case "symlink":
      return t;
    case "dir":
      return {
        type: "dir",
        entries: Object.fromEntries(
          Object.entries(t.entries).map(([k, v]) => [k, canonical(v)]),
        ),
      };
  }
}

/** Rebuild a tree from NAR entries, reading every file's contents. */
export async function treeOfEntries(entries: AsyncIterable<NarEntry>): Promise<Tree> {
  const all: Record<string, Tree> = {};
  let root: Tree | undefined;
  for await (const e of entries) {
    const t: Tree = e.type === "directory"
      ? { type: "dir", entries: {} }
      : e.type === "symlink"
      ? { type: "symlink", target: e.target }
      : { type: "file", executable: e.executable, data: await collect(e.contents) };
    if (e.path === "") root = t;
    else {
      const i = e.path.lastIndexOf("/");
      const parent = i < 0 ? root! : all[e.path.slice(0, i)]!;
      if (parent.type !== "dir") throw new Error(`${e.path}: parent is not a directory`);
      parent.entries[e.path.slice(i + 1)] = t;
    }
    all[e.path] = t;
  }
  return root!;
}

/** Write the tree at `path`. */
export function writeTree(path: string, t: Tree): void {
  switch (t.type) {
    case "file": {
      const mode = t.mode ?? (t.executable ? 0o755 : 0o644);
      Deno.writeFileSync(path, t.data, { mode });
      Deno.chmodSync(path, mode);
      return;
    }
    case "symlink":
      Deno.symlinkSync(t.target, path);
      return;
    case "dir":
      Deno.mkdirSync(path);
      for (const [name, child] of Object.entries(t.entries)) writeTree(join(path, name), child);
  }
}

/**
 * Names that stress sorting and encoding: unicode (where UTF-16 order and
 * byte order differ: U+E000 and up against surrogate pairs), numbers (which JS
 * objects reorder), spaces, quotes, newlines, leading dashes, dots.
 */
const nameArb = fc.oneof(
  fc.constantFrom(
    "a",
    "B",
    "Z",
    "_",
    "-leading-dash",
    "--",
    "with space",
    " ",
    'quo"te',
    "it's",
    "back\\slash",
    "new\nline",
    "tab\there",
    "ümlaut",
    "日本語",
    "emoji🙂",
    "\u{1D11E}clef",
    "\uE000private",
    "\uFF01bang",
    ".hidden",
    "...",
    "a.b",
    "aa",
    "a b",
    "~",
    "9",
    "10",
    "\u00e9",
    "e\u0301",
    "x".repeat(255),
  ),
  fc.string({ minLength: 1, maxLength: 12, unit: "grapheme" }).filter((s) =>
    !s.includes("/") && !s.includes("\0") && s !== "." && s !== ".." && s !== "__proto__"
  ),
);

/** Deterministic bytes of length `n` from `seed` (fast for large sizes). */
export function pattern(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let x = seed | 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

const dataArb = fc.oneof(
  { weight: 4, arbitrary: fc.uint8Array({ maxLength: 40 }) },
  { weight: 2, arbitrary: fc.uint8Array({ minLength: 900, maxLength: 5000 }) },
  {
    weight: 1,
    arbitrary: fc.tuple(fc.integer({ min: 30_000, max: 300_000 }), fc.integer()).map(([n, s]) =>
      pattern(n, s)
    ),
  },
);

/** Owner-executable or not (Nix looks at S_IXUSR only), in various modes. */
const modeArb = fc.constantFrom(0o644, 0o755, 0o744, 0o700, 0o654, 0o645, 0o611, 0o400, 0o500);

const fileArb: fc.Arbitrary<Tree> = fc.tuple(dataArb, modeArb).map(([data, mode]) => ({
  type: "file" as const,
  data,
  executable: (mode & 0o100) !== 0,
  mode,
}));
const symlinkArb: fc.Arbitrary<Tree> = fc.record({
  type: fc.constant("symlink" as const),
  target: fc.constantFrom(
    "/nix/store/x",
    "/",
    "../a",
    "dangling",
    "a b/c",
    "ü",
    "./.",
    "new\nline",
    "-dash",
    "../".repeat(100) + "etc/passwd",
  ),
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

/** Concatenate chunks (copying each: sources reuse their buffers). */
export async function collect(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  let n = 0;
  for await (const c of chunks) {
    parts.push(c.slice());
    n += c.length;
  }
  return concat(parts, n);
}

function concat(parts: Uint8Array[], n = parts.reduce((s, p) => s + p.length, 0)): Uint8Array {
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Bytes from words (wire strings), raw byte arrays and u64s (bigints). */
export function raw(...parts: (string | Uint8Array | bigint)[]): Uint8Array {
  return concat(
    parts.map((p) =>
      typeof p === "bigint" ? encodeU64(p) : p instanceof Uint8Array ? p : encodeString(p)
    ),
  );
}

/** A stream of `bytes` cut into chunks of `size`. */
export function chunked(bytes: Uint8Array, size: number): ReadableStream<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += size) chunks.push(bytes.slice(i, i + size));
  return ReadableStream.from(chunks);
}
