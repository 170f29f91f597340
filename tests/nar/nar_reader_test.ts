import assert from "node:assert/strict";
import fc from "fast-check";
import { join } from "node:path";
import { narEntries, readNar } from "../../lib/nar/nar_reader.ts";
import { writeNar } from "../../lib/nar/nar_writer.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { NAR_WORDS, TOKENS } from "../../lib/nar/tokens.ts";
import { restorePath } from "../../lib/store/restore_path.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { encodeString, encodeU64 } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";
import { collect, type Tree, treeArb, treeNode } from "./_trees.ts";

/** A NAR from a list of words (strings, wire-encoded) and raw numbers (u64). */
function raw(...parts: (string | Uint8Array | bigint)[]): Uint8Array {
  const chunks = parts.map((p) =>
    typeof p === "bigint" ? encodeU64(p) : p instanceof Uint8Array ? p : encodeString(p)
  );
  const out = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let o = 0;
  for (const c of chunks) {
    out.set(c, o);
    o += c.length;
  }
  return out;
}

const file = (data: string) => ["(", "type", "regular", "contents", data, ")"];
const entry = (
  name: string,
  ...node: string[]
) => ["entry", "(", "name", name, "node", ...node, ")"];
const dir = (
  ...entries: string[][]
) => ["nix-archive-1", "(", "type", "directory", ...entries.flat(), ")"];

/** Read all entries (and contents) of a NAR; return the error or undefined. */
async function readAll(bytes: Uint8Array, chunk = 7): Promise<unknown> {
  const chunks: Uint8Array[] = [];
  for (let i = 0; i < bytes.length; i += chunk) chunks.push(bytes.slice(i, i + chunk));
  try {
    for await (const e of narEntries(ReadableStream.from(chunks))) {
      if (e.type === "regular") await collect(e.contents);
    }
  } catch (e) {
    return e;
  }
  return undefined;
}

async function assertNarError(bytes: Uint8Array, offset: number | undefined, re: RegExp) {
  const e = await readAll(bytes);
  assert.ok(e instanceof NarError, `expected a NarError, got ${e}`);
  assert.match(e.message, re);
  if (offset !== undefined) assert.equal(e.offset, offset, e.message);
  // restoring it leaves nothing behind
  using tmp = tempDir();
  const target = join(tmp.path, "out");
  await assert.rejects(restorePath(target, narEntries(ReadableStream.from([bytes]))), NarError);
  assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound);
}

Deno.test("NAR tokens are the wire encoding of the grammar's words", () => {
  for (const w of NAR_WORDS) {
    const bytes = new TextEncoder().encode(w);
    const want = new Uint8Array(8 + Math.ceil(bytes.length / 8) * 8);
    new DataView(want.buffer).setBigUint64(0, BigInt(bytes.length), true);
    want.set(bytes, 8);
    assert.deepEqual(TOKENS[w], want, w);
  }
});

Deno.test("writeNar() then readNar() gives back the tree", async () => {
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const nar = await collect(writeNar(treeNode(tree)));
      const rebuilt: Record<string, Tree> = {};
      let root: Tree | undefined;
      for await (const e of readNar(new WireReader(ReadableStream.from([nar])))) {
        const t: Tree = e.type === "directory"
          ? { type: "dir", entries: {} }
          : e.type === "symlink"
          ? { type: "symlink", target: e.target }
          : { type: "file", executable: e.executable, data: await collect(e.contents) };
        if (e.path === "") root = t;
        else {
          const i = e.path.lastIndexOf("/");
          const parent = i < 0 ? root! : rebuilt[e.path.slice(0, i)]!;
          assert.equal(parent.type, "dir");
          if (parent.type === "dir") parent.entries[e.path.slice(i + 1)] = t;
        }
        rebuilt[e.path] = t;
      }
      assert.deepEqual(root, tree);
    }),
    { numRuns: 100 },
  );
});

Deno.test("readNar() leaves the reader just after the NAR and skips unread contents", async () => {
  const nar = raw(...dir(entry("a", ...file("skipped")), entry("b", ...file("read"))));
  const r = new WireReader(ReadableStream.from([raw(nar, encodeString("after"))]));
  const seen: string[] = [];
  for await (const e of readNar(r)) {
    if (e.type === "regular" && e.path === "b") {
      seen.push(new TextDecoder().decode(await collect(e.contents)));
    } else seen.push(e.path);
  }
  assert.deepEqual(seen, ["", "a", "read"]);
  assert.equal(await r.readString(10), "after");
});

