import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const BUILDERS = `ssh://remotehost?remote-program=${HELPERS}remote-buildhost x86_64-linux`;

async function run(cmd: string, args: string[], cwd: string): Promise<void> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "null", stderr: "piped" }).output();
  assert.ok(out.success, `${cmd} ${args.join(" ")}: ${new TextDecoder().decode(out.stderr)}`);
}

/**
 * The channel tarballs (made by GNU tar): a good tree in each compression,
 * and archives Nix refuses or that a store cannot hold.
 */
async function writeTarballs(dir: string): Promise<string[]> {
  const tree = join(dir, "tree");
  const file = (p: string, text: string, mode = 0o644) => {
    Deno.mkdirSync(join(tree, p, ".."), { recursive: true });
    Deno.writeTextFileSync(join(tree, p), text);
    Deno.chmodSync(join(tree, p), mode);
  };
  file("nixexprs-22.05/default.nix", "{ }: { hello = 1; }\n");
  file("nixexprs-22.05/pkgs/top-level/all.nix", "import ../.. { }\n");
  file("nixexprs-22.05/bin/run", "#!/bin/sh\necho run\n", 0o755);
  file("nixexprs-22.05/.version", "22.05\n");
  Deno.symlinkSync("pkgs/top-level", join(tree, "nixexprs-22.05/top"));
  Deno.symlinkSync("/etc/hostname", join(tree, "nixexprs-22.05/abs-link"));
  Deno.mkdirSync(join(tree, "nixexprs-22.05/empty"));
  file("second/x", "x\n");
  Deno.mkdirSync(join(tree, "link-dir"));
  Deno.symlinkSync("/tmp", join(tree, "link-dir/l"));
  file("evil", "written outside\n");
  const tar = (name: string, ...args: string[]) =>
    run("tar", [
      "--sort=name",
      "--owner=0",
      "--group=0",
      "-C",
      tree,
      "-cf",
      join(dir, name),
      ...args,
    ], dir);
  await tar("plain.tar", "nixexprs-22.05");
  await tar("gz.tar.gz", "-z", "nixexprs-22.05");
  await tar("bz2.tar.bz2", "-j", "nixexprs-22.05");
  await tar("xz.tar.xz", "-J", "nixexprs-22.05");
  await tar("two.tar", "nixexprs-22.05", "second");
  await tar(
    "dotdot.tar",
    "-P",
    "--transform=s,^evil,nixexprs-22.05/../../evil,",
    "nixexprs-22.05",
    "evil",
  );
  await tar("through.tar", "--transform=s,^evil,link-dir/l/evil,", "link-dir", "evil");
  await tar("absolute.tar", "-P", "--transform=s,^evil,/tmp/evil,", "evil");
  Deno.mkdirSync(join(tree, "fifo"));
  await run("mkfifo", [join(tree, "fifo/p")], dir);
  await tar("fifo.tar", "fifo");
  await tar("empty.tar", "--files-from=/dev/null");
  return ["plain.tar", "gz.tar.gz", "bz2.tar.bz2", "xz.tar.xz"];
}

const EXPR = String.raw`
let
  channel = file: channelName: derivation {
    name = "channel";
    inherit channelName;
    src = builtins.path { path = ./. + "/${"$"}{file}"; name = file; };
    builder = "builtin:unpack-channel";
    system = "builtin";
  };
in {
  plain = channel "plain.tar" "nixpkgs";
  gz = channel "gz.tar.gz" "nixpkgs";
  bz2 = channel "bz2.tar.bz2" "nixpkgs";
  xz = channel "xz.tar.xz" "nixos";
  sameName = channel "plain.tar" "nixexprs-22.05";
  two = channel "two.tar" "nixpkgs";
  empty = channel "empty.tar" "nixpkgs";
  dotdot = channel "dotdot.tar" "nixpkgs";
  through = channel "through.tar" "nixpkgs";
  absolute = channel "absolute.tar" "nixpkgs";
  fifo = channel "fifo.tar" "nixpkgs";
  slashName = channel "plain.tar" "../escaped";
  noName = derivation { name = "channel"; builder = "builtin:unpack-channel"; system = "builtin";
    src = builtins.path { path = ./plain.tar; name = "plain.tar"; }; };
}`;

async function instantiate(
  root: string,
  file: string,
  attr: string,
): Promise<[string, Derivation]> {
  const drvPath = (await nix("nix-instantiate", ["--store", root, file, "-A", attr])).text;
  return [drvPath, parseDerivation(Deno.readFileSync(join(root, drvPath)), { path: drvPath })];
}

