/**
 * buildhost's daemon-protocol client (`ssh-ng://`) against real
 * `nix-daemon --stdio` (Nix 2.8): copies both ways, remote builds whose
 * outputs equal Nix's own builds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { copyFromHost, copyToHost } from "../../lib/remote/copy_paths.ts";
import { buildOnHost } from "../../lib/remote/remote_build.ts";
import { startDaemonHost } from "../../lib/remote/daemon_host_process.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";

/** `nix-daemon --stdio` on `root`, as a host. */
function nixDaemon(root: string, log: (c: Uint8Array) => void = () => {}) {
  return startDaemonHost(
    [
      "env",
      "-u",
      "NIX_REMOTE",
      `NIX_CONFIG=${NIX_CONFIG}`,
      "nix-daemon",
      "--stdio",
      "--store",
      root,
    ],
    { host: `nix-daemon --stdio (${root})`, log },
  );
}

async function nixVerifies(root: string): Promise<void> {
  const v = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid/i);
}

async function nixInfos(root: string, paths: string[]) {
  const list = JSON.parse(
    (await nix("nix", ["path-info", "--json", "--store", root, ...paths])).text,
  );
  return list.map((j: Record<string, unknown>) => (delete j.registrationTime, j));
}

Deno.test("copyToHost() and copyFromHost() over ssh-ng with nix-daemon --stdio", async () => {
  using t = tempDir();
  const host = join(t.path, "host");
  const ours = await Store.open(join(t.path, "ours"));
  try {
    const dep = await ours.addText("dep.txt", "a dependency\n", []);
    const top = await ours.addText("top.txt", `uses ${dep.path}\n`, [dep.path]);
    await using h = await nixDaemon(host);
    assert.equal(h.client.version, 0x122); // nix-daemon 2.8 speaks 1.34
    const sent = await copyToHost(h.client, ours, [top.path]);
    assert.deepEqual(sent.copied, [dep.path, top.path]);
    const again = await copyToHost(h.client, ours, [top.path]);
    assert.deepEqual(again.copied, []);
    await nixVerifies(host);
    const theirs = await nixInfos(host, [dep.path, top.path]);
    assert.deepEqual(theirs.map((j: { narHash: string }) => j.narHash), [
      dep.narHash.toString("sri"),
      top.narHash.toString("sri"),
    ]);

    // a path only the host has, fetched with its closure
    const only = (await nix("nix", [
      "eval",
      "--impure",
      "--raw",
      "--store",
      host,
      "--expr",
      `builtins.toFile "only-host.txt" "refers to ${"${"}builtins.storePath ${top.path}}\n"`,
    ])).text;
    const fresh = await Store.open(join(t.path, "fresh"));
    try {
      const got = await copyFromHost(h.client, fresh, [only]);
      assert.deepEqual(got.copied.sort(), [dep.path, only, top.path].sort());
      assert.deepEqual(await fresh.verify({ checkContents: true }), []);
      assert.deepEqual(fresh.requirePathInfo(only).references, [top.path]);
    } finally {
      fresh.close();
    }
  } finally {
    ours.close();
  }
});

const EXPR = String.raw`
let
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
  src = builtins.toFile "ng-src.txt" "a source\n";
in rec {
  a = mk "ng-a" "echo a > $out" {};
  c = mk "ng-c" "echo building c; cat $a $src > $out" { inherit a src; };
  bad = mk "ng-bad" "echo about to fail; exit 2" {};
}`;

Deno.test("buildOnHost() builds over ssh-ng on nix-daemon --stdio, outputs equal to nix-build's", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix"), host = join(t.path, "host");
  const drv = async (attr: string) =>
    (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
  const a = await drv("a"), c = await drv("c"), bad = await drv("bad");
  const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", c, bad])).text.split("\n");
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
  const ours = await Store.open(join(t.path, "ours"));
  let log = "";
  try {
    await ours.importExport(new WireReader(ReadableStream.from([exp])));
    await using h = await nixDaemon(host, (c) => void (log += new TextDecoder().decode(c)));
    const ra = await buildOnHost(h.client, ours, a);
    assert.equal(ra.result.status, "Built", ra.result.errorMsg);
    const rc = await buildOnHost(h.client, ours, c);
    assert.equal(rc.result.status, "Built", rc.result.errorMsg);
    assert.match(log, /building c\n/);
    const outC = rc.outputs.get("out")!;
    const hostPaths = (await nix("nix-store", ["--store", host, "-q", "--requisites", outC])).text;
    assert.doesNotMatch(hostPaths, /\.drv/);
    const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "c"]))
      .text;
    assert.equal(outC, want);
    const wantHash = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
    assert.equal(ours.requirePathInfo(outC).narHash.toString("base32", true), wantHash);

    const rb = await buildOnHost(h.client, ours, bad);
    assert.equal(rb.result.status, "PermanentFailure");
    assert.match(rb.result.errorMsg, /ng-bad\.drv.*failed with exit code 2/);
    assert.match(log, /about to fail\n/);
    assert.ok(!ours.isValid(rb.outputs.get("out")!));
  } finally {
    ours.close();
  }
});
