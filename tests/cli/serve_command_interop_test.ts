/**
 * `buildhost --serve` as a process, next to `nix-store --serve`: what it
 * says when the client sends nothing or a partial handshake.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "../_helpers/buildhost.ts";
import { nixEnv, tempDir } from "../_helpers/nix.ts";

async function serveWith(argv: string[], stdin: Uint8Array) {
  const child = new Deno.Command(argv[0]!, {
    args: argv.slice(1),
    env: nixEnv(),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin).catch(() => {});
  await w.close().catch(() => {});
  const out = await child.output();
  return { code: out.code, stderr: new TextDecoder().decode(out.stderr) };
}

Deno.test("buildhost --serve says 'unexpected end-of-file' as nix-store for an empty or cut handshake", async () => {
  using t = tempDir();
  for (const input of [new Uint8Array(0), new Uint8Array([1, 2, 3])]) {
    const nix = await serveWith(
      ["nix-store", "--serve", "--write", "--store", join(t.path, "n")],
      input,
    );
    const ours = await serveWith(
      [Deno.execPath(), "run", "-A", MAIN, "--serve", "--write", "--store", join(t.path, "b")],
      input,
    );
    assert.equal(nix.stderr, "error: unexpected end-of-file\n");
    assert.deepEqual(ours, nix);
  }
});
