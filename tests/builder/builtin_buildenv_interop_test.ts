import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

/** Three packages (store sources) with shared directories and colliding files. */
function writePackages(dir: string): void {
  const file = (p: string, text: string) => {
    Deno.mkdirSync(join(dir, p, ".."), { recursive: true });
    Deno.writeTextFileSync(join(dir, p), text);
  };
  file("a/bin/tool", "tool of a\n");
  file("a/bin/only-a", "a\n");
  file("a/share/doc/a.txt", "doc a\n");
  file("a/nix-support/setup-hook", "skipped\n");
  file("a/.hidden", "skipped\n");
  file("b/bin/tool", "tool of b (lower priority)\n");
  file("b/share/doc/b.txt", "doc b\n");
  file("b/share/man/b.1", "man b\n");
  file("b/log", "skipped\n");
  file("c/lib/c.so", "lib c\n");
  Deno.symlinkSync("lib", join(dir, "c/lib64"));
}

const EXPR = String.raw`
let
  p = name: builtins.path { path = ./pkgs + "/${"$"}{name}"; inherit name; };
  manifest = builtins.toFile "manifest.nix" "[ ]";
  env = name: derivations: derivation {
    inherit name manifest derivations;
    builder = "builtin:buildenv"; system = "builtin";
  };
in {
  profile = env "profile" [ "true" "5" "1" (p "a") "true" "6" "1" (p "b") "true" "5" "1" (p "c") "false" "1" "1" (p "b") ];
  samePriority = env "same-priority" [ "true" "5" "1" (p "a") "true" "5" "1" (p "b") ];
}`;

/** Every entry below a directory: relative path → "d", "f:<text>" or "l:<target>". */
function tree(root: string): Map<string, string> {
  const out = new Map<string, string>();
  const walk = (rel: string) => {
    const p = join(root, rel);
    const st = Deno.lstatSync(p);
    if (st.isSymlink) out.set(rel, `l:${Deno.readLinkSync(p)}`);
    else if (st.isDirectory) {
      out.set(rel, "d");
      for (const e of Deno.readDirSync(p)) walk(rel === "" ? e.name : `${rel}/${e.name}`);
    } else out.set(rel, `f:${Deno.readTextFileSync(p)}`);
  };
  walk("");
  return out;
}

Deno.test("builtin:buildenv makes the profile nix-build makes: merged directories, priorities, skipped files", async () => {
  using t = tempDir();
  writePackages(join(t.path, "pkgs"));
  const file = join(t.path, "env.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const drvPath = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", "profile"])).text;
  const drv = parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath });
  const want =
    (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "profile"]))
      .text;
  const store = await Store.open(join(t.path, "ours"));
  try {
    const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...drv.inputSrcs])).bytes;
    await store.importExport(new WireReader(ReadableStream.from([exp])));
    const r = await new Builder(store, nixSandboxRunner()).build(drvPath, drv);
    assert.equal(r.status, BuildStatus.Built, r.errorMsg);
    assert.equal(r.builtOutputs.get("out")?.outPath, want);
    const ours = tree(store.realPath(want));
    assert.deepEqual(ours, tree(nixRoot + want));
    assert.match(ours.get("bin/tool")!, /-a\/bin\/tool$/);
    const theirs = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
    assert.equal(store.requirePathInfo(want).narHash.toString("base32", true), theirs);
    assert.deepEqual(
      store.requirePathInfo(want).references,
      (await nix("nix-store", ["--store", nixRoot, "-q", "--references", want])).text.split("\n")
        .sort(),
    );

    // a collision at the same priority fails as in Nix, nothing registered
    const [samePath] = [
      (await nix("nix-instantiate", [
        "--store",
        nixRoot,
        file,
        "-A",
        "samePriority",
      ])).text,
    ];
    const same = parseDerivation(Deno.readFileSync(join(nixRoot, samePath)), { path: samePath });
    const before = store.allValidPaths();
    let log = "";
    const failed = await new Builder(store, nixSandboxRunner()).build(samePath, same, {
      log: (c) => log += new TextDecoder().decode(c),
    });
    assert.equal(failed.status, BuildStatus.PermanentFailure);
    assert.match(
      log,
      /packages '.*-[ab]\/bin\/tool' and '.*-[ab]\/bin\/tool' have the same priority 5/,
    );
    assert.deepEqual(store.allValidPaths(), before);
  } finally {
    store.close();
  }
});
