import assert from "node:assert/strict";
import fc from "fast-check";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { readNar } from "../../lib/nar/nar_reader.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import {
  byBytes,
  canonical,
  collect,
  pattern,
  raw,
  type Tree,
  treeArb,
  treeNode,
  treeOfEntries,
} from "./_trees.ts";

const file = (data: Uint8Array | string, executable = false): NarNode => {
  const bytes = typeof data === "string" ? new TextEncoder().encode(data) : data;
  return { type: "regular", executable, size: bytes.length, contents: () => [bytes] };
};
const dir = (...entries: [string, NarNode][]): NarNode => ({
  type: "directory",
  entries: () => entries,
});

Deno.test("writeNar() then readNar() gives back the tree", async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const nar = await collect(writeNar(treeNode(tree)));
      const back = await treeOfEntries(readNar(new WireReader(ReadableStream.from([nar]))));
      assert.deepEqual(back, canonical(tree));
    }),
    { numRuns: 100 },
  );
});

Deno.test("writeNar() writes the grammar's words for each kind of node", async () => {
  const nar = await collect(writeNar(dir(
    ["a", file("hello")],
    ["b", file("", true)],
    ["c", { type: "symlink", target: "a" }],
    ["d", dir()],
  )));
  const entry = (
    name: string,
    ...node: (string | bigint)[]
  ) => ["entry", "(", "name", name, "node", "(", "type", ...node, ")", ")"];
  assert.deepEqual(
    nar,
    raw(
      "nix-archive-1",
      "(",
      "type",
      "directory",
      ...entry("a", "regular", "contents", "hello"),
      ...entry("b", "regular", "executable", "", "contents", ""),
      ...entry("c", "symlink", "target", "a"),
      ...entry("d", "directory"),
      ")",
    ),
  );
});

Deno.test("writeNar() gathers small chunks and passes large ones, from reused buffers", async () => {
  // One buffer, refilled before each chunk: the writer must be done with a
  // chunk (copied or handed on) before it asks for the next.
  const sizes = [1, 7, 10_000, 40_000, 3, 300_000, 32 * 1024, 32 * 1024 + 1, 65_536, 0, 5];
  const total = sizes.reduce((a, b) => a + b, 0);
  const whole = pattern(total, 42);
  const buf = new Uint8Array(Math.max(...sizes));
  const node: NarNode = {
    type: "regular",
    executable: false,
    size: total,
    contents: function* () {
      let at = 0;
      for (const n of sizes) {
        buf.set(whole.subarray(at, at + n));
        at += n;
        yield buf.subarray(0, n);
      }
    },
  };
  const many = Array.from({ length: 3000 }, (_, i) => `f${String(i).padStart(4, "0")}`);
  const tree = dir(["big", node], [
    "many",
    dir(...many.map((n) => [n, file(n)] as [string, NarNode])),
  ]);
  const got = await collect(writeNar(tree));
  const want = await collect(writeNar(dir(
    ["big", file(whole)],
    ["many", dir(...many.map((n) => [n, file(n)] as [string, NarNode]))],
  )));
  assert.deepEqual(got, want);
  const back = await treeOfEntries(readNar(new WireReader(ReadableStream.from([got]))));
  assert.equal(back.type, "dir");
  if (back.type === "dir") {
    assert.deepEqual((back.entries.big as Tree & { type: "file" }).data, whole);
    assert.equal(Object.keys((back.entries.many as Tree & { type: "dir" }).entries).length, 3000);
  }
});

Deno.test("writeNar() orders names by UTF-8 bytes, not by UTF-16 code units", async () => {
  // U+FF01 is EF BC 81 in UTF-8, U+1D11E is F0 9D 84 9E: bytes put U+FF01
  // first, while JS string order puts the surrogate pair (D834) first.
  const names = ["\uFF01", "\u{1D11E}"];
  await collect(writeNar(dir(...names.map((n) => [n, file("")] as [string, NarNode]))));
  await assert.rejects(
    collect(writeNar(dir(...names.reverse().map((n) => [n, file("")] as [string, NarNode])))),
    /ascending order/,
  );
});

/** A file that says `size` but gives three bytes. */
const lying = (size: number): NarNode => ({
  type: "regular",
  executable: false,
  size,
  contents: () => [new Uint8Array(3)],
});

