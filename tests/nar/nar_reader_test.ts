import assert from "node:assert/strict";
import fc from "fast-check";
import { join } from "node:path";
import { narEntries, type NarEntry, readNar } from "../../lib/nar/nar_reader.ts";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { MAX_DEPTH } from "../../lib/nar/tokens.ts";
import { restorePath } from "../../lib/store/restore_path.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { encodeString } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";
import { chunked, collect, raw, treeArb, treeNode } from "./_trees.ts";

type Part = string | Uint8Array | bigint;

const file = (data: string): Part[] => ["(", "type", "regular", "contents", data, ")"];
const link = (target: Part): Part[] => ["(", "type", "symlink", "target", target, ")"];
const entry = (
  name: Part,
  ...node: Part[]
): Part[] => ["entry", "(", "name", name, "node", ...node, ")"];
const dir = (...entries: Part[][]): Part[] => ["(", "type", "directory", ...entries.flat(), ")"];
const nar = (...node: Part[]): Part[] => ["nix-archive-1", ...node];

/** Byte offset of part `i` in the bytes of `parts`. */
const offsetOf = (parts: Part[], i: number) => raw(...parts.slice(0, i)).length;

/** Read all entries (and contents) of a NAR; return the error or undefined. */
async function readAll(bytes: Uint8Array, chunk = 7): Promise<unknown> {
  try {
    for await (const e of narEntries(chunked(bytes, chunk))) {
      if (e.type === "regular") await collect(e.contents);
    }
  } catch (e) {
    return e;
  }
  return undefined;
}

/** Restoring `bytes` fails and leaves nothing behind. */
async function assertRestoreFails(bytes: Uint8Array, tmp: string) {
  const target = join(tmp, "out");
  await assert.rejects(restorePath(target, narEntries(chunked(bytes, 5))), NarError);
  assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound);
}

Deno.test("readNar() leaves the reader just after the NAR and skips unread contents", async () => {
  const bytes = raw(...nar(...dir(entry("a", ...file("skipped")), entry("b", ...file("read")))));
  const r = new WireReader(chunked(raw(bytes, encodeString("after")), 3));
  const seen: string[] = [];
  for await (const e of readNar(r)) {
    if (e.type === "regular" && e.path === "b") {
      seen.push(new TextDecoder().decode(await collect(e.contents)));
    } else seen.push(e.path);
  }
  assert.deepEqual(seen, ["", "a", "read"]);
  assert.equal(await r.readString(10), "after");
});

Deno.test("readNar() reports where contents start and skips partly read contents", async () => {
  const data = "0123456789".repeat(100);
  const bytes = raw(...nar(...dir(entry("a", ...file(data)), entry("b", ...file("x")))));
  const got: [string, number | undefined, string][] = [];
  for await (const e of narEntries(chunked(bytes, 10))) {
    if (e.type !== "regular") continue;
    const it = e.contents[Symbol.asyncIterator]();
    const first = await it.next(); // one chunk only, then move on
    got.push([e.path, e.narOffset, new TextDecoder().decode(first.value as Uint8Array)]);
  }
  assert.equal(got.length, 2);
  assert.equal(
    got[0]![1],
    raw(...nar(..."( type directory entry ( name a node ( type regular contents".split(" ")))
      .length + 8,
  );
  assert.equal(
    bytes.subarray(got[0]![1]!, got[0]![1]! + 10).toString(),
    new TextEncoder().encode("0123456789").toString(),
  );
  assert.equal(got[1]![0], "b");
});

