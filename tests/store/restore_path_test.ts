import assert from "node:assert/strict";
import { join } from "node:path";
import { RestoreError, restorePath } from "../../lib/store/restore_path.ts";
import type { NarEntry } from "../../lib/nar/nar_reader.ts";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import { writeNar } from "../../lib/nar/nar_writer.ts";
import { tempDir } from "../_helpers/nix.ts";
import fc from "fast-check";
import { canonicalisePath, makeWritable } from "../../lib/store/canonicalise.ts";
import { dumpPath } from "../../lib/store/dump_path.ts";
import {
  canonical,
  chunked,
  collect,
  type Tree,
  treeArb,
  treeNode,
  treeOfEntries,
} from "../nar/_trees.ts";

const dir = (path: string): NarEntry => ({ path, type: "directory" });
const link = (path: string, target: string): NarEntry => ({ path, type: "symlink", target });
const file = (path: string, text: string, executable = false): NarEntry => {
  const data = new TextEncoder().encode(text);
  return {
    path,
    type: "regular",
    executable,
    size: data.length,
    narOffset: 0,
    contents: (async function* () {
      yield data;
    })(),
  };
};
async function* from(entries: NarEntry[]): AsyncGenerator<NarEntry> {
  yield* entries;
}

function listAll(root: string): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(root)) {
    out.push(e.name);
    if (e.isDirectory) out.push(...listAll(join(root, e.name)).map((n) => `${e.name}/${n}`));
  }
  return out.sort();
}

Deno.test("restorePath() creates files, executables, symlinks and directories with Nix's modes", async () => {
  using tmp = tempDir();
  const target = join(tmp.path, "t");
  await restorePath(
    target,
    from([
      dir(""),
      file("a", "x"),
      dir("d"),
      file("d/e", "#!", true),
      link("d/l", "../a"),
      dir("z"),
    ]),
  );
  const umask = Deno.umask();
  const mode = (p: string) => Deno.lstatSync(join(target, p)).mode! & 0o7777;
  assert.equal(mode(""), 0o777 & ~umask);
  assert.equal(mode("a"), 0o666 & ~umask);
  assert.equal(mode("d/e"), (0o666 & ~umask) | 0o111);
  assert.equal(Deno.readLinkSync(join(target, "d/l")), "../a");
  assert.equal(Deno.readTextFileSync(join(target, "d/e")), "#!");
  assert.deepEqual(listAll(target), ["a", "d", "d/e", "d/l", "z"]);
});

Deno.test("restorePath() refuses an existing target and leaves it alone", async () => {
  using tmp = tempDir();
  const existing = {
    dir: () => Deno.mkdirSync(join(tmp.path, "dir")),
    file: () => Deno.writeTextFileSync(join(tmp.path, "file"), "keep"),
    dangling: () => Deno.symlinkSync(join(tmp.path, "nowhere"), join(tmp.path, "dangling")),
  };
  for (const [name, make] of Object.entries(existing)) {
    make();
    for (const root of [dir(""), file("", "new"), link("", "x")]) {
      await assert.rejects(
        restorePath(join(tmp.path, name), from([root, file("a", "x")])),
        (e) => e instanceof RestoreError && /already exists/.test(e.message),
      );
    }
  }
  assert.deepEqual(listAll(tmp.path), ["dangling", "dir", "file"]);
  assert.equal(Deno.readTextFileSync(join(tmp.path, "file")), "keep");
  assert.throws(() => Deno.lstatSync(join(tmp.path, "nowhere")), Deno.errors.NotFound);
});

Deno.test("restorePath() never writes outside the target, whatever the entries say", async () => {
  using tmp = tempDir();
  const outside = join(tmp.path, "outside");
  Deno.mkdirSync(outside);
  const target = join(tmp.path, "t");
  const hostile: [string, NarEntry[]][] = [
    ["dotdot", [dir(""), file("../x", "x")]],
    ["dotdot below", [dir(""), dir("a"), file("a/../../x", "x")]],
    ["absolute", [dir(""), file("/x", "x")]],
    ["through a symlink", [dir(""), link("l", outside), file("l/x", "x")]],
    ["through a symlink dir", [dir(""), link("l", outside), dir("l/x")]],
    ["below a file root", [file("", "x"), file("x", "x")]],
    ["missing parent", [dir(""), dir("a"), file("b/c", "x")]],
    ["parent closed", [dir(""), dir("a"), dir("b"), file("a/c", "x")]],
    ["dot", [dir(""), file(".", "x")]],
    ["empty name", [dir(""), file("a/", "x")]],
    ["root twice", [dir(""), dir("")]],
    ["no root", [file("a", "x")]],
    ["no entries", []],
    ["duplicate", [dir(""), file("a", "x"), file("a", "y")]],
  ];
  for (const [name, entries] of hostile) {
    await assert.rejects(restorePath(target, from(entries)), Error, name);
    assert.throws(() => Deno.lstatSync(target), Deno.errors.NotFound, name);
    assert.deepEqual(listAll(outside), [], name);
    assert.deepEqual(listAll(tmp.path), ["outside"], name);
  }
});

