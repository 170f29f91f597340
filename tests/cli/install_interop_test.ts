/**
 * `deno task install` from a throw-away clone into a temporary prefix; the
 * clone is deleted, and real Nix reaches the installed `buildhost` through a
 * real sshd as `remote-program=buildhost` (the bare name, found on the
 * session's PATH), to copy to it and build on it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { startSshd } from "../_helpers/sshd.ts";
import { installFromClone } from "./_install.ts";

const SANDBOX_PATHS = "/bin /lib /lib64 /usr";

Deno.test("deno task install: real Nix copies to and builds on the installed buildhost through a real sshd", async (t) => {
  using tmp = tempDir();
  const prefix = join(tmp.path, "prefix");
  await installFromClone(join(tmp.path, "clone"), prefix);

  await t.step(
    "real Nix copies and builds through sshd with remote-program=buildhost",
    async () => {
      const dir = join(tmp.path, "sshd");
      Deno.mkdirSync(dir);
      const hostStore = join(tmp.path, "host-store");
      // The session's environment, as an operator would set it for a prefix of their own:
      // the prefix on PATH and the sandbox paths. The store is the URL's remote-store (as root,
      // buildhost's default store would be the machine's real /nix, as for nix-store).
      const sshd = await startSshd(dir, [
        `SetEnv PATH=${prefix}/bin:/usr/bin:/bin ` +
        `"NIX_CONFIG=extra-sandbox-paths = ${SANDBOX_PATHS}"`,
      ]);
      try {
        const url = `ssh://127.0.0.1?remote-program=buildhost&remote-store=${hostStore}`;
        const env = { NIX_SSHOPTS: sshd.sshOpts };
        const client = join(tmp.path, "client");
        const src = (await nix("nix", [
          "eval",
          "--store",
          client,
          "--raw",
          "--expr",
          `builtins.toFile "installed.txt" "copied to an installed buildhost\\n"`,
        ])).text;
        await nix("nix", ["copy", "--store", client, "--to", url, src], { env });
        const file = join(tmp.path, "d.nix");
        Deno.writeTextFileSync(
          file,
          `derivation { name = "on-installed"; system = "x86_64-linux"; builder = "/bin/sh";
          src = builtins.toFile "src.txt" "source\\n";
          args = [ "-c" "PATH=/bin:/usr/bin; echo building on the installed host; cat $src > $out" ]; }`,
        );
        const built = await nix("nix-build", [
          "--store",
          client,
          "--no-out-link",
          file,
          "--max-jobs",
          "0",
          "--builders",
          `${url} x86_64-linux`,
        ], { env });
        assert.equal(Deno.readTextFileSync(join(client, built.text)), "source\n");
        assert.match(built.stderr, /building on the installed host/);
        // Both landed in the store the client named (remote-store), not in the real /nix.
        const remote = await Store.open(hostStore);
        try {
          assert.ok(remote.isValid(src), "the copied path is on the host");
          assert.ok(remote.isValid(built.text), "the output is registered on the host");
        } finally {
          remote.close();
        }
      } finally {
        const log = await sshd.stop();
        assert.match(log, /Accepted publickey for root from 127\.0\.0\.1/);
      }
    },
  );
});