Deno.test("writeNar() rejects bad names, unsorted entries, bad targets and wrong sizes", async () => {
  const f = file("x");
  const cases: [NarNode, RegExp][] = [
    [dir(["b", f], ["a", f]), /entry "a"\): directory entries are not in ascending order/],
    [dir(["a", f], ["a", f]), /entry "a"\): a directory entry is duplicated/],
    [dir(["B", f], ["a", f], ["A", f]), /entry "A".*ascending/],
    [dir(["..", f]), /not allowed/],
    [dir([".", f]), /not allowed/],
    [dir(["a/b", f]), /'\/'/],
    [dir(["a\0", f]), /NUL/],
    [dir(["", f]), /empty/],
    [dir(["x".repeat(256), f]), /longer than 255 bytes/],
    [dir(["ü".repeat(128), f]), /longer than 255 bytes/],
    [dir(["\uD800", f]), /lone surrogate/],
    [dir(["d", dir(["e", dir(["z", f], ["y", f])])]), /entry "d\/e\/y"/],
    [{ type: "symlink", target: "" }, /target is empty/],
    [{ type: "symlink", target: "a\0b" }, /NUL/],
    [{ type: "symlink", target: "x".repeat(4096) }, /longer than 4095 bytes/],
    [{ type: "symlink", target: "\uDC00" }, /lone surrogate/],
    [{ type: "regular", executable: false, size: -1, contents: () => [] }, /not a valid size/],
    [{ type: "regular", executable: false, size: 0.5, contents: () => [] }, /not a valid size/],
    [{ type: "regular", executable: false, size: 2 ** 53, contents: () => [] }, /not a valid size/],
    [lying(2), /gave more than its size of 2 bytes/],
    [lying(4), /gave 3 bytes, not its size of 4/],
  ];
  for (const [node, re] of cases) {
    await assert.rejects(
      collect(writeNar(node)),
      (e) => e instanceof NarError && e.offset === -1 && re.test(e.message),
      String(re),
    );
  }
  // the longest allowed name and target are fine
  await collect(writeNar(dir(["x".repeat(255), { type: "symlink", target: "t".repeat(4095) }])));
});

Deno.test("writeNar() closes its sources when it fails or is stopped", async () => {
  const closed: string[] = [];
  const tracked = (name: string, size: number, give: number): NarNode => ({
    type: "regular",
    executable: false,
    size,
    contents: async function* () {
      try {
        yield new Uint8Array(give);
        yield new Uint8Array(give);
      } finally {
        closed.push(name);
      }
    },
  });
  const tree: NarNode = {
    type: "directory",
    entries: async function* () {
      try {
        yield ["a", tracked("a", 2, 2)] as [string, NarNode];
      } finally {
        closed.push("dir");
      }
    },
  };
  await assert.rejects(collect(writeNar(tree)), /more than its size/);
  assert.deepEqual(closed, ["a", "dir"]);

  closed.length = 0;
  const gen = writeNar(dir(["big", tracked("big", 2_000_000, 1_000_000)]));
  for await (const c of gen) if (c.length === 1_000_000) break; // the first large chunk
  assert.deepEqual(closed, ["big"]);
});

/** The tree as a NarNode whose files offer readers giving `step(asked)` bytes a read. */
function readerNode(t: Tree, step: (asked: number) => number): NarNode {
  const node = treeNode(t);
  if (t.type === "file" && node.type === "regular") {
    return {
      ...node,
      contents: () => {
        throw new Error("contents() must not be called when a reader is offered");
      },
      reader: () => {
        let at = 0;
        return {
          read(into: Uint8Array) {
            const n = Math.min(into.length, Math.max(1, step(into.length)), t.data.length - at);
            into.set(t.data.subarray(at, at + n));
            at += n;
            return n;
          },
          [Symbol.dispose]() {},
        };
      },
    };
  }
  if (t.type === "dir" && node.type === "directory") {
    return {
      type: "directory",
      entries: () =>
        Object.keys(t.entries).sort(byBytes).map((n) => [n, readerNode(t.entries[n]!, step)]),
    };
  }
  return node;
}

