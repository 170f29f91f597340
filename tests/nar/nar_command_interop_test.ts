import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, tempDir } from "../_helpers/nix.ts";
import { pattern, writeTree } from "./_trees.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";

const buildhost = (args: string[], stdin?: Uint8Array) =>
  runBuildhost(args, stdin ? { stdin } : {});

Deno.test("buildhost nar dump / restore / ls match nix-store and nix nar ls", async () => {
  using tmp = tempDir();
  const src = join(tmp.path, "src");
  writeTree(src, {
    type: "dir",
    entries: {
      "bin": {
        type: "dir",
        entries: { "hello": { type: "file", data: pattern(300_000, 1), executable: true } },
      },
      "README": { type: "file", data: new TextEncoder().encode("hi\n"), executable: false },
      "link": { type: "symlink", target: "bin/hello" },
      "10": { type: "dir", entries: {} },
      "9": { type: "file", data: new Uint8Array(), executable: false },
    },
  });
  const want = (await nix("nix-store", ["--dump", src])).bytes;

  const dump = await buildhost(["nar", "dump", src]);
  assert.equal(dump.code, 0, dump.stderr);
  assert.deepEqual(dump.bytes, want);

  const out = join(tmp.path, "restored");
  const restore = await buildhost(["nar", "restore", out], want);
  assert.equal(restore.code, 0, restore.stderr);
  assert.deepEqual((await nix("nix-store", ["--dump", out])).bytes, want);

  const narFile = join(tmp.path, "src.nar");
  Deno.writeFileSync(narFile, want);
  const ls = await buildhost(["nar", "ls"], want);
  assert.equal(ls.code, 0, ls.stderr);
  assert.deepEqual(ls.bytes, (await nix("nix", ["nar", "ls", "-R", "-l", narFile, "/"])).bytes);
  const json = await buildhost(["nar", "ls", "--json"], want);
  assert.equal(json.code, 0, json.stderr);
  assert.deepEqual(
    json.bytes,
    (await nix("nix", ["nar", "ls", "--json", "-R", narFile, "/"])).bytes,
  );
});

Deno.test("buildhost nar restore / ls fail on a bad NAR and leave nothing", async () => {
  using tmp = tempDir();
  const src = join(tmp.path, "f");
  Deno.writeTextFileSync(src, "data");
  const good = (await nix("nix-store", ["--dump", src])).bytes;
  const bad = good.slice(0, good.length - 20);
  const out = join(tmp.path, "out");
  const r = await buildhost(["nar", "restore", out], bad);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /^error: Cannot read NAR at byte \d+ \(entry ""\): the stream ended/);
  assert.throws(() => Deno.lstatSync(out), Deno.errors.NotFound);

  const trailing = await buildhost(["nar", "ls"], new Uint8Array([...good, 1, 2, 3]));
  assert.equal(trailing.code, 1);
  assert.match(trailing.stderr, /bytes after the end of the archive/);
  assert.equal(trailing.bytes.length, 0);

  const exists = await buildhost(["nar", "restore", src], good);
  assert.equal(exists.code, 1);
  assert.match(exists.stderr, /already exists/);
  assert.equal(Deno.readTextFileSync(src), "data");

  const usage = await buildhost(["nar", "dump"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: buildhost nar/);
});
