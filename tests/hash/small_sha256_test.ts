/**
 * Small SHA-256 hashes are computed in JavaScript, giving the same bytes;
 * larger ones load Nettle through FFI, or node:crypto where FFI is not
 * permitted or Nettle was ruled out. Each in a process of its own
 * (_small_sha256_child.ts), as what is loaded is per process.
 */
import assert from "node:assert/strict";

const child = new URL("./_small_sha256_child.ts", import.meta.url).pathname;

async function run(permissions: string[], expected: string): Promise<void> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...permissions, child, expected],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const err = new TextDecoder().decode(out.stderr);
  assert.equal(out.code, 0, err);
  assert.equal(new TextDecoder().decode(out.stdout), "ok\n");
}

Deno.test("SHA-256 of small inputs in JavaScript, then in Nettle, equal WebCrypto's", async () => {
  await run(["-A"], "nettle");
});

Deno.test("without FFI, node:crypto takes over instead, with the same bytes", async () => {
  await run(["--allow-read", "--allow-env"], "node");
});

Deno.test("with Nettle ruled out, node:crypto takes over, with the same bytes", async () => {
  await run(["-A"], "node");
});
