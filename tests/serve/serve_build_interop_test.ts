import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { nix, nixFails, remoteBuildArgs, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const BUILDERS = `ssh://remotehost?remote-program=${HELPERS}remote-buildhost x86_64-linux`;

const EXPR = String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
  src = builtins.toFile "src.txt" "a source file\n";
in rec {
  ok = mk "remote-ok" "echo hello from the remote builder; echo built remotely > $out" {};
  fail = mk "remote-fail" "echo the remote builder fails; exit 1" {};
  dep = mk "local-dep" "echo local dependency > $out" {};
  withInputs = mk "remote-with-inputs" "cat $dep $src > $out" { inherit dep src; };
  fod = mk "remote-fod" "printf hello > $out" { outputHashAlgo = "sha256"; outputHash = "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824"; };
}`;

function remoteEnv(remote: string): Record<string, string> {
  return { PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`, BUILDHOST_TEST_REMOTE_STORE: remote };
}

/** nix-build on the client with no local jobs: everything goes to the buildhost remote. */
function remoteBuild(client: string, file: string, attr: string, remote: string, fails = false) {
  const args = remoteBuildArgs(client, file, attr, BUILDERS);
  return fails
    ? nixFails("nix-build", args, { env: remoteEnv(remote) })
    : nix("nix-build", args, { env: remoteEnv(remote) }).then((o) => o);
}

Deno.test("real Nix builds on a buildhost serve host: outputs equal a local build, logs are shown", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const client = join(t.path, "client"),
    local = join(t.path, "local"),
    remote = join(t.path, "remote");
  for (const attr of ["ok", "withInputs", "fod"]) {
    if (attr === "withInputs") {
      // the dependency is built by the client itself, then shipped as an input
      await nix("nix-build", ["--store", client, "--no-out-link", file, "-A", "dep"]);
    }
    const out = await remoteBuild(client, file, attr, remote) as { text: string; stderr: string };
    const want =
      (await nix("nix-build", ["--store", local, "--no-out-link", file, "-A", attr])).text;
    assert.equal(out.text, want, attr);
    const hash = async (root: string) =>
      (await nix("nix-store", ["--store", root, "-q", "--hash", want])).text;
    assert.equal(await hash(client), await hash(local), attr);
    if (attr === "ok") assert.match(out.stderr, /hello from the remote builder/);
  }
  // the remote has the outputs registered and consistent, but never got a .drv
  const store = await Store.open(remote);
  try {
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.ok(store.allValidPaths().every((p) => !p.endsWith(".drv")));
    assert.ok(store.allValidPaths().some((p) => p.endsWith("-remote-with-inputs")));
  } finally {
    store.close();
  }
});

Deno.test("a failing remote build fails on the Nix side with the builder's log and Nix's message", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const err = await remoteBuild(
    join(t.path, "client"),
    file,
    "fail",
    join(t.path, "remote"),
    true,
  ) as string;
  assert.match(err, /the remote builder fails/);
  assert.match(
    err,
    /build of '.*remote-fail\.drv' on 'ssh:\/\/remotehost.*' failed: .*builder for '.*remote-fail\.drv.*' failed with exit code 1/s,
  );
});
