/**
 * Lock files under contention: processes that take and release (deleting
 * the file, as an importer does) the same lock in a tight loop never hold
 * it at the same time, whether each one found the file, created it, or
 * locked one its previous holder had just deleted; and whether it locks
 * through libc (trying first, or waiting) or, without FFI, through Deno's API.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { tempDir } from "../_helpers/nix.ts";

const CHILD = new URL("./_lock_race_child.ts", import.meta.url).pathname;

/** How each child runs: with FFI (libc's locks) or without (Deno's), trying first or waiting. */
const KINDS: [permissions: string[], how: string][] = [
  [["-A"], "try"],
  [["-A"], "wait"],
  [["--allow-read", "--allow-write"], "try"],
  [["--allow-read", "--allow-write"], "wait"],
];

Deno.test("FileLock: four processes taking and deleting one lock 300 times each are never inside together", async () => {
  using t = tempDir();
  const lock = join(t.path, "p.lock");
  const marker = join(t.path, "inside");
  const children = KINDS.map(([permissions, how]) =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", ...permissions, CHILD, lock, marker, "300", how],
      stdout: "piped",
      stderr: "piped",
    }).output()
  );
  for (const out of await Promise.all(children)) {
    assert.equal(out.code, 0, new TextDecoder().decode(out.stderr));
    assert.equal(new TextDecoder().decode(out.stdout), "300\n");
  }
  assert.deepEqual([...Deno.readDirSync(t.path)].map((e) => e.name), []);
});
