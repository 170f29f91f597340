import assert from "node:assert/strict";
import fc from "fast-check";
import { join } from "node:path";
import { createHash } from "node:crypto";
import { dumpPath } from "../../lib/store/dump_path.ts";
import { restorePath } from "../../lib/store/restore_path.ts";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import { writeNar } from "../../lib/nar/nar_writer.ts";
import { Hash, HashSink } from "../../lib/hash/hash.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { collect, treeArb, treeNode, writeTree } from "./_trees.ts";

/** Type, mode and contents hash of every path below `root`, for comparing trees. */
function describe(root: string): string[] {
  const out: string[] = [];
  const walk = (p: string, rel: string) => {
    const st = Deno.lstatSync(p);
    const kind = st.isSymlink ? `l ${Deno.readLinkSync(p)}` : st.isDirectory ? "d" : "f";
    const data = st.isFile ? createHash("sha256").update(Deno.readFileSync(p)).digest("hex") : "";
    out.push(`${rel} ${kind} ${(st.mode! & 0o7777).toString(8)} ${data}`);
    if (st.isDirectory) {
      for (const e of [...Deno.readDirSync(p)].sort((a, b) => a.name < b.name ? -1 : 1)) {
        walk(join(p, e.name), `${rel}/${e.name}`);
      }
    }
  };
  walk(root, ".");
  return out;
}

Deno.test("dumpPath() gives the bytes of nix-store --dump and the hash of nix-hash for random trees", async () => {
  using tmp = tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const dir = join(tmp.path, `t${n++}`);
      writeTree(dir, tree);
      const want = (await nix("nix-store", ["--dump", dir])).bytes;
      assert.deepEqual(await collect(dumpPath(dir)), want);
      const hash = (await nix("nix-hash", ["--type", "sha256", "--base32", dir])).text;
      const sink = new HashSink("sha256");
      for await (const c of dumpPath(dir)) sink.write(c);
      assert.equal(sink.digest().toString("base32"), hash);
    }),
    { numRuns: 25 },
  );
});

Deno.test("dumpPath() of files, symlinks and empty dirs at the top equals Nix's", async () => {
  using tmp = tempDir();
  const cases: Record<string, () => void> = {
    "empty-file": () => Deno.writeFileSync(join(tmp.path, "empty-file"), new Uint8Array()),
    "exe": () => Deno.writeFileSync(join(tmp.path, "exe"), new Uint8Array([1]), { mode: 0o755 }),
    "owner-only-exe": () => {
      Deno.writeFileSync(join(tmp.path, "owner-only-exe"), new Uint8Array([1]));
      Deno.chmodSync(join(tmp.path, "owner-only-exe"), 0o700);
    },
    "group-exe": () => {
      Deno.writeFileSync(join(tmp.path, "group-exe"), new Uint8Array([1]));
      Deno.chmodSync(join(tmp.path, "group-exe"), 0o671);
    },
    "link": () => Deno.symlinkSync("/does/not/exist", join(tmp.path, "link")),
    "link-to-dir": () => Deno.symlinkSync(tmp.path, join(tmp.path, "link-to-dir")),
    "empty-dir": () => Deno.mkdirSync(join(tmp.path, "empty-dir")),
    "read-only-dir": () => {
      Deno.mkdirSync(join(tmp.path, "read-only-dir/sub"), { recursive: true });
      Deno.writeTextFileSync(join(tmp.path, "read-only-dir/sub/f"), "f");
      Deno.chmodSync(join(tmp.path, "read-only-dir/sub"), 0o555);
    },
  };
  for (const [name, make] of Object.entries(cases)) {
    make();
    const p = join(tmp.path, name);
    const want = (await nix("nix-store", ["--dump", p])).bytes;
    assert.deepEqual(await collect(dumpPath(p)), want, name);
  }
});

Deno.test("dumpPath() hashes like nix-hash for every hash type", async () => {
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

Deno.test("restorePath() of Nix's NARs matches nix-store --restore, and re-dumps the same", async () => {
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

Deno.test("writeNar() output is accepted by nix-store --restore and dumped back the same", async () => {
  using tmp = tempDir();
  let n = 0;
  await fc.assert(
    fc.asyncProperty(treeArb, async (tree) => {
      const nar = await collect(writeNar(treeNode(tree)));
      const out = join(tmp.path, `r${n++}`);
      await nix("nix-store", ["--restore", out], { stdin: nar });
      assert.deepEqual((await nix("nix-store", ["--dump", out])).bytes, nar);
    }),
    { numRuns: 15 },
  );
});

Deno.test("a 65 MiB file dumps with Nix's hash and round-trips through restorePath()", async () => {
  using tmp = tempDir();
  const big = join(tmp.path, "big");
  const size = 65 * (1 << 20) + 12_345; // not a multiple of the read size, nor of 8
  {
    using f = Deno.openSync(big, { write: true, create: true });
    const block = new Uint8Array(1 << 20);
    for (let i = 0, left = size; left > 0; i++) {
      block.fill(i * 7 + 1);
      block[i] = 0;
      const n = Math.min(left, block.length);
      f.writeSync(block.subarray(0, n));
      left -= n;
    }
  }
  Deno.chmodSync(big, 0o755);
  const want = (await nix("nix-hash", ["--type", "sha256", "--base32", big])).text;
  const sink = new HashSink("sha256");
  for await (const c of dumpPath(big)) sink.write(c);
  assert.equal(sink.digest().toString("base32"), want);
  // "nix-archive-1" "(" "type" "regular" "executable" "" "contents" SIZE data pad ")"
  assert.equal(sink.size, 56 + 64 + 8 + size + (8 - (size % 8)) + 16);

  // Dump straight into restore: contents stream through without being held.
  const copy = join(tmp.path, "copy");
  await restorePath(copy, narEntries(dumpPath(big)));
  assert.equal((await nix("nix-hash", ["--type", "sha256", "--base32", copy])).text, want);
  assert.equal(Deno.statSync(copy).mode! & 0o777, 0o755);
  const flat = createHash("sha256");
  for await (const c of (await Deno.open(copy)).readable) flat.update(c);
  const wantFlat = (await nix("nix-hash", ["--type", "sha256", "--flat", "--base32", big])).text;
  assert.equal(new Hash("sha256", flat.digest()).toString("base32"), wantFlat);
});
