/**
 * Nix 2.8's own functional tests for remote builds and copies (Debian's
 * source package, unchanged; and the ssh:// build-remote-trustless test of
 * later Nix, adapted to 2.8's harness in tests/interop/nix-functional/), run
 * by scripts/nix-functional-tests.sh: first
 * with nix-store as the remote program (the harness works), then with
 * buildhost (the drop-in works). A skipped test (status 99) is a failure.
 */
import assert from "node:assert/strict";

const SCRIPT = new URL("../../scripts/nix-functional-tests.sh", import.meta.url).pathname;

async function run(remote: string): Promise<string> {
  const out = await new Deno.Command("bash", {
    args: [SCRIPT, "--remote", remote],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(out.stdout);
  assert.ok(out.success, `${text}\n${new TextDecoder().decode(out.stderr).slice(-4000)}`);
  return text;
}

for (const remote of ["nix-store", "buildhost"]) {
  Deno.test(`Nix 2.8's remote-build and ssh tests pass with ${remote} as the remote program`, async () => {
    const text = await run(remote);
    for (
      const t of [
        "build-remote-input-addressed.sh",
        "build-remote-content-addressed-fixed.sh",
        "nix-copy-ssh.sh",
        "ssh-relay.sh",
        "build-remote-trustless-ssh.sh",
      ]
    ) {
      assert.match(text, new RegExp(`^${t.replaceAll(".", "\\.")} \\(${remote}\\): PASS`, "m"));
    }
  });
}