Deno.test("readNar() refuses contents read twice or after the next entry", async () => {
  const bytes = raw(...nar(...dir(entry("a", ...file("hello")), entry("b", ...file("world")))));
  const entries: NarEntry[] = [];
  for await (const e of narEntries(chunked(bytes, 4))) {
    entries.push(e);
    if (e.path === "a" && e.type === "regular") {
      const it = e.contents[Symbol.asyncIterator]();
      await it.next();
      assert.throws(() => e.contents[Symbol.asyncIterator](), /already read/);
    }
  }
  const a = entries[1]!;
  assert.equal(a.type, "regular");
  if (a.type === "regular") {
    // a fresh iteration is refused too, and nothing was read from b's bytes
    await assert.rejects(collect(a.contents), /already read|moved on/);
  }
  const stale: NarEntry[] = [];
  const r = narEntries(chunked(bytes, 4));
  for await (const e of r) stale.push(e);
  const first = stale[1]!;
  if (first.type === "regular") await assert.rejects(collect(first.contents), /moved on/);
});

Deno.test("readNar() is poisoned by an error in the contents", async () => {
  const bytes = raw(...nar(...dir(entry("a", ...file("hello world")))));
  const cut = bytes.subarray(0, bytes.length - 60); // 4 bytes into the contents
  const gen = narEntries(chunked(cut, 8));
  let contentsError: unknown;
  let nextError: unknown;
  try {
    for await (const e of gen) {
      if (e.type === "regular") {
        contentsError = await collect(e.contents).catch((x) => x);
      }
    }
  } catch (x) {
    nextError = x;
  }
  assert.ok(contentsError instanceof NarError, String(contentsError));
  assert.match(contentsError.message, /entry "a"\): the stream ended/);
  assert.equal(nextError, contentsError);
});

Deno.test("readNar() reads straight from writeNar(), whose buffers are reused", async () => {
  // Names are kept across chunks for the order check: the reader must copy them.
  const names = Array.from(
    { length: 6000 },
    (_, i) => `name-${String(i).padStart(5, "0")}-${"x".repeat(i % 50)}`,
  );
  const node: NarNode = {
    type: "directory",
    entries: function* () {
      for (const n of names) {
        yield [n, {
          type: "regular",
          executable: false,
          size: 3,
          contents: () => [new Uint8Array(3)],
        }];
      }
    },
  };
  let n = 0;
  for await (const e of readNar(new WireReader(writeNar(node)))) if (e.type === "regular") n++;
  assert.equal(n, names.length);
});

Deno.test("readNar() rejects a NAR truncated at any offset, and restorePath() leaves nothing", async () => {
  using tmp = tempDir();
  const bytes = raw(
    ...nar(...dir(
      entry("a", ...file("hello")),
      entry("b", ...link("a")),
      entry("c", ...dir(entry("d", "(", "type", "regular", "executable", "", "contents", "", ")"))),
    )),
  );
  assert.equal(await readAll(bytes), undefined);
  for (let cut = 0; cut < bytes.length; cut++) {
    const e = await readAll(bytes.subarray(0, cut), 1 + (cut % 9));
    assert.ok(e instanceof NarError, `cut at ${cut}: ${e}`);
    assert.ok(e.offset <= cut && e.offset >= 0, `cut at ${cut}: offset ${e.offset}`);
    assert.match(e.message, /the stream ended/);
    await assertRestoreFails(bytes.subarray(0, cut), tmp.path);
  }
});

