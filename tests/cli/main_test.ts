import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, tempDir } from "../_helpers/nix.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";

const run = (args: string[], stdin?: Uint8Array) => runBuildhost(args, stdin ? { stdin } : {});

Deno.test("buildhost demo prints the paths that Nix computes for the same inputs", async () => {
  const r = await run(["demo"]);
  assert.equal(r.code, 0, r.stderr);
  const field = (name: string) => r.stdout.match(new RegExp(`^${name}\\s+(\\S+)`, "m"))![1]!;
  // The same tree and derivation, written for Nix.
  using tmp = tempDir();
  const src = join(tmp.path, "hello-src");
  Deno.mkdirSync(join(src, "bin"), { recursive: true });
  Deno.writeTextFileSync(join(src, "README"), "hello from buildhost\n");
  Deno.writeTextFileSync(join(src, "bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  Deno.symlinkSync("bin/hello", join(src, "run"));
  const expr = `let drv = derivation {
    name = "hello"; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ (builtins.toFile "builder.sh" "mkdir -p $out/bin\\necho hi > $out/bin/hi\\n") ];
    src = builtins.path { path = ${src}; name = "hello-src"; };
  }; in builtins.toJSON { drv = drv.drvPath; out = drv.outPath; src = drv.src; }`;
  const want = JSON.parse(JSON.parse(
    (await nix("nix-instantiate", ["--store", join(tmp.path, "s"), "--eval", "--expr", expr])).text,
  ));
  assert.equal(field("store path"), want.src);
  assert.equal(field("derivation"), want.drv);
  assert.equal(field("  out"), want.out);
});

Deno.test("buildhost reports errors on stderr without a stack trace, with exit codes", async () => {
  const missing = await run(["hash", "path", "/does/not/exist"]);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /^error: .*\/does\/not\/exist/);
  assert.doesNotMatch(missing.stderr, /\n\s+at /);

  const usage = await run(["nar", "frobnicate"]);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /usage: buildhost nar/);

  const unknown = await run(["no-such-command"]);
  assert.equal(unknown.code, 2);
  assert.match(unknown.stderr, /unknown command "no-such-command"/);

  const bad = await run(["nar", "ls"], new Uint8Array([13, 0, 0, 0, 0, 0, 0, 0, 1, 2]));
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /^error: Cannot read NAR at byte \d+/);

  const debug = await run(["--debug", "hash", "path", "/does/not/exist"]);
  assert.equal(debug.code, 1);
  assert.match(debug.stderr, /\n\s+at /);
});

Deno.test("buildhost nar dump | nar restore round-trips and matches nix-store", async () => {
  using tmp = tempDir();
  const src = join(tmp.path, "src");
  Deno.mkdirSync(join(src, "sub"), { recursive: true });
  Deno.writeTextFileSync(join(src, "sub", "f"), "data\n");
  Deno.symlinkSync("sub/f", join(src, "link"));
  const dump = await run(["nar", "dump", src]);
  assert.equal(dump.code, 0, dump.stderr);
  assert.deepEqual(dump.bytes, (await nix("nix-store", ["--dump", src])).bytes);
  const target = join(tmp.path, "copy");
  const restore = await run(["nar", "restore", target], dump.bytes);
  assert.equal(restore.code, 0, restore.stderr);
  assert.deepEqual((await nix("nix-store", ["--dump", target])).bytes, dump.bytes);
  const ls = await run(["nar", "ls"], dump.bytes);
  const narFile = join(tmp.path, "x.nar");
  Deno.writeFileSync(narFile, dump.bytes);
  assert.equal(ls.stdout, (await nix("nix", ["nar", "ls", "-R", "-l", narFile, "/"])).text + "\n");
});