Deno.test("writeNar() rejects unsorted entries, bad names and wrong sizes", async () => {
  const node = (entries: [string, Tree][]) =>
    writeNar({
      type: "directory",
      entries: async function* () {
        for (const [n, t] of entries) yield [n, treeNode(t)];
      },
    });
  const f: Tree = { type: "file", data: new Uint8Array([1]), executable: false };
  for (
    const [entries, re] of [
      [[["b", f], ["a", f]], /ascending/],
      [[["a", f], ["a", f]], /ascending/],
      [[["..", f]], /not allowed/],
      [[[".", f]], /not allowed/],
      [[["a/b", f]], /'\/'/],
      [[["a\0", f]], /NUL/],
      [[["", f]], /empty/],
    ] as [[string, Tree][], RegExp][]
  ) {
    await assert.rejects(
      collect(node(entries)),
      (e) => e instanceof NarError && re.test(e.message),
    );
  }
  const lying = (size: number, data: number) =>
    writeNar({
      type: "regular",
      executable: false,
      size,
      contents: async function* () {
        yield new Uint8Array(data);
      },
    });
  await assert.rejects(collect(lying(2, 3)), /more than its size/);
  await assert.rejects(collect(lying(4, 3)), /gave 3 bytes, not its size of 4/);
});

Deno.test("readNar() rejects a NAR truncated at any offset, naming the offset", async () => {
  const nar = raw(
    ...dir(entry("a", ...file("hello")), entry("b", "(", "type", "symlink", "target", "a", ")")),
  );
  assert.equal(await readAll(nar), undefined);
  for (let cut = 0; cut < nar.length; cut++) {
    const e = await readAll(nar.subarray(0, cut));
    assert.ok(e instanceof NarError, `cut at ${cut}: ${e}`);
    assert.ok(e.offset <= cut && e.offset >= 0, `cut at ${cut}: offset ${e.offset}`);
    assert.match(e.message, /ended/);
  }
});

Deno.test("readNar() rejects malformed NARs with the offset and entry", async () => {
  const header = raw("nix-archive-1").length;
  await assertNarError(raw("nix-archive-2", ...file("x")), 0, /expected "nix-archive-1"/);
  await assertNarError(
    raw("nix-archive-1", "(", "type", "fifo", ")"),
    header + 32,
    /unknown node type/,
  );
  await assertNarError(
    raw("nix-archive-1", "(", "type", "regular", "contents", 1n << 63n),
    header + 64,
    /above the limit/,
  );
  await assertNarError(raw("nix-archive-1", "(", 1n << 62n), header + 16, /above the limit/);
  // non-zero padding after "x"
  const bad = raw(...["nix-archive-1", ...file("x")]);
  bad[header + 64 + 8 + 2] = 7;
  await assertNarError(bad, header + 64 + 8 + 2, /padding/);
  await assertNarError(
    raw(...dir(entry("b", ...file("")), entry("a", ...file("")))),
    undefined,
    /entry "a".*ascending/,
  );
  await assertNarError(
    raw(...dir(entry("a", ...file("")), entry("a", ...file("")))),
    undefined,
    /duplicated/,
  );
  for (const name of ["..", ".", "a/b", "a\0b", ""]) {
    await assertNarError(
      raw(...dir(entry(name, ...file("")))),
      undefined,
      /not allowed|'\/'|NUL|empty/,
    );
  }
  await assertNarError(raw(...dir(), "trailing"), undefined, /bytes after the end/);
  await assertNarError(
    raw("nix-archive-1", "(", "type", "symlink", "target", "", ")"),
    undefined,
    /empty/,
  );
  await assertNarError(
    raw("nix-archive-1", "(", "type", "regular", "executable", "x", "contents", "", ")"),
    undefined,
    /executable/,
  );
  await assertNarError(
    raw("nix-archive-1", "(", "type", "regular", "size", "", ")"),
    undefined,
    /expected "contents"/,
  );
  await assertNarError(
    raw(
      "nix-archive-1",
      "(",
      "type",
      "directory",
      "entry",
      "(",
      "name",
      "a",
      "node",
      ...file(""),
      "extra",
      ")",
      ")",
    ),
    undefined,
    /expected "\)"/,
  );
});

Deno.test("readNar() throws only NarError on mutated input", async () => {
  const seed = raw(
    ...dir(
      entry("a", ...file("hello world")),
      entry("b", "(", "type", "symlink", "target", "a", ")"),
    ),
  );
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: 1, max: 64 }),
      async (flips, chunk) => {
        const bytes = seed.slice();
        for (const [i, v] of flips) bytes[i] = v;
        const e = await readAll(bytes, chunk);
        assert.ok(e === undefined || e instanceof NarError, `unexpected ${e}`);
      },
    ),
    { numRuns: 300 },
  );
});