Deno.test("readNar() rejects malformed NARs with the offset and entry, restorePath() leaves nothing", async () => {
  using tmp = tempDir();
  const nested = (...node: Part[]) => nar(...dir(entry("d", ...dir(entry("e", ...node)))));
  // [parts, index of the part at fault, entry path, message]
  const cases: [Part[], number, string, RegExp][] = [
    [["nix-archive-2", ...file("x")], 0, "", /expected "nix-archive-1", found "nix-archive-2"/],
    [["nix-archive", ...file("x")], 0, "", /expected "nix-archive-1"/],
    [[1n << 63n], 0, "", /the length of a keyword is 9223372036854775808, above the limit of 32/],
    [nar("(", 1n << 62n), 2, "", /above the limit/],
    [nar("(", "type", "fifo", ")"), 3, "", /unknown node type "fifo"/],
    [nar("(", "kind", "regular"), 2, "", /expected "type", found "kind"/],
    [nar("type"), 1, "", /expected "\(", found "type"/],
    [
      nar("(", "type", "regular", "contents", 1n << 63n),
      5,
      "",
      /file size is 9223372036854775808, above the limit of 9007199254740991/,
    ],
    [nar("(", "type", "regular", "contents", 1n << 53n), 5, "", /file size is 9007199254740992/],
    [nar("(", "type", "regular", "size", "", ")"), 4, "", /expected "contents", found "size"/],
    [
      nar("(", "type", "regular", "executable", "x", "contents", "", ")"),
      5,
      "",
      /expected "" after "executable", found "x"/,
    ],
    [
      nar("(", "type", "regular", "executable", "", "executable", "", "contents", "", ")"),
      6,
      "",
      /expected "contents", found "executable"/,
    ],
    [
      nar("(", "type", "regular", "contents", "x", "extra", ")"),
      6,
      "",
      /expected "\)", found "extra"/,
    ],
    [nar(...link("")), 5, "", /symlink target is empty/],
    [nar(...link("a\0b")), 5, "", /symlink target contains a NUL byte/],
    [
      nar(...link("t".repeat(4096))),
      5,
      "",
      /the length of a symlink target is 4096, above the limit of 4095/,
    ],
    [
      nar(...link(new Uint8Array([2, 0, 0, 0, 0, 0, 0, 0, 0xc3, 0x28, 0, 0, 0, 0, 0, 0]))),
      5,
      "",
      /a symlink target "\\xc3\(" is not valid UTF-8/,
    ],
    [
      nar("(", "type", "symlink", "target", "a", "extra", ")"),
      6,
      "",
      /expected "\)", found "extra"/,
    ],
    [nar("(", "type", "symlink", "dest", "a", ")"), 4, "", /expected "target", found "dest"/],
    [
      nar(...dir(entry("b", ...file("")), entry("a", ...file("")))),
      19,
      "a",
      /directory entries are not in ascending order \("b" comes first\)/,
    ],
    [
      nar(...dir(entry("a", ...file("")), entry("a", ...file("")))),
      19,
      "a",
      /a directory entry is duplicated/,
    ],
    [
      nar(...dir(entry("a", ...file("")), entry("B", ...file("")))),
      19,
      "B",
      /not in ascending order/,
    ],
    [nar(...dir(entry("..", ...file("")))), 7, "", /the entry name "\.\." is not allowed/],
    [nar(...dir(entry(".", ...file("")))), 7, "", /the entry name "\." is not allowed/],
    [nar(...dir(entry("a/b", ...file("")))), 7, "", /an entry name contains '\/'/],
    [nar(...dir(entry("a\0b", ...file("")))), 7, "", /an entry name contains a NUL byte/],
    [nar(...dir(entry("", ...file("")))), 7, "", /an entry name is empty/],
    [
      nar(...dir(entry("x".repeat(256), ...file("")))),
      7,
      "",
      /the length of an entry name is 256, above the limit of 255/,
    ],
    [
      nar(
        ...dir(
          entry(new Uint8Array([1, 0, 0, 0, 0, 0, 0, 0, 0xff, 0, 0, 0, 0, 0, 0, 0]), ...file("")),
        ),
      ),
      7,
      "\\xff",
      /the entry name "\\xff" is not valid UTF-8 \(names are handled as text, so it cannot be restored\)/,
    ],
    // a node where an entry must be: a symlink that is not an entry
    [nar(...dir(link("a"))), 4, "", /expected "entry" or "\)", found "\("/],
    [
      nar(...dir(["entry", "(", "name", "a", "nod", ...file("")])),
      8,
      "a",
      /expected "node", found "nod"/,
    ],
    [nar(...dir(["entry", "(", "label", "a"])), 6, "", /expected "name", found "label"/],
    [
      nar(...dir(["entry", "(", "name", "a", "node", ...file(""), "extra", ")"])),
      15,
      "a",
      /expected "\)", found "extra"/,
    ],
    [
      nested("(", "type", "regular", "contents", "", "oops"),
      22,
      "d/e",
      /expected "\)", found "oops"/,
    ],
    [nested(...dir(entry("z", ...file("")), entry("y", ...file("")))), 35, "d/e/y", /ascending/],
  ];
  for (const [parts, i, path, re] of cases) {
    const bytes = raw(...parts);
    const e = await readAll(bytes);
    const label = `${re} (${parts.slice(0, 8).map(String).join(" ")}...)`;
    assert.ok(e instanceof NarError, `${label}: got ${e}`);
    assert.match(e.message, re, label);
    assert.equal(e.path, path, label);
    assert.equal(e.offset, offsetOf(parts, i), `${label}: ${e.message}`);
    await assertRestoreFails(bytes, tmp.path);
  }
});

