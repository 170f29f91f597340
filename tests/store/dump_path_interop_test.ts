import assert from "node:assert/strict";
import { join } from "node:path";
import { dumpPath, narNodeFromPath } from "../../lib/store/dump_path.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";
import { collect } from "../nar/_trees.ts";

function sh(script: string, cwd: string): void {
  const out = new Deno.Command("sh", { args: ["-c", script], cwd, stderr: "piped" }).outputSync();
  if (!out.success) throw new Error(new TextDecoder().decode(out.stderr));
}

Deno.test("dumpPath() refuses sockets and FIFOs, naming the path, as Nix does", async () => {
  using tmp = tempDir();
  const dir = join(tmp.path, "d");
  Deno.mkdirSync(join(dir, "sub"), { recursive: true });
  Deno.writeTextFileSync(join(dir, "a"), "a");
  sh("mkfifo sub/fifo", dir);
  await assert.rejects(
    collect(dumpPath(dir)),
    (e) =>
      e instanceof NarError && e.path === "sub/fifo" &&
      e.message.includes(`"${dir}/sub/fifo" is a FIFO, not a regular file, directory or symlink`),
  );
  assert.match(await nixFails("nix-store", ["--dump", dir]), /fifo|unsupported/i);
  await assert.rejects(narNodeFromPath(join(dir, "sub/fifo")), /is a FIFO/);

  const sockDir = join(tmp.path, "s");
  Deno.mkdirSync(sockDir);
  const listener = Deno.listen({ transport: "unix", path: join(sockDir, "sock") });
  try {
    await assert.rejects(collect(dumpPath(sockDir)), /"sock"\): ".*\/sock" is a socket/);
    assert.match(await nixFails("nix-store", ["--dump", sockDir]), /sock/);
  } finally {
    listener.close();
  }
});

Deno.test("dumpPath() refuses names that are not UTF-8, rather than dumping them wrongly", async () => {
  using tmp = tempDir();
  const dir = join(tmp.path, "d");
  Deno.mkdirSync(dir);
  sh("printf x > \"$(printf 'a\\377')\"", dir);
  await assert.rejects(collect(dumpPath(dir)), /has an entry whose name is not valid UTF-8/);
  // ... also next to a real U+FFFD name, which Deno would list twice
  sh("printf y > \"$(printf 'a\\357\\277\\275')\"", dir);
  await assert.rejects(collect(dumpPath(dir)), /not valid UTF-8/);
  sh("rm \"$(printf 'a\\377')\"", dir);
  assert.deepEqual(await collect(dumpPath(dir)), (await nix("nix-store", ["--dump", dir])).bytes);
});

Deno.test("dumpPath() does not follow symlinks, at the top or below", async () => {
  using tmp = tempDir();
  const target = join(tmp.path, "target");
  Deno.mkdirSync(target);
  Deno.writeTextFileSync(join(target, "secret"), "s");
  const dir = join(tmp.path, "d");
  Deno.mkdirSync(dir);
  Deno.symlinkSync(target, join(dir, "l"));
  Deno.symlinkSync(target, join(tmp.path, "top"));
  for (const p of [dir, join(tmp.path, "top")]) {
    const nar = await collect(dumpPath(p));
    assert.ok(!new TextDecoder().decode(nar).includes("secret"));
    assert.deepEqual(nar, (await nix("nix-store", ["--dump", p])).bytes);
  }
  await assert.rejects(collect(dumpPath(join(tmp.path, "missing"))), Deno.errors.NotFound);
});
