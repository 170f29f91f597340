import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, tempDir } from "../_helpers/nix.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { DEMO_SCRIPTS } from "../../lib/cli/demo_command.ts";
import { Store } from "../../lib/store/store.ts";

const run = (args: string[], stdin?: Uint8Array) => runBuildhost(args, stdin ? { stdin } : {});

Deno.test("buildhost demo builds remotely the graph nix-build builds from the same inputs", async () => {
  using tmp = tempDir();
  const r = await run(["demo", "--store", join(tmp.path, "client")]);
  assert.equal(r.code, 0, r.stderr + r.stdout);
  const paths = [...r.stdout.matchAll(/^\s+(greeting|hello|out)\s+(\/nix\/store\/\S+)/gm)]
    .map((m) => m[2]!);
  assert.equal(paths.length, 4, r.stdout);
  const [greetingDrv, greetingOut, helloDrv, helloOut] = paths;
  // The same example, written for Nix (the demo's busybox is the sandbox's, /bin/busybox).
  const src = join(tmp.path, "hello-src"), bb = join(tmp.path, "bb");
  Deno.mkdirSync(join(src, "bin"), { recursive: true });
  Deno.writeTextFileSync(join(src, "README"), "hello from buildhost\n");
  Deno.writeTextFileSync(join(src, "bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
  Deno.symlinkSync("bin/hello", join(src, "run"));
  Deno.mkdirSync(join(bb, "bin"), { recursive: true });
  Deno.copyFileSync("/bin/busybox", join(bb, "bin/busybox"));
  for (const [name, text] of Object.entries(DEMO_SCRIPTS)) {
    Deno.writeTextFileSync(join(tmp.path, `${name}.sh`), text);
  }
  Deno.writeTextFileSync(
    join(tmp.path, "demo.nix"),
    `let
      busybox = builtins.path { path = ${bb}; name = "busybox"; };
      mk = name: attrs: derivation ({
        inherit name busybox; system = "x86_64-linux"; builder = "\${busybox}/bin/busybox";
        args = [ "sh" (builtins.toFile "\${name}.sh" (builtins.readFile (${tmp.path} + "/\${name}.sh"))) ];
      } // attrs);
      greeting = mk "greeting" {};
    in {
      inherit greeting;
      hello = mk "hello" { inherit greeting; src = builtins.path { path = ${src}; name = "hello-src"; }; };
    }`,
  );
  const nixRoot = join(tmp.path, "nix"), file = join(tmp.path, "demo.nix");
  const instantiate = async (attr: string) =>
    (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
  assert.equal(greetingDrv, await instantiate("greeting"));
  assert.equal(helloDrv, await instantiate("hello"));
  const built = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file])).text;
  assert.deepEqual(built.split("\n").sort(), [greetingOut, helloOut].sort());
  // the outputs fetched back are Nix's, byte for byte
  const store = await Store.open(join(tmp.path, "client"));
  try {
    for (const out of [greetingOut!, helloOut!]) {
      const want = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", out])).text;
      assert.equal(store.requirePathInfo(out).narHash.toString("base32", true), want, out);
    }
  } finally {
    store.close();
  }
  assert.match(r.stdout, /\| building the greeting/);
  assert.match(r.stdout, /\| hello from the builder/);
  assert.match(r.stdout, /hello: Built .*the host had 2/);
  assert.match(r.stdout, /the host has a \.drv: no; both stores verify: ok; host exit code 0/);
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