Deno.test("readNar() rejects bad padding at the byte, and bytes after the NAR", async () => {
  using tmp = tempDir();
  const parts = nar(...dir(entry("a", ...file("x"))));
  const good = raw(...parts);
  // padding after the name "a", after the contents "x", after a keyword
  for (const [i, within] of [[7, 8 + 1], [14, 8 + 1 + 6], [1, 8 + 1 + 6]] as const) {
    const bad = good.slice();
    const at = offsetOf(parts, i) + within;
    bad[at] = 1;
    const e = await readAll(bad);
    assert.ok(e instanceof NarError, String(e));
    assert.match(e.message, /padding byte is not zero/);
    assert.equal(e.offset, at);
    await assertRestoreFails(bad, tmp.path);
  }
  const trailing = raw(good, "x");
  const e = await readAll(trailing);
  assert.ok(e instanceof NarError);
  assert.match(e.message, /there are bytes after the end of the archive/);
  assert.equal(e.offset, good.length);
  await assertRestoreFails(trailing, tmp.path);
});

Deno.test("readNar() limits the nesting depth", async () => {
  const parts: Part[] = ["nix-archive-1"];
  for (let i = 0; i <= MAX_DEPTH; i++) {
    parts.push("(", "type", "directory", "entry", "(", "name", "d", "node");
  }
  const e = await readAll(raw(...parts), 4096);
  assert.ok(e instanceof NarError);
  assert.match(e.message, /nested deeper than 2048/);
  assert.equal(e.path.split("/").length, MAX_DEPTH);
});

Deno.test("readNar() throws only NarError on mutated or random input", async () => {
  const seed = raw(...nar(...dir(
    entry("a", ...file("hello world")),
    entry("b", ...link("a")),
    entry("c", ...dir(entry("d", ...file("")))),
  )));
  await fc.assert(
    fc.asyncProperty(
      fc.array(fc.tuple(fc.nat(seed.length - 1), fc.integer({ min: 0, max: 255 })), {
        minLength: 1,
        maxLength: 4,
      }),
      fc.integer({ min: 1, max: 64 }),
      fc.nat(seed.length),
      async (flips, chunk, cut) => {
        const bytes = seed.slice(0, Math.max(cut, seed.length - 16));
        for (const [i, v] of flips) if (i < bytes.length) bytes[i] = v;
        const e = await readAll(bytes, chunk);
        assert.ok(e === undefined || e instanceof NarError, `unexpected ${e}`);
      },
    ),
    { numRuns: 300 },
  );
  await fc.assert(
    fc.asyncProperty(treeArb, fc.nat(), fc.nat(), async (tree, where, value) => {
      const bytes = await collect(writeNar(treeNode(tree)));
      bytes[where % bytes.length] = value & 0xff;
      const e = await readAll(bytes, 1 + (value % 100));
      assert.ok(e === undefined || e instanceof NarError, `unexpected ${e}`);
    }),
    { numRuns: 100 },
  );
  await fc.assert(
    fc.asyncProperty(fc.uint8Array({ maxLength: 300 }), async (bytes) => {
      const e = await readAll(raw("nix-archive-1", bytes));
      assert.ok(e instanceof NarError, `unexpected ${e}`);
    }),
    { numRuns: 100 },
  );
});
