/**
 * The client's command line over the daemon protocol: `buildhost copy
 * --to/--from` and `buildhost build --builders` with `ssh-ng://localhost`
 * machines (run here with `sh -c`, without ssh, as Nix does), whose remote
 * program is Nix's own `nix-daemon --stdio` (the reference) or buildhost's
 * `--stdio`, each with its own `remote-store`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** The two kinds of daemon host: `program` for `remote-program=`. */
function remotes(dir: string) {
  const bh = join(dir, "remote-buildhost");
  Deno.writeTextFileSync(
    bh,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" ` +
      `--sandbox-paths '/bin /lib /lib64 /usr' "$@"\n`,
    { mode: 0o755 },
  );
  return [
    { name: "nix-daemon", program: "nix-daemon" },
    { name: "buildhost", program: bh },
  ];
}

const uri = (program: string, store: string) =>
  `ssh-ng://localhost?remote-program=${program}&remote-store=${store}`;

/** Import the closure of `paths` from Nix's `nixRoot` into a new buildhost store at `root`. */
async function seed(nixRoot: string, root: string, paths: string[]): Promise<void> {
  const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", ...paths])).text.split("\n");
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
  const store = await Store.open(root);
  try {
    await store.importExport(new WireReader(ReadableStream.from([exp])));
  } finally {
    store.close();
  }
}

async function assertClean(root: string): Promise<void> {
  const v = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid/i, root);
}

Deno.test("buildhost copy --to and --from an ssh-ng:// host: nix-daemon and buildhost --stdio", async () => {
  using t = tempDir();
  const nixRoot = join(t.path, "nix"), client = join(t.path, "client");
  const [dep, top] = (await nix("nix", [
    "eval",
    "--store",
    nixRoot,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "ng-dep" "dep\\n"; in "\${dep} " + builtins.toFile "ng-top" "uses \${dep}\\n"`,
  ])).text.split(" ") as [string, string];
  await seed(nixRoot, client, [top]);
  for (const remote of remotes(t.path)) {
    const hostRoot = join(t.path, `host-${remote.name}`);
    const u = uri(remote.program, hostRoot);
    const to = await runBuildhost(["copy", "--store", client, "--to", u, top], { env: nixEnv() });
    assert.equal(to.code, 0, `${remote.name}: ${to.stderr}`);
    assert.match(to.stderr, /copied 2 paths/, remote.name);
    const again = await runBuildhost(["copy", "--store", client, "--to", u, top], {
      env: nixEnv(),
    });
    assert.equal(again.code, 0, `${remote.name}: ${again.stderr}`);
    assert.match(again.stderr, /copied 0 paths .*2 were there already/, remote.name);
    await assertClean(hostRoot);
    const refs = await nix("nix-store", ["--store", hostRoot, "-q", "--references", top]);
    assert.equal(refs.text, dep, remote.name);

    const fresh = join(t.path, `fresh-${remote.name}`);
    const from = await runBuildhost(["copy", "--store", fresh, "--from", u, top], {
      env: nixEnv(),
    });
    assert.equal(from.code, 0, `${remote.name}: ${from.stderr}`);
    assert.match(from.stderr, /copied 2 paths/, remote.name);
    const back = await Store.open(fresh);
    try {
      assert.deepEqual(back.queryValidPaths([dep, top]), [dep, top]);
      assert.deepEqual(await back.verify({ checkContents: true }), []);
    } finally {
      back.close();
    }
  }
});

Deno.test("buildhost build --builders ssh-ng://: a derivation and its dependency on nix-daemon and on buildhost --stdio", async () => {
  using t = tempDir();
  const file = join(t.path, "ng.nix");
  Deno.writeTextFileSync(
    file,
    String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  a = mk "ng-a" "echo a > $out" {};
  b = mk "ng-b" "cat $a > $out; echo b >> $out" { inherit a; };
}`,
  );
  const nixRoot = join(t.path, "nix");
  const drv = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", "b"])).text;
  const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", drv])).text;
  const wanted = (await nix("nix-store", ["--store", nixRoot, "-qR", want])).text.split("\n");
  for (const remote of remotes(t.path)) {
    const client = join(t.path, `client-${remote.name}`);
    const hostRoot = join(t.path, `host-${remote.name}`);
    await seed(nixRoot, client, [drv]);
    const builders = `${uri(remote.program, hostRoot)} x86_64-linux - 1 1`;
    const r = await runBuildhost(["build", "--store", client, "--builders", builders, drv], {
      env: nixEnv(),
    });
    assert.equal(r.code, 0, `${remote.name}: ${r.stderr}`);
    assert.equal(r.stdout.trim(), want, remote.name);
    assert.match(r.stderr, /building '[^']*ng-a\.drv' on 'ssh-ng:\/\/localhost/, remote.name);
    assert.match(r.stderr, /building '[^']*ng-b\.drv' on 'ssh-ng:\/\/localhost/, remote.name);
    // the outputs came back, equal to Nix's local build, and the host built them
    const ours = await Store.open(client);
    try {
      for (const p of wanted) {
        const hash = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", p])).text;
        assert.equal(ours.requirePathInfo(p).narHash.toString("base32", true), hash, p);
      }
      assert.deepEqual(await ours.verify({ checkContents: true }), []);
    } finally {
      ours.close();
    }
    const built = (await nix("nix-store", ["--store", hostRoot, "-qR", want])).text.split("\n");
    assert.deepEqual(built.sort(), [...wanted].sort(), remote.name);
    await assertClean(hostRoot);
  }
});
