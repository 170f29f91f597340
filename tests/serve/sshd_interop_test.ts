/**
 * Real Nix 2.8 reaching buildhost through a real OpenSSH server (Debian's
 * `openssh-server`, started here on 127.0.0.1 with its own host key and
 * key-only authentication): copies both ways and a remote build, with
 * Nix's own ssh client, no stand-in.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { startSshd } from "../_helpers/sshd.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const SANDBOX_PATHS = "/bin /lib /lib64 /usr";

Deno.test("real Nix copies to, from and builds on buildhost through a real sshd (ssh:// and ssh-ng://)", async () => {
  using t = tempDir();
  const sshd = await startSshd(t.path);
  try {
    for (const protocol of ["ssh", "ssh-ng"] as const) {
      const dir = join(t.path, protocol);
      Deno.mkdirSync(dir);
      await scenarios(dir, sshd.sshOpts, protocol);
    }
  } finally {
    const log = await sshd.stop();
    // Nix really came in through sshd, with the key
    assert.match(log, /Accepted publickey for root from 127\.0\.0\.1/);
  }
});

async function scenarios(
  dir: string,
  sshOpts: string,
  protocol: "ssh" | "ssh-ng",
): Promise<void> {
  const remote = join(dir, "remote"), client = join(dir, "client");
  // The program sshd runs for Nix: its environment is a fresh login's.
  const program = join(dir, "remote-buildhost");
  Deno.writeTextFileSync(
    program,
    `#!/bin/sh\nexec "${Deno.execPath()}" run -A "${MAIN}" --store "${remote}" ` +
      `--sandbox-paths '${SANDBOX_PATHS}' "$@"\n`,
    { mode: 0o755 },
  );
  // ssh:// runs `program --serve --write`, ssh-ng:// runs `program --stdio` (the daemon protocol)
  const url = `${protocol}://root@127.0.0.1?remote-program=${program}`;
  // Nix's real ssh client (no stand-in first in PATH).
  const env = { NIX_SSHOPTS: sshOpts };

  // nix copy --to: a closure of two paths
  const [dep, top] = (await nix("nix", [
    "eval",
    "--store",
    client,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "dep.txt" "over ssh\\n"; in "\${dep} " + builtins.toFile "top.txt" "needs \${dep}\\n"`,
  ])).text.split(" ") as [string, string];
  await nix("nix", ["copy", "--store", client, "--to", url, top], { env });
  {
    const store = await Store.open(remote);
    try {
      assert.deepEqual(store.allValidPaths(), [dep, top].sort());
      assert.deepEqual(store.requirePathInfo(top).references, [dep]);
      assert.deepEqual(await store.verify({ checkContents: true }), []);
    } finally {
      store.close();
    }
  }

  // nix copy --from into a fresh store, which then verifies
  const fresh = join(dir, "fresh");
  await nix("nix", ["copy", "--store", fresh, "--from", url, top], { env });
  const verify = await nix("nix-store", ["--store", fresh, "--verify", "--check-contents"]);
  assert.doesNotMatch(verify.stderr, /error/);
  assert.equal(
    (await nix("nix-store", ["--store", fresh, "-q", "--references", top])).text,
    dep,
  );

  // a remote build: the input goes over, BuildDerivation runs, the output comes back
  const file = join(dir, "d.nix");
  Deno.writeTextFileSync(
    file,
    `derivation { name = "over-sshd"; system = "x86_64-linux"; builder = "/bin/sh";
      src = builtins.toFile "src.txt" "source\\n";
      args = [ "-c" "PATH=/bin:/usr/bin; echo building over sshd; cat $src > $out; echo built >> $out" ]; }`,
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
  const out = built.text;
  assert.equal(Deno.readTextFileSync(join(client, out)), "source\nbuilt\n");
  assert.match(built.stderr, /building over sshd/);
  const store = await Store.open(remote);
  try {
    assert.ok(store.isValid(out), "the output is registered on the build host");
  } finally {
    store.close();
  }
}
