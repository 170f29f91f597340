// File names and symlink targets that are not UTF-8 (issue 9 item 10): Nix
// stores them byte for byte; buildhost handles names as text, so it refuses
// them with an error that names the entry (bad bytes escaped) and writes
// nothing, rather than failing with a misleading error or losing bytes.
import assert from "node:assert/strict";
import { join } from "node:path";
import { NarError } from "../../lib/nar/nar_error.ts";
import { escapeBytes } from "../../lib/nar/nar_reader.ts";
import { dumpPath } from "../../lib/store/dump_path.ts";
import { tempDir } from "../_helpers/nix.ts";

function sh(script: string, cwd: string): void {
  const out = new Deno.Command("sh", { args: ["-c", script], cwd, stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

async function collect(it: AsyncIterable<Uint8Array>): Promise<void> {
  for await (const _ of it) { /* drain */ }
}

Deno.test("escapeBytes() keeps valid UTF-8 and writes other bytes as \\xNN", () => {
  const b = (...xs: number[]) => new Uint8Array(xs);
  assert.equal(escapeBytes(b(0x63, 0x61, 0x66, 0xe9)), "caf\\xe9");
  assert.equal(escapeBytes(b(0xff)), "\\xff");
  assert.equal(escapeBytes(b(0xc3, 0xa9, 0xc3)), "é\\xc3");
  assert.equal(escapeBytes(b(0x5c, 0xe2, 0x82, 0xac)), "\\x5c€");
  assert.equal(escapeBytes(b(0xed, 0xa0, 0x80)), "\\xed\\xa0\\x80"); // a surrogate is not UTF-8
});

Deno.test("dumpPath() of a Latin-1 name refuses it, naming the directory and the entry", async () => {
  using tmp = tempDir();
  const dir = join(tmp.path, "d");
  Deno.mkdirSync(dir);
  sh(`printf x > "$(printf 'caf\\351')"`, dir);
  await assert.rejects(
    collect(dumpPath(dir)),
    (e) =>
      e instanceof NarError &&
      e.message.includes(`"${dir}" has an entry whose name is not valid UTF-8 ("caf?"`),
  );
});
