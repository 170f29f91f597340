import assert from "node:assert/strict";
import fc from "fast-check";
import { join } from "node:path";
import { dumpPath } from "../../lib/store/dump_path.ts";
import { restorePath } from "../../lib/store/restore_path.ts";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import { listNar } from "../../lib/nar/nar_listing.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { HashSink } from "../../lib/hash/hash.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { collect, treeArb, writeTree } from "./_trees.ts";

/** Modes and types of every path below `root`, for comparing restored trees. */
function describe(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = Deno.lstatSync(p);
    const kind = st.isSymlink ? "l" : st.isDirectory ? "d" : "f";
    out.push(`${rel} ${kind} ${(st.mode! & 0o7777).toString(8)}`);
    if (st.isDirectory) {
      for (const e of [...Deno.readDirSync(p)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        walk(join(p, e.name), `${rel}/${e.name}`);
      }
    }
  };
  walk(root, ".");
  return out;
}

Deno.test("dumpPath() gives the bytes of nix-store --dump for random trees", async () => {
  using tmp = tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const dir = join(tmp.path, `t${n++}`);
      writeTree(dir, tree);
      const want = (await nix("nix-store", ["--dump", dir])).bytes;
      assert.deepEqual(await collect(dumpPath(dir)), want);
    }),
    { numRuns: 25 },
  );
});

Deno.test("dumpPath() of files, symlinks and empty dirs at the top equals Nix's", async () => {
  using tmp = tempDir();
  const cases: Record<string, () => void> = {
    "empty-file": () => Deno.writeFileSync(join(tmp.path, "empty-file"), new Uint8Array()),
    "exe": () => Deno.writeFileSync(join(tmp.path, "exe"), new Uint8Array([1]), { mode: 0o755 }),
    "link": () => Deno.symlinkSync("/does/not/exist", join(tmp.path, "link")),
    "empty-dir": () => Deno.mkdirSync(join(tmp.path, "empty-dir")),
  };
  for (const [name, make] of Object.entries(cases)) {
    make();
    const p = join(tmp.path, name);
    const want = (await nix("nix-store", ["--dump", p])).bytes;
    assert.deepEqual(await collect(dumpPath(p)), want, name);
  }
});

Deno.test("dumpPath() hashes like nix-hash --type sha256 for every hash type", async () => {
  using tmp = tempDir();
  const dir = join(tmp.path, "t");
  writeTree(dir, {
    type: "dir",
    entries: {
      "a": { type: "file", data: new TextEncoder().encode("hello\n"), executable: false },
      "b": { type: "symlink", target: "a" },
      "c": { type: "dir", entries: {} },
    },
  });
  for (const algo of ["md5", "sha1", "sha256", "sha512"] as const) {
    const want = (await nix("nix-hash", ["--type", algo, "--base32", dir])).text;
    const sink = new HashSink(algo);
    for await (const c of dumpPath(dir)) sink.write(c);
    assert.equal(sink.digest().toString("base32"), want, algo);
  }
});

Deno.test("restorePath() of Nix's NARs matches nix-store --restore", async () => {
  using tmp = tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const src = join(tmp.path, `src${n}`);
      writeTree(src, tree);
      const nar = (await nix("nix-store", ["--dump", src])).bytes;
      const theirs = join(tmp.path, `nix${n}`);
      await nix("nix-store", ["--restore", theirs], { stdin: nar });
      const ours = join(tmp.path, `ours${n++}`);
      await restorePath(ours, narEntries(ReadableStream.from([nar])));
      assert.deepEqual(describe(ours), describe(theirs));
      assert.deepEqual(await collect(dumpPath(ours)), nar);
    }),
    { numRuns: 15 },
  );
});

Deno.test("listNar() equals nix nar ls --json -R", async () => {
  using tmp = tempDir();
  const dir = join(tmp.path, "t");
  writeTree(dir, {
    type: "dir",
    entries: {
      "x": { type: "file", data: new Uint8Array(13), executable: true },
      "y": { type: "dir", entries: { "z": { type: "symlink", target: "../x" } } },
      "e": { type: "file", data: new Uint8Array(), executable: false },
    },
  });
  const narFile = join(tmp.path, "t.nar");
  Deno.writeFileSync(narFile, await collect(dumpPath(dir)));
  const want = JSON.parse((await nix("nix", ["nar", "ls", "--json", "-R", narFile, "/"])).text);
  const got = await listNar(new WireReader(ReadableStream.from([Deno.readFileSync(narFile)])));
  assert.deepEqual(got, want);
});

Deno.test("a file over 64 MiB dumps and restores with Nix's hash in bounded memory", async () => {
  using tmp = tempDir();
  const big = join(tmp.path, "big");
  {
    using f = Deno.openSync(big, { write: true, create: true });
    const block = new Uint8Array(1 << 20);
    for (let i = 0; i < 65; i++) {
      block.fill(i * 7 + 1);
      block[i] = 0;
      f.writeSync(block);
    }
  }
  const want = (await nix("nix-hash", ["--type", "sha256", "--base32", big])).text;
  const sink = new HashSink("sha256");
  for await (const c of dumpPath(big)) sink.write(c);
  assert.equal(sink.digest().toString("base32"), want);
  assert.ok(sink.size > 65 * (1 << 20));

  const copy = join(tmp.path, "copy");
  await restorePath(copy, narEntries(dumpPath(big)));
  assert.equal((await nix("nix-hash", ["--type", "sha256", "--base32", copy])).text, want);
});
