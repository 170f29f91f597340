/**
 * Lock files through libc (FFI) behave as through Deno's API: the same
 * errors for the same opens, the same identities, locks that exclude each
 * other across open files; and only libc's can be tried without waiting.
 * A lock held elsewhere is waited for without stopping the event loop.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { denoLockFiles, libcLockFiles, type LockFiles } from "../../lib/store/lock_file.ts";
import { tempDir } from "../_helpers/nix.ts";

const libc = libcLockFiles();
const both: [string, LockFiles][] = [["libc", libc!], ["Deno", denoLockFiles]];

Deno.test("lock files go through libc where FFI is permitted", () => {
  assert.ok(libc, "the tests run with -A, so libc should be used");
  assert.equal(libc.canTry, true);
  assert.equal(denoLockFiles.canTry, false);
});

function errorName(f: () => unknown): string | undefined {
  try {
    f();
    return undefined;
  } catch (e) {
    return (e as Error).constructor.name;
  }
}

Deno.test("opening lock files: the same errors through libc and Deno", () => {
  using tmp = tempDir();
  const file = join(tmp.path, "file");
  Deno.writeTextFileSync(file, "x");
  const missing = join(tmp.path, "missing");
  const under = join(file, "under");
  const cases: [string, string, "create" | "createOrOpen" | "readWrite" | "readOnly"][] = [
    ["existing file, create", file, "create"],
    ["missing file, readWrite", missing, "readWrite"],
    ["missing file, readOnly", missing, "readOnly"],
    ["below a file, createOrOpen", under, "createOrOpen"],
    ["directory, readWrite", tmp.path, "readWrite"],
  ];
  for (const [what, path, how] of cases) {
    const a = errorName(() => libc!.open(path, how).close());
    const b = errorName(() => denoLockFiles.open(path, how).close());
    assert.ok(a !== undefined, what);
    assert.equal(a, b, what);
  }
  // A directory opens read-only (a lock file may be a store path that is one).
  for (const [name, files] of both) files.open(tmp.path, "readOnly").close(), name;
});

Deno.test("libc refuses to open a lock file through a symlink; Deno's callers look first", () => {
  using tmp = tempDir();
  const target = join(tmp.path, "target");
  Deno.writeTextFileSync(target, "valuable");
  const link = join(tmp.path, "link");
  Deno.symlinkSync(target, link);
  for (const how of ["readWrite", "readOnly", "createOrOpen"] as const) {
    assert.throws(() => libc!.open(link, how), Deno.errors.FilesystemLoop, how);
  }
  assert.throws(() => libc!.open(link, "create"), Deno.errors.AlreadyExists);
  for (const [name, files] of both) {
    assert.equal(files.lstat(link)?.isSymlink, true, name);
    assert.equal(files.lstat(target)?.isFile, true, name);
    assert.equal(files.lstat(join(tmp.path, "missing")), undefined, name);
  }
  assert.equal(Deno.readTextFileSync(target), "valuable");
});

Deno.test("identities: an open file is its path's file until deleted, then has no links", () => {
  using tmp = tempDir();
  for (const [name, files] of both) {
    const p = join(tmp.path, `${name}.lock`);
    using f = files.open(p, "create");
    const id = f.identity();
    const st = files.lstat(p)!;
    assert.equal(id.ino, st.ino, name);
    assert.equal(id.dev, st.dev, name);
    assert.equal(id.ino, Deno.lstatSync(p).ino, name);
    assert.equal(id.nlink, 1, name);
    f.write(new TextEncoder().encode("d"));
    files.unlink(p);
    assert.equal(files.lstat(p), undefined, name);
    assert.equal(f.identity().nlink, 0, name);
    assert.throws(() => files.unlink(p), Deno.errors.NotFound, name);
    f.close();
    f.close(); // again: nothing
  }
  // The two agree on which file a path is.
  const p = join(tmp.path, "shared.lock");
  Deno.writeTextFileSync(p, "");
  const a = libc!.lstat(p)!, b = denoLockFiles.lstat(p)!;
  assert.deepEqual([a.ino, a.dev, a.nlink], [b.ino, b.dev, b.nlink]);
});

Deno.test("tryLock through libc: exclusive excludes, shared shares, unlock frees", () => {
  using tmp = tempDir();
  const p = join(tmp.path, "x.lock");
  using a = libc!.open(p, "create");
  using b = libc!.open(p, "readWrite");
  assert.equal(a.tryLock(true), true);
  assert.equal(b.tryLock(true), false);
  assert.equal(b.tryLock(false), false);
  a.unlock();
  assert.equal(b.tryLock(false), true);
  assert.equal(a.tryLock(false), true);
  assert.equal(a.tryLock(true), false); // b still shares it
  b.close(); // closing drops b's lock
  assert.equal(a.tryLock(true), true);
  using d = denoLockFiles.open(p, "readWrite");
  assert.equal(d.tryLock(true), undefined, "Deno's API cannot try");
});

Deno.test("a lock held elsewhere is waited for without stopping the event loop", async () => {
  using tmp = tempDir();
  for (const [name, files] of both) {
    const p = join(tmp.path, `${name}.lock`);
    using holder = files.open(p, "create");
    await holder.lock(true);
    using waiter = files.open(p, "readWrite");
    let got = false;
    const waiting = waiter.lock(true).then(() => got = true);
    let ticks = 0;
    while (ticks < 5) {
      await new Promise((r) => setTimeout(r, 10));
      ticks++;
    }
    assert.equal(got, false, `${name}: taken while held`);
    holder.unlock();
    await waiting;
    assert.equal(got, true, name);
    if (files.canTry) assert.equal(holder.tryLock(false), false, `${name}: not excluding`);
  }
});

Deno.test("a lock held by another process cannot be tried, and is waited for", async () => {
  using tmp = tempDir();
  const p = join(tmp.path, "x.lock");
  Deno.writeTextFileSync(p, "");
  const child = new Deno.Command("flock", {
    args: ["-x", p, "sh", "-c", "echo held; read line"],
    stdin: "piped",
    stdout: "piped",
  }).spawn();
  const reader = child.stdout.getReader();
  assert.match(new TextDecoder().decode((await reader.read()).value), /held/);
  using f = libc!.open(p, "readWrite");
  assert.equal(f.tryLock(false), false);
  const waiting = f.lock(true);
  const w = child.stdin.getWriter();
  await w.write(new TextEncoder().encode("go\n"));
  await w.close();
  await waiting;
  assert.equal((await child.status).success, true);
  reader.releaseLock();
  await child.stdout.cancel();
});
