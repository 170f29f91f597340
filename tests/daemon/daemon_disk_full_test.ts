/**
 * Real Nix copies over ssh-ng to a daemon host whose disk is full: the copy
 * fails with the host's error and the host's store stays consistent, with
 * `nix-daemon --stdio` as the remote program too. Stricter than Nix 2.8,
 * buildhost leaves nothing half-imported in the store directory, so the
 * space is back and the next copy lands (Nix's partial path keeps it full).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

for (const name of ["nix-daemon", "buildhost"]) {
  Deno.test(`nix copy --to an ssh-ng ${name} host with a full disk fails cleanly`, async () => {
    using tmp = tempDir();
    let program = "nix-daemon";
    if (name === "buildhost") {
      program = join(tmp.path, "remote-buildhost");
      Deno.writeTextFileSync(
        program,
        `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" "$@"\n`,
        {
          mode: 0o755,
        },
      );
    }
    const disk = join(tmp.path, "disk");
    Deno.mkdirSync(disk);
    const mount = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", "size=4m", "tmpfs", disk],
    }).output();
    assert.ok(mount.success);
    try {
      const client = join(tmp.path, "client");
      const hostStore = join(disk, "store");
      const uri = `ssh-ng://localhost?remote-program=${program}&remote-store=${hostStore}`;
      const big = join(tmp.path, "big.bin");
      using f = Deno.openSync(big, { write: true, create: true });
      for (let i = 0; i < 128; i++) f.writeSync(crypto.getRandomValues(new Uint8Array(65536)));
      const bigPath = (await nix("nix-store", ["--store", client, "--add", big])).text;
      const small = join(tmp.path, "small.txt");
      Deno.writeTextFileSync(small, "fits\n");
      const smallPath = (await nix("nix-store", ["--store", client, "--add", small])).text;

      await nix("nix", ["copy", "--store", client, "--to", uri, smallPath]);
      const err = await nixFails("nix", ["copy", "--store", client, "--to", uri, bigPath]);
      assert.match(err, /No space left on device|disk is full/);
      await nixFails("nix-store", ["--store", hostStore, "-q", "--hash", bigPath]);
      const verify = await nix("nix-store", [
        "--store",
        hostStore,
        "--verify",
        "--check-contents",
      ]);
      assert.doesNotMatch(verify.stderr, /error|corrupt|invalid|missing/i);
      const other = join(tmp.path, "other.txt");
      Deno.writeTextFileSync(other, "after the failure\n");
      const otherPath = (await nix("nix-store", ["--store", client, "--add", other])).text;
      const names = () =>
        [...Deno.readDirSync(join(hostStore, "nix", "store"))].map((e) => e.name)
          .filter((n) => n !== ".links" && !n.endsWith(".lock")).sort();
      const base = (p: string) => p.split("/").pop()!;
      if (name === "buildhost") {
        // stricter than Nix: nothing half-imported is left, so the space is back and the
        // host takes the next copy
        await nix("nix", ["copy", "--store", client, "--to", uri, otherPath]);
        assert.deepEqual(names(), [base(otherPath), base(smallPath)].sort());
      } else {
        // Nix 2.8 leaves the unregistered partial path behind, holding the space
        assert.deepEqual(names(), [base(bigPath), base(smallPath)].sort());
        const again = await nixFails("nix", ["copy", "--store", client, "--to", uri, otherPath]);
        assert.match(again, /No space left on device/);
      }
    } finally {
      await new Deno.Command("umount", { args: ["-l", disk] }).output();
    }
  });
}