Deno.test("restorePath() removes everything it made when the entries fail", async () => {
  using tmp = tempDir();
  const target = join(tmp.path, "t");
  const boom = new Error("boom");
  async function* failing(): AsyncGenerator<NarEntry> {
    yield dir("");
    yield dir("a");
    yield file("a/f", "data", true);
    yield dir("a/b");
    throw boom;
  }
  await assert.rejects(restorePath(target, failing()), (e) => e === boom);
  assert.deepEqual(listAll(tmp.path), []);
  // canonical: a directory already made read-only goes too
  async function* failingLater(): AsyncGenerator<NarEntry> {
    yield* failing();
  }
  async function* closedThenFailing(): AsyncGenerator<NarEntry> {
    yield dir("");
    yield dir("a");
    yield file("a/f", "data", true);
    yield dir("b");
    throw boom;
  }
  for (const entries of [failingLater(), closedThenFailing()]) {
    await assert.rejects(restorePath(target, entries, { canonical: true }), (e) => e === boom);
    assert.deepEqual(listAll(tmp.path), []);
  }

  // a failure in the middle of a file's contents
  const nar = writeNar({
    type: "directory",
    entries: () => [["f", {
      type: "regular",
      executable: false,
      size: 10,
      contents: async function* () {
        yield new Uint8Array(5);
        throw boom;
      },
    }]],
  });
  await assert.rejects(restorePath(target, narEntries(nar)), (e) => e === boom);
  assert.deepEqual(listAll(tmp.path), []);
});

/** Every entry under `root` (itself included) with its mode, times and contents, by relative path. */
function snapshot(root: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (p: string, rel: string) => {
    const st = Deno.lstatSync(p);
    const what = st.isSymlink
      ? `link ${Deno.readLinkSync(p)}`
      : st.isFile
      ? `file ${Array.from(Deno.readFileSync(p)).join(",")}`
      : "dir";
    out[rel] = `${what} mode ${(st.mode! & 0o7777).toString(8)} mtime ${
      st.mtime!.getTime()
    } atime ${st.atime!.getTime()}`;
    if (st.isDirectory) {
      for (const e of Deno.readDirSync(p)) walk(join(p, e.name), `${rel}/${e.name}`);
    }
  };
  walk(root, "");
  return out;
}

Deno.test("a canonical restore leaves what a restore then canonicalisePath leave, for any tree", async () => {
  using tmp = tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const a = join(tmp.path, `a${n}`), b = join(tmp.path, `b${n++}`);
      await restorePath(a, narEntries(writeNar(treeNode(tree))), { canonical: true });
      await restorePath(b, narEntries(writeNar(treeNode(tree))));
      canonicalisePath(b);
      assert.deepEqual(snapshot(a), snapshot(b));
      assert.deepEqual(await treeOfEntries(narEntries(dumpPath(a))), canonical(tree));
      makeWritable(a), makeWritable(b);
      Deno.removeSync(a, { recursive: true }), Deno.removeSync(b, { recursive: true });
    }),
    { numRuns: 60 },
  );
});

Deno.test("a canonical restore gives 0444/0555 under a umask that takes those bits, even the owner's", async () => {
  using tmp = tempDir();
  const target = join(tmp.path, "t");
  const code = `import { restorePath } from ${
    JSON.stringify(new URL("../../lib/store/restore_path.ts", import.meta.url).href)
  };
const e = (path, type, more = {}) => ({ path, type, ...more });
async function* entries() {
  yield e("", "directory");
  for (const [name, executable] of [["d/g", false], ["f", false], ["x", true]]) {
    if (name === "d/g") yield e("d", "directory");
    yield e(name, "regular", { executable, size: 1, narOffset: 0, contents: (async function* () { yield new Uint8Array([1]); })() });
  }
}
await restorePath(${JSON.stringify(target)}, entries(), { canonical: true });`;
  const out = await new Deno.Command("sh", {
    args: ["-c", `umask 0277 && exec "$0" eval --no-config -A "$1"`, Deno.execPath(), code],
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  const mode = (p: string) => Deno.lstatSync(join(target, p)).mode! & 0o7777;
  assert.deepEqual([mode(""), mode("d"), mode("d/g"), mode("f"), mode("x")], [
    0o555,
    0o555,
    0o444,
    0o444,
    0o555,
  ]);
  makeWritable(target);
});

Deno.test("restorePath() writes the same files however the NAR is cut, large files too", async () => {
  using tmp = tempDir();
  const big = (n: number, seed: number) =>
    Uint8Array.from({ length: n }, (_, i) => (i * seed) & 0xff);
  const bigFiles = fc.record({
    a: fc.integer({ min: 0, max: 700_000 }),
    b: fc.integer({ min: 0, max: 300_000 }),
  }).map(({ a, b }): Tree => ({
    type: "dir",
    entries: {
      a: { type: "file", data: big(a, 7), executable: false },
      b: { type: "file", data: big(b, 13), executable: true },
      c: { type: "file", data: big(100, 3), executable: false },
    },
  }));
  let n = 0;
  await fc.assert(
    fc.asyncProperty(
      fc.oneof(treeArb, bigFiles),
      fc.integer({ min: 1, max: 300_000 }),
      async (tree, cut) => {
        const nar = await collect(writeNar(treeNode(tree)));
        const target = join(tmp.path, `t${n++}`);
        await restorePath(target, narEntries(chunked(nar, cut)), { canonical: n % 2 === 0 });
        assert.deepEqual(await collect(dumpPath(target)), nar);
        makeWritable(target);
        Deno.removeSync(target, { recursive: true });
      },
    ),
    { numRuns: 40 },
  );
});
