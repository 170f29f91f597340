/**
 * The client's command line across several hosts: `buildhost build
 * --builders` with a buildhost host and a real `nix-store --serve --write`
 * host side by side (reached through the stand-in ssh), and `buildhost
 * copy --to/--from`.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** Remote programs in `dir`: buildhost on `ours`, nix-store on `theirs`. */
function hosts(dir: string, ours: string, theirs: string) {
  const bh = join(dir, "remote-buildhost"), ns = join(dir, "remote-nix-store");
  Deno.writeTextFileSync(
    bh,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" --store "${ours}" ` +
      `--sandbox-paths '/bin /lib /lib64 /usr' "$@"\n`,
    { mode: 0o755 },
  );
  Deno.writeTextFileSync(
    ns,
    `#!/bin/sh\nexport NIX_CONFIG='${NIX_CONFIG}'\nunset NIX_REMOTE\nexec nix-store --store "${theirs}" "$@"\n`,
    { mode: 0o755 },
  );
  return { bh: `ssh://hostA?remote-program=${bh}`, ns: `ssh://hostB?remote-program=${ns}` };
}

/** The environment for the CLI: the stand-in ssh first in PATH. */
const env = () => ({ ...Deno.env.toObject(), PATH: `${HELPERS}bin:${Deno.env.get("PATH")}` });

const EXPR = String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  a = mk "hosts-a" "echo a > $out" {};
  b1 = mk "hosts-b1" "sleep 1; cat $a > $out; echo b1 >> $out" { inherit a; };
  b2 = mk "hosts-b2" "sleep 1; cat $a > $out; echo b2 >> $out" { inherit a; };
  c = mk "hosts-c" "cat $b1 $b2 > $out" { inherit b1 b2; };
  bad = mk "hosts-bad" "echo failing; exit 1" {};
  afterBad = mk "hosts-after-bad" "cat $bad > $out" { inherit bad; };
  kvm = mk "hosts-kvm" "exit 0" { requiredSystemFeatures = [ "kvm" ]; };
}`;

Deno.test("buildhost build --builders spreads a graph over a buildhost host and a nix-store host", async () => {
  using t = tempDir();
  const file = join(t.path, "g.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix"), client = join(t.path, "client");
  const hostA = join(t.path, "hostA"), hostB = join(t.path, "hostB");
  const drv = async (attr: string) =>
    (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
  const c = await drv("c"), afterBad = await drv("afterBad"), kvm = await drv("kvm");
  const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", c, afterBad, kvm])).text
    .split("\n");
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
  const store = await Store.open(client);
  await store.importExport(new WireReader(ReadableStream.from([exp])));
  store.close();

  const { bh, ns } = hosts(t.path, hostA, hostB);
  const builders = `${bh} x86_64-linux - 1 1; ${ns} x86_64-linux - 1 1`;
  const r = await runBuildhost(
    ["build", "--store", client, "--builders", builders, c, afterBad, kvm],
    { env: env() },
  );
  assert.equal(r.code, 1, r.stderr);
  const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "c"]))
    .text;
  assert.equal(r.stdout.trim(), want, r.stderr);
  // b1 and b2 ran at once, one on each host
  assert.match(r.stderr, /building '[^']*hosts-b\d\.drv' on 'ssh:\/\/hostA/);
  assert.match(r.stderr, /building '[^']*hosts-b\d\.drv' on 'ssh:\/\/hostB/);
  assert.match(r.stderr, /PermanentFailure: .*hosts-bad\.drv.*failed with exit code 1/);
  assert.match(r.stderr, /DependencyFailed: dependency '[^']*hosts-bad\.drv'/);
  assert.match(r.stderr, /no build machine can build '[^']*hosts-kvm\.drv'.*features \{kvm\}/);
  // every output came back, equal to Nix's local build; no host got a .drv
  const ours = await Store.open(client);
  try {
    for (const p of (await nix("nix-store", ["--store", nixRoot, "-qR", want])).text.split("\n")) {
      if (p.endsWith(".drv")) continue;
      const hash = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", p])).text;
      assert.equal(ours.requirePathInfo(p).narHash.toString("base32", true), hash, p);
    }
  } finally {
    ours.close();
  }
  for (const h of [hostA, hostB]) {
    const names = [...Deno.readDirSync(join(h, "nix/store"))].map((e) => e.name);
    assert.ok(names.some((n) => /-hosts-(a|b1|b2|c)$/.test(n)), `${h} built nothing`);
    assert.ok(!names.some((n) => n.endsWith(".drv")), `${h} has a .drv`);
  }
});

Deno.test("buildhost copy --to and --from move closures through ssh, only what is missing", async () => {
  using t = tempDir();
  const nixRoot = join(t.path, "nix"), client = join(t.path, "client");
  const hostA = join(t.path, "hostA"), hostB = join(t.path, "hostB");
  const [dep, top] = (await nix("nix", [
    "eval",
    "--store",
    nixRoot,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "copy-dep" "dep\\n"; in "\${dep} " + builtins.toFile "copy-top" "uses \${dep}\\n"`,
  ])).text.split(" ") as [string, string];
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", dep, top])).bytes;
  const store = await Store.open(client);
  await store.importExport(new WireReader(ReadableStream.from([exp])));
  store.close();
  const { bh, ns } = hosts(t.path, hostA, hostB);
  for (const uri of [bh, ns]) {
    const to = await runBuildhost(["copy", "--store", client, "--to", uri, top], { env: env() });
    assert.equal(to.code, 0, to.stderr);
    assert.match(to.stderr, /copied 2 paths/);
    const again = await runBuildhost(["copy", "--store", client, "--to", uri, top], {
      env: env(),
    });
    assert.match(again.stderr, /copied 0 paths .*2 were there already/);
  }
  const v = await nix("nix-store", ["--store", hostB, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error/);
  const fresh = join(t.path, "fresh");
  const from = await runBuildhost(["copy", "--store", fresh, "--from", ns, top], { env: env() });
  assert.equal(from.code, 0, from.stderr);
  const back = await Store.open(fresh);
  try {
    assert.deepEqual(back.queryValidPaths([dep, top]), [dep, top]);
    assert.deepEqual(await back.verify({ checkContents: true }), []);
  } finally {
    back.close();
  }
  const missing = await runBuildhost(
    ["copy", "--store", fresh, "--from", bh, top.replace(/copy-top$/, "copy-absent")],
    { env: env() },
  );
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /does not have it/);
});

