/**
 * Real Nix copies to a serve host whose disk is full (its store on a small
 * tmpfs): the copy fails with the host's error, the host's store stays
 * consistent (nothing half-imported; real Nix verifies it) and takes the
 * next copy that fits. The same scenario passes with `nix-store --serve
 * --write` as the remote program, except that Nix leaves the unregistered
 * partial path in the store directory, where buildhost leaves nothing.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const REMOTE_BUILDHOST = new URL("../_helpers/remote-buildhost", import.meta.url).pathname;

const REMOTES = [
  { name: "nix-store", uri: (store: string) => `ssh://localhost?remote-store=${store}` },
  {
    name: "buildhost",
    uri: (_store: string) => `ssh://localhost?remote-program=${REMOTE_BUILDHOST}`,
    env: (store: string) => ({ BUILDHOST_TEST_REMOTE_STORE: store }),
  },
];

for (const remote of REMOTES) {
  Deno.test(`nix copy --to a ${remote.name} serve host with a full disk fails cleanly`, async () => {
    using tmp = tempDir();
    const disk = join(tmp.path, "disk");
    Deno.mkdirSync(disk);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
    }).output();
    assert.ok(mount.success);
    try {
      const client = join(tmp.path, "client");
      const hostStore = join(disk, "store");
      const env = remote.env?.(hostStore) ?? {};
      const big = join(tmp.path, "big.bin");
      Deno.writeFileSync(big, crypto.getRandomValues(new Uint8Array(65536)).map((b, i) => b ^ i));
      using f = Deno.openSync(big, { append: true });
      for (let i = 0; i < 128; i++) f.writeSync(crypto.getRandomValues(new Uint8Array(65536)));
      const bigPath = (await nix("nix-store", ["--store", client, "--add", big])).text;
      const small = join(tmp.path, "small.txt");
      Deno.writeTextFileSync(small, "fits\n");
      const smallPath = (await nix("nix-store", ["--store", client, "--add", small])).text;

      // the host store exists and holds one path before the failing copy
      await nix("nix", ["copy", "--store", client, "--to", remote.uri(hostStore), smallPath], {
        env,
      });
      const err = await nixFails(
        "nix",
        ["copy", "--store", client, "--to", remote.uri(hostStore), bigPath],
        { env },
      );
      assert.match(err, /No space left on device|disk is full/);
      const valid =
        (await nix("nix-store", ["--store", hostStore, "-q", "--requisites", smallPath]))
          .text;
      assert.equal(valid, smallPath);
      await nixFails("nix-store", ["--store", hostStore, "-q", "--hash", bigPath]);
      const verify = await nix("nix-store", [
        "--store",
        hostStore,
        "--verify",
        "--check-contents",
      ]);
      assert.doesNotMatch(verify.stderr, /error|corrupt|invalid|missing/i);
      const names = [...Deno.readDirSync(join(hostStore, "nix", "store"))].map((e) => e.name)
        .filter((n) => n !== ".links").sort();
      const bigName = bigPath.split("/").pop()!, smallName = smallPath.split("/").pop()!;
      if (remote.name === "buildhost") {
        // stricter than Nix: nothing half-imported is left in the store directory
        assert.deepEqual(names, [smallName]);
      } else {
        // Nix 2.8 leaves the unregistered partial path and its lock behind
        assert.deepEqual(names, [bigName, `${bigName}.lock`, smallName].sort());
      }
    } finally {
      await new Deno.Command("umount", { args: ["-l", disk] }).output();
    }
  });
}

const FILLS_DISK = String.raw`derivation { name = "fills-disk"; system = "x86_64-linux";
  builder = "/bin/sh";
  args = [ "-c" "PATH=/bin:/usr/bin; echo writing; head -c 16777216 /dev/urandom > $out" ]; }`;

for (const remote of REMOTES) {
  Deno.test(`a remote build on a ${remote.name} serve host that fills the disk fails, registering nothing`, async () => {
    using tmp = tempDir();
    const disk = join(tmp.path, "disk");
    Deno.mkdirSync(disk);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
    }).output();
    assert.ok(mount.success);
    try {
      const client = join(tmp.path, "client");
      const hostStore = join(disk, "store");
      const file = join(tmp.path, "fills.nix");
      Deno.writeTextFileSync(file, FILLS_DISK);
      const err = await nixFails("nix-build", [
        "--store",
        client,
        "--no-out-link",
        file,
        "--max-jobs",
        "0",
        "--builders",
        `${remote.uri(hostStore)} x86_64-linux`,
        "--option",
        "builders-use-substitutes",
        "false",
      ], { env: { PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`, ...remote.env?.(hostStore) } });
      assert.match(err, /writing/);
      assert.match(err, /No space left on device/);
      assert.match(err, /fills-disk\.drv.*failed/s);
      const out = (await nix("nix-instantiate", [
        "--store",
        client,
        "--eval",
        "-E",
        `(import ${file}).outPath`,
      ])).text.replaceAll('"', "");
      await nixFails("nix-store", ["--store", hostStore, "-q", "--hash", out]);
      const verify = await nix("nix-store", [
        "--store",
        hostStore,
        "--verify",
        "--check-contents",
      ]);
      assert.doesNotMatch(verify.stderr, /error|corrupt|invalid|missing/i);
      if (remote.name === "buildhost") {
        const names = [...Deno.readDirSync(join(hostStore, "nix", "store"))].map((e) => e.name)
          .filter((n) => n !== ".links");
        assert.deepEqual(names, []);
      }
    } finally {
      await new Deno.Command("umount", { args: ["-l", disk] }).output();
    }
  });
}
