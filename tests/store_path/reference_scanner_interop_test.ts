import assert from "node:assert/strict";
import { join } from "node:path";
import { StorePath } from "../../lib/store_path/store_path.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

import { scan } from "./_chunked_scan.ts";
Deno.test("ReferenceScanner finds the references Nix registers for a build output", async () => {
  using store = tempDir();
  using dir = tempDir();
  const file = join(dir.path, "refs.nix");
  // The output refers to dep1 (in a file), dep2 (only as a symlink target) and
  // itself; dep3 is an input that the output does not mention.
  await Deno.writeTextFile(
    file,
    `let
      dep1 = builtins.toFile "dep1" "one";
      dep2 = builtins.toFile "dep2" "two";
      dep3 = builtins.toFile "dep3" "three";
    in derivation {
      name = "refs"; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/bin:/usr/bin";
      inherit dep3;
      args = [ "-c" "mkdir $out; echo \${dep1} > $out/file; ln -s \${dep2} $out/link; echo $out > $out/self" ];
    }`,
  );
  const out = (await nix("nix-build", ["--store", store.path, "--no-out-link", file])).text;
  const nixRefs = (await nix("nix-store", ["--store", store.path, "-q", "--references", out])).text
    .split("\n");
  const drv = (await nix("nix-store", ["--store", store.path, "-q", "--deriver", out])).text;
  const inputs = (await nix("nix-store", ["--store", store.path, "-q", "--references", drv])).text
    .split("\n");
  assert.equal(inputs.length, 3, "the three toFile inputs");
  const candidates = [...inputs, out].map((p) => StorePath.parse(p).hashPart);
  // The NAR of the output, dumped by Nix from the chroot store's real location.
  const nar = (await nix("nix-store", ["--dump", join(store.path, out)])).bytes;
  const want = new Set(nixRefs.map((p) => StorePath.parse(p).hashPart));
  assert.equal(want.size, 3, "dep1, dep2 and itself");
  for (const sizes of [[nar.length], [1], [7, 64, 3]]) {
    assert.deepEqual(scan(nar, candidates, sizes), want, String(sizes));
  }
});