/** nix-build's failure text for an attribute (it must fail). */
async function nixFails(root: string, file: string, attr: string): Promise<string> {
  const out = await new Deno.Command("nix-build", {
    args: ["--store", root, "--no-out-link", file, "-A", attr],
    env: nixEnv(),
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(!out.success, `nix-build -A ${attr} succeeded`);
  return new TextDecoder().decode(out.stderr);
}

Deno.test("builtin:unpack-channel unpacks plain, gzip, bzip2 and xz channel tarballs as nix-build does", async () => {
  using t = tempDir();
  await writeTarballs(t.path);
  const file = join(t.path, "channel.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    for (const attr of ["plain", "gz", "bz2", "xz", "sameName"]) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      const want = (await nix("nix-build", ["--store", nixRoot, "--no-out-link", file, "-A", attr]))
        .text;
      const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...drv.inputSrcs]))
        .bytes;
      await store.importExport(new WireReader(ReadableStream.from([exp])));
      const r = await builder.build(drvPath, drv);
      assert.equal(r.status, BuildStatus.Built, `${attr}: ${r.errorMsg}`);
      assert.equal(r.builtOutputs.get("out")?.outPath, want, attr);
      const theirs = (await nix("nix-store", ["--store", nixRoot, "-q", "--hash", want])).text;
      assert.equal(store.requirePathInfo(want).narHash.toString("base32", true), theirs, attr);
      const channel = attr === "xz" ? "nixos" : attr === "sameName" ? "nixexprs-22.05" : "nixpkgs";
      assert.deepEqual([...Deno.readDirSync(store.realPath(want))].map((e) => e.name), [channel]);
      assert.equal(Deno.readLinkSync(join(store.realPath(want), channel, "top")), "pkgs/top-level");
    }
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("builtin:unpack-channel refuses bad tarballs and names with a clear error, nothing registered", async () => {
  using t = tempDir();
  await writeTarballs(t.path);
  const file = join(t.path, "channel.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  // Nix fails on these too; two entries and none in its own words
  for (const attr of ["two", "empty"]) {
    assert.match(
      await nixFails(nixRoot, file, attr),
      /channel tarball '.*' contains more than one file/,
    );
  }
  for (const attr of ["dotdot", "through", "noName"]) await nixFails(nixRoot, file, attr);
  const store = await Store.open(join(t.path, "ours"));
  try {
    const builder = new Builder(store, nixSandboxRunner());
    const cases: [string, RegExp][] = [
      ["two", /channel tarball '\/nix\/store\/[a-z0-9]{32}-two\.tar' contains more than one file/],
      ["empty", /channel tarball '.*-empty\.tar' contains more than one file/],
      ["dotdot", /member 'nixexprs-22\.05\/\.\.\/\.\.\/evil' has '\.\.' in its path/],
      [
        "through",
        /member 'link-dir\/l\/evil' would be extracted through the symlink 'link-dir\/l'/,
      ],
      ["absolute", /member '\/tmp\/evil' has an absolute path/],
      ["fifo", /member 'fifo\/p' is of type 'p', which a store path cannot hold/],
      ["slashName", /renaming channel directory: '\.\.\/escaped' is not a file name/],
      ["noName", /attribute 'channelName' missing/],
    ];
    let before: string[] = [];
    for (const [attr, logged] of cases) {
      const [drvPath, drv] = await instantiate(nixRoot, file, attr);
      const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...drv.inputSrcs]))
        .bytes;
      await store.importExport(new WireReader(ReadableStream.from([exp])));
      before = store.allValidPaths();
      let log = "";
      const r = await builder.build(drvPath, drv, {
        log: (c) => log += new TextDecoder().decode(c),
      });
      assert.equal(r.status, BuildStatus.PermanentFailure, `${attr}: ${r.errorMsg}`);
      assert.match(r.errorMsg, /failed with exit code 1/, attr);
      assert.match(log, logged, attr);
      assert.deepEqual(store.allValidPaths(), before, attr);
    }
    // nothing was written outside the output
    assert.throws(() => Deno.lstatSync("/tmp/evil"), Deno.errors.NotFound);
    // and no scratch output is left in the store
    const names = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort();
    assert.deepEqual(names, before.map((p) => p.slice(p.lastIndexOf("/") + 1)).sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("real Nix with -j0 builds a builtin:unpack-channel derivation on a buildhost serve host", async () => {
  using t = tempDir();
  await writeTarballs(t.path);
  const file = join(t.path, "channel.nix");
  Deno.writeTextFileSync(file, EXPR);
  const client = join(t.path, "client"), local = join(t.path, "local");
  const remote = join(t.path, "remote");
  const env = {
    PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`,
    BUILDHOST_TEST_REMOTE_STORE: remote,
  };
  for (const attr of ["gz", "xz"]) {
    const out = (await nix("nix-build", [
      "--store",
      client,
      "--no-out-link",
      file,
      "-A",
      attr,
      "--max-jobs",
      "0",
      "--builders",
      BUILDERS,
    ], { env })).text;
    const want = (await nix("nix-build", ["--store", local, "--no-out-link", file, "-A", attr]))
      .text;
    assert.equal(out, want, attr);
    const hash = async (root: string) =>
      (await nix("nix-store", ["--store", root, "-q", "--hash", want])).text;
    assert.equal(await hash(client), await hash(local), attr);
  }
  const store = await Store.open(remote);
  try {
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.equal(store.allValidPaths().filter((p) => p.endsWith("-channel")).length, 2);
  } finally {
    store.close();
  }
});
