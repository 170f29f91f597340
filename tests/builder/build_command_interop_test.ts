import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";

const EXPR = String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  a = mk "graph-a" "echo a > $out" {};
  b1 = mk "graph-b1" "cat $a > $out; echo b1 >> $out" { inherit a; };
  b2 = mk "graph-b2" "cat $a > $out; echo b2 >> $out" { inherit a; };
  c = mk "graph-c" "cat $b1 $b2 > $out" { inherit b1 b2; };
  bad = mk "graph-bad" "echo failing; exit 1" {};
  afterBad = mk "graph-after-bad" "cat $bad > $out" { inherit bad; };
}`;

const run = (args: string[]) => runBuildhost(args);

Deno.test("buildhost build builds a .drv graph in dependency order, as nix-build does", async () => {
  using t = tempDir();
  const file = join(t.path, "g.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const root = join(t.path, "ours");
  const drv = (attr: string) =>
    nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr]).then((o) => o.text);
  const c = await drv("c"), afterBad = await drv("afterBad");
  // ship the .drv closures (derivations and sources) into our store
  const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", c, afterBad])).text.split(
    "\n",
  );
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
  const store = await Store.open(root);
  await store.importExport(new WireReader(ReadableStream.from([exp])));
  store.close();

  const ok = await run([
    "build",
    c,
    "--store",
    root,
    "--max-jobs",
    "2",
    "--sandbox-paths",
    "/bin /lib /lib64 /usr",
  ]);
  assert.equal(ok.code, 0, ok.stderr);
  const want =
    (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "c"])).text;
  assert.equal(ok.stdout.trim(), want);
  const ours = await Store.open(root);
  try {
    const hashOf = async (p: string) =>
      (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", p])).text;
    for (const p of (await nix("nix-store", ["--store", nixRoot, "-qR", want])).text.split("\n")) {
      assert.equal(ours.requirePathInfo(p).narHash.toString("base32", true), await hashOf(p), p);
    }
  } finally {
    ours.close();
  }
  assert.match(ok.stderr, /building '.*graph-a\.drv'/);

  const bad = await run([
    "build",
    afterBad,
    "--store",
    root,
    "--sandbox-paths",
    "/bin /lib /lib64 /usr",
  ]);
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /PermanentFailure: .*graph-bad\.drv.*failed with exit code 1/);
  assert.match(bad.stderr, /> failing/);
  assert.match(bad.stderr, /DependencyFailed/);
  assert.equal(bad.stdout, "");
});

Deno.test("two buildhost build processes of the same derivation at once run its builder once", async () => {
  using t = tempDir();
  const file = join(t.path, "once.nix");
  Deno.writeTextFileSync(
    file,
    `derivation { name = "built-once"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo builder-ran-BUILDHOST; /bin/sleep 1; echo done > $out" ]; }`,
  );
  const nixRoot = join(t.path, "nix"), root = join(t.path, "ours");
  const drv = (await nix("nix-instantiate", ["--store", nixRoot, file])).text;
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", drv])).bytes;
  const store = await Store.open(root);
  await store.importExport(new WireReader(ReadableStream.from([exp])));
  store.close();
  const args = ["build", drv, "--store", root, "--sandbox-paths", "/bin /lib /lib64 /usr"];
  const [one, two] = await Promise.all([run(args), run(args)]);
  assert.equal(one.code, 0, one.stderr);
  assert.equal(two.code, 0, two.stderr);
  assert.equal(one.stdout, two.stdout);
  const runs = (one.stderr + two.stderr).match(/builder-ran-BUILDHOST/g) ?? [];
  assert.equal(runs.length, 1, one.stderr + two.stderr);
});