Deno.test("writeNar() reads files offering a reader into its chunks, with the same bytes", async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, fc.integer({ min: 1, max: 70_000 }), async (tree, most) => {
      const want = await collect(writeNar(treeNode(tree)));
      const got = await collect(writeNar(readerNode(tree, (asked) => Math.min(asked, most))));
      assert.deepEqual(got, want);
    }),
    { numRuns: 100 },
  );
});

Deno.test("writeNar() with the consumer's buffers hands each over and never touches it again", async () => {
  await fc.assert(
    fc.asyncProperty(
      treeArb,
      fc.boolean(),
      fc.integer({ min: 64 * 1024, max: 300_000 }),
      async (tree, readers, size) => {
        const want = await collect(writeNar(treeNode(tree)));
        const given = new Set<ArrayBufferLike>();
        const kept: Uint8Array[] = [];
        const node = readers ? readerNode(tree, (asked) => asked) : treeNode(tree);
        for await (
          const chunk of writeNar(node, {
            buffers: async () => {
              await Promise.resolve(); // as a consumer waiting for a free buffer
              const b = new Uint8Array(size);
              given.add(b.buffer);
              return b;
            },
          })
        ) {
          assert.equal(chunk.byteOffset, 0);
          assert.ok(given.delete(chunk.buffer), "a chunk is a whole buffer given once");
          kept.push(chunk.slice());
          chunk.fill(0xee); // the writer must not read or write it again
        }
        const got = new Uint8Array(kept.reduce((n, c) => n + c.length, 0));
        kept.reduce((at, c) => (got.set(c, at), at + c.length), 0);
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 60 },
  );
});

Deno.test("writeNar() refuses a reader that gives nothing or too much, and too small buffers", async () => {
  const data = new TextEncoder().encode("hello");
  const file = (read: (into: Uint8Array) => number): NarNode => ({
    type: "regular",
    executable: false,
    size: data.length,
    contents: () => [data],
    reader: () => ({ read, [Symbol.dispose]() {} }),
  });
  await assert.rejects(
    collect(writeNar(file(() => 0))),
    (e) => e instanceof NarError && /reader gave 0 bytes when asked for 5/.test(e.message),
  );
  await assert.rejects(
    collect(writeNar(file((into) => into.length + 1))),
    /reader gave 6 bytes when asked for 5/,
  );
  await assert.rejects(
    collect(writeNar(file(() => 5), { buffers: () => new Uint8Array(1024) })),
    RangeError,
  );
  const shared = new Uint8Array(128 * 1024);
  await assert.rejects(
    collect(writeNar(file(() => 5), { buffers: () => shared.subarray(8) })),
    RangeError,
  );
});

Deno.test("writeNar() disposes of a file's reader when it fails or is stopped", async () => {
  let open = 0;
  const file: NarNode = {
    type: "regular",
    executable: false,
    size: 10,
    contents: () => [],
    reader: () => {
      open++;
      return { read: () => 0, [Symbol.dispose]: () => void open-- };
    },
  };
  await assert.rejects(collect(writeNar(file)), NarError);
  assert.equal(open, 0);
});

Deno.test("writeNar() with its own buffers: small at first, growing, for any first chunk up to the copy limit", async () => {
  // The writer's first buffer is small (a small NAR fills no more); chunks
  // it copies (up to 32 KiB) may be larger than it, first or later.
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.integer({ min: 0, max: 40 * 1024 }), { minLength: 1, maxLength: 6 }),
      fc.integer({ min: 0, max: 3 }),
      async (sizes, files) => {
        const total = sizes.reduce((a, b) => a + b, 0);
        const whole = pattern(total, 7);
        const chunked: NarNode = {
          type: "regular",
          executable: false,
          size: total,
          contents: function* () {
            let at = 0;
            for (const n of sizes) yield whole.slice(at, at += n);
          },
        };
        const small = Array.from({ length: files }, (_, i) => [`s${i}`, file(`${i}`)]) as [
          string,
          NarNode,
        ][];
        const got = await collect(writeNar(dir(["a", chunked], ...small)));
        const want = await collect(writeNar(dir(["a", file(whole)], ...small), {
          buffers: () => new Uint8Array(1 << 20),
        }));
        assert.deepEqual(got, want);
      },
    ),
    { numRuns: 150 },
  );
});
