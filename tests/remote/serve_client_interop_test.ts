/**
 * buildhost's client against real `nix-store --serve --write` (Nix 2.8):
 * copies both ways at the newest and an old protocol minor, and remote
 * builds from in-memory derivations whose outputs equal Nix's own builds.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { copyFromHost, copyToHost } from "../../lib/remote/copy_paths.ts";
import { buildOnHost } from "../../lib/remote/remote_build.ts";
import { startServeHost } from "../../lib/remote/serve_host_process.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";

/** `nix-store --serve --write` on `root`, as a host. */
function nixHost(root: string, version?: number) {
  return startServeHost(
    [
      "env",
      "-u",
      "NIX_REMOTE",
      `NIX_CONFIG=${NIX_CONFIG}`,
      "nix-store",
      "--store",
      root,
      "--serve",
      "--write",
    ],
    { host: `nix-store --serve (${root})`, log: () => {}, ...(version ? { version } : {}) },
  );
}

/** Two text paths, one referring to the other, made by Nix in `root`. */
async function twoPaths(root: string, tag: string): Promise<[string, string]> {
  const out = (await nix("nix", [
    "eval",
    "--store",
    root,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "dep-${tag}" "dep\\n"; in "\${dep} " + builtins.toFile "top-${tag}" "uses \${dep}\\n"`,
  ])).text;
  return out.split(" ") as [string, string];
}

async function nixVerifies(root: string): Promise<void> {
  const v = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid/i);
}

Deno.test("copyToHost() and copyFromHost() with nix-store --serve --write send only what is missing", async () => {
  using t = tempDir();
  const source = join(t.path, "source"), host = join(t.path, "host");
  const [dep, top] = await twoPaths(source, "a");
  // our store gets the paths from Nix's export
  const ours = await Store.open(join(t.path, "ours"));
  try {
    const exp = (await nix("nix-store", ["--store", source, "--export", dep, top])).bytes;
    await ours.importExport(new WireReader(ReadableStream.from([exp])));

    // to the host: both paths; then again: nothing
    await using h = await nixHost(host);
    const first = await copyToHost(h.client, ours, [top]);
    assert.deepEqual(first.copied, [dep, top]);
    assert.deepEqual(first.present, []);
    const again = await copyToHost(h.client, ours, [top]);
    assert.deepEqual(again.copied, []);
    assert.deepEqual(again.present.sort(), [dep, top].sort());
    await h.close();
    await nixVerifies(host);
    const info = JSON.parse(
      (await nix("nix", ["path-info", "--store", host, "--json", top])).text,
    )[0];
    assert.equal(info.narHash, ours.requirePathInfo(top).narHash.toString("sri"));
    assert.deepEqual(info.references, [dep]);
    assert.equal(info.ca, ours.requirePathInfo(top).ca);

    // from the host, into a fresh store of ours: the closure, verified
    const [dep2, top2] = await twoPaths(host, "b");
    await using h2 = await nixHost(host);
    const fresh = await Store.open(join(t.path, "fresh"));
    try {
      const got = await copyFromHost(h2.client, fresh, [top2]);
      assert.deepEqual(got.copied, [dep2, top2]);
      assert.deepEqual(await fresh.verify({ checkContents: true }), []);
      assert.deepEqual(fresh.requirePathInfo(top2).references, [dep2]);
      const want = (await nix("nix-store", ["--store", host, "-q", "--hash", top2])).text;
      assert.equal(fresh.requirePathInfo(top2).narHash.toString("base32", true), want);
      await assert.rejects(
        () => copyFromHost(h2.client, fresh, [top2.replace(/-top-b$/, "-absent")]),
        /does not have it/,
      );
    } finally {
      fresh.close();
    }
  } finally {
    ours.close();
  }
});

Deno.test("copyToHost() and copyFromHost() at 2.4: ImportPaths, and path infos without hashes", async () => {
  using t = tempDir();
  const source = join(t.path, "source"), host = join(t.path, "host");
  const [dep, top] = await twoPaths(source, "old");
  const ours = await Store.open(join(t.path, "ours"));
  try {
    const exp = (await nix("nix-store", ["--store", source, "--export", dep, top])).bytes;
    await ours.importExport(new WireReader(ReadableStream.from([exp])));
    await using h = await nixHost(host, 0x203);
    assert.equal(h.client.version, 0x203);
    assert.deepEqual((await copyToHost(h.client, ours, [top])).copied, [dep, top]);
    await h.close();
    await nixVerifies(host);
    await using h2 = await nixHost(host, 0x203);
    const fresh = await Store.open(join(t.path, "fresh"));
    try {
      assert.deepEqual((await copyFromHost(h2.client, fresh, [top])).copied, [dep, top]);
      // no hash came with the path infos: the one computed while importing is Nix's
      assert.ok(fresh.requirePathInfo(top).narHash.equals(ours.requirePathInfo(top).narHash));
      assert.deepEqual(await fresh.verify({ checkContents: true }), []);
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
  src = builtins.toFile "client-src.txt" "a source\n";
in rec {
  a = mk "client-a" "echo a > $out" {};
  c = mk "client-c" "echo building c; cat $a $src > $out" { inherit a src; };
  bad = mk "client-bad" "echo about to fail; exit 2" {};
}`;

Deno.test("buildOnHost() builds on nix-store --serve --write without the .drv closure", async () => {
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
  try {
    await ours.importExport(new WireReader(ReadableStream.from([exp])));
    await using h = await nixHost(host);
    // a first (c needs its output), then c: a's output and the source go over
    const ra = await buildOnHost(h.client, ours, a);
    assert.equal(ra.result.status, "Built", ra.result.errorMsg);
    const rc = await buildOnHost(h.client, ours, c);
    assert.equal(rc.result.status, "Built", rc.result.errorMsg);
    const outA = ra.outputs.get("out")!, outC = rc.outputs.get("out")!;
    assert.deepEqual(rc.sent.copied.length, 1, "only the source was missing on the host");
    assert.deepEqual(rc.sent.present, [outA]);
    assert.deepEqual(rc.fetched?.copied, [outC]);
    // the host never saw a .drv
    const hostPaths = (await nix("nix-store", ["--store", host, "-q", "--requisites", outC])).text;
    assert.doesNotMatch(hostPaths, /\.drv/);
    // outputs equal Nix's own local build
    const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", "c"]))
      .text;
    assert.equal(outC, want);
    const wantHash = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
    assert.equal(ours.requirePathInfo(outC).narHash.toString("base32", true), wantHash);
    assert.deepEqual(ours.requirePathInfo(outC).references, []);
    assert.equal(ours.requirePathInfo(outC).deriver, c);

    const rb = await buildOnHost(h.client, ours, bad);
    assert.equal(rb.result.status, "PermanentFailure");
    assert.match(rb.result.errorMsg, /client-bad\.drv.*failed with exit code 2/);
    assert.equal(rb.fetched, undefined);
    assert.ok(!ours.isValid(rb.outputs.get("out")!));
  } finally {
    ours.close();
  }
});
