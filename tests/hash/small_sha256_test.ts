/**
 * Small SHA-256 hashes are computed without node:crypto (whose loading is
 * the costliest part of a session's start), giving the same bytes; larger
 * ones load it. In a process of its own (_small_sha256_child.ts), as what
 * is loaded is per process.
 */
import assert from "node:assert/strict";

Deno.test("SHA-256 of small inputs without node:crypto, then with it, equal WebCrypto's", async () => {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_small_sha256_child.ts", import.meta.url).pathname],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout), "ok\n");
});