Deno.test("buildhost build --builders skips a machine it cannot reach, and says so when none is left", async () => {
  using t = tempDir();
  const file = join(t.path, "one.nix");
  Deno.writeTextFileSync(
    file,
    `derivation { name = "failover"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo built after a failover > $out" ]; }`,
  );
  const nixRoot = join(t.path, "nix"), client = join(t.path, "client");
  const drv = (await nix("nix-instantiate", ["--store", nixRoot, file])).text;
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", drv])).bytes;
  const store = await Store.open(client);
  await store.importExport(new WireReader(ReadableStream.from([exp])));
  store.close();
  const { bh } = hosts(t.path, join(t.path, "hostA"), join(t.path, "hostB"));
  // the faster machine does not answer: its remote program does not exist
  const dead = "ssh://deadhost?remote-program=/nonexistent/buildhost x86_64-linux - 1 9";
  const onlyDead = await runBuildhost(["build", "--store", client, "--builders", dead, drv], {
    env: env(),
  });
  assert.equal(onlyDead.code, 1);
  assert.match(
    onlyDead.stderr,
    /cannot build '.*failover\.drv': its build machines were lost 3 time\(s\): attempt 1 on 'ssh:\/\/deadhost/,
  );
  const r = await runBuildhost(
    ["build", "--store", client, "--builders", `${dead}; ${bh} x86_64-linux - 1 1`, drv],
    { env: env() },
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(
    r.stderr,
    /building '.*failover\.drv' on 'ssh:\/\/deadhost[\s\S]*building '.*failover\.drv' on 'ssh:\/\/hostA/,
  );
  const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", drv])).text;
  assert.equal(r.stdout.trim(), want);
});
