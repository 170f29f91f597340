/**
 * canonicalisePath() gives a tree Nix's canonical modes and times; a
 * symlink's own time is set (through libc's `utimensat`, or node:fs where FFI
 * is not permitted), never its target's.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { CanonicaliseError, canonicalisePath } from "../../lib/store/canonicalise.ts";
import { tempDir } from "../_helpers/nix.ts";

/** A tree with each kind of entry, and a target outside it. */
function makeTree(root: string): { tree: string; outside: string } {
  const tree = join(root, "tree");
  const outside = join(root, "outside");
  Deno.writeTextFileSync(outside, "target");
  Deno.mkdirSync(join(tree, "sub"), { recursive: true });
  Deno.writeTextFileSync(join(tree, "exec"), "#!", { mode: 0o4775 });
  Deno.chmodSync(join(tree, "exec"), 0o4775);
  Deno.writeTextFileSync(join(tree, "sub", "plain"), "x");
  Deno.chmodSync(join(tree, "sub", "plain"), 0o664);
  Deno.symlinkSync(outside, join(tree, "sub", "link"));
  Deno.symlinkSync("missing", join(tree, "dangling"));
  return { tree, outside };
}

function check(tree: string, outside: string): void {
  const mode = (p: string) => Deno.lstatSync(join(tree, p)).mode! & 0o7777;
  const mtime = (p: string) => Deno.lstatSync(p).mtime!.getTime();
  assert.equal(mode(""), 0o555);
  assert.equal(mode("sub"), 0o555);
  assert.equal(mode("exec"), 0o555);
  assert.equal(mode("sub/plain"), 0o444);
  for (const p of ["", "sub", "exec", "sub/plain", "sub/link", "dangling"]) {
    assert.equal(mtime(join(tree, p)), 1000, `mtime of "${p}"`);
  }
  assert.notEqual(mtime(outside), 1000, "a symlink's target is not touched");
}

Deno.test("canonicalisePath() sets modes and times, a symlink's own time and not its target's", () => {
  using tmp = tempDir();
  const { tree, outside } = makeTree(tmp.path);
  canonicalisePath(tree);
  check(tree, outside);
  Deno.chmodSync(join(tree, "sub"), 0o755);
  Deno.chmodSync(tree, 0o755);
});

Deno.test("without FFI, node:fs sets a symlink's own time the same way", async () => {
  using tmp = tempDir();
  const { tree, outside } = makeTree(tmp.path);
  const code = `import { canonicalisePath } from ${
    JSON.stringify(new URL("../../lib/store/canonicalise.ts", import.meta.url).href)
  };\ncanonicalisePath(${JSON.stringify(tree)});`;
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["eval", "--no-config", "--allow-read", "--allow-write", "--allow-env", code],
    stderr: "piped",
  }).output();
  assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
  check(tree, outside);
  Deno.chmodSync(join(tree, "sub"), 0o755);
  Deno.chmodSync(tree, 0o755);
});

Deno.test("canonicalisePath() refuses a FIFO, naming it", () => {
  using tmp = tempDir();
  const fifo = join(tmp.path, "fifo");
  const made = new Deno.Command("mkfifo", { args: [fifo] }).outputSync();
  assert.ok(made.success);
  assert.throws(
    () => canonicalisePath(tmp.path),
    (e) => e instanceof CanonicaliseError && e.message.includes(fifo),
  );
});
