import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { FileLock } from "../../lib/store/path_lock.ts";
import { tempDir } from "../_helpers/nix.ts";

import { BASE, HASH, narOf, nodes, storeFiles } from "./_lock_named_paths.ts";
Deno.test("Store.addNar() of a path named like a lock waits for that lock's holder", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "root"));
  try {
    // Another importer of BASE holds its lock (the file BASE.lock).
    const held = await store.lockPath(BASE);
    let done = false;
    const importing = store.addNar({ path: `${BASE}.lock`, references: [] }, narOf(nodes.file!))
      .then(() => done = true);
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(done, false, "the import replaced a lock file someone holds");
    held.release();
    await importing;
    assert.ok(store.isValid(`${BASE}.lock`));
    // The next holder of BASE's lock uses the valid path as its lock file and keeps it.
    (await store.lockPath(BASE)).release();
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.deepEqual(storeFiles(store), [`${HASH}-foo.lock`]);
  } finally {
    store.close();
  }
});

Deno.test("FileLock.release() deletes only the file it holds, and not when told to keep it", async () => {
  using tmp = tempDir();
  const p = join(tmp.path, "x.lock");
  const a = await FileLock.acquire(p);
  Deno.removeSync(p);
  Deno.writeTextFileSync(p, "someone else's file");
  a.release(true);
  assert.equal(Deno.readTextFileSync(p), "someone else's file");
  const b = await FileLock.acquire(p, { keep: () => true });
  b.release(true);
  assert.equal(Deno.readTextFileSync(p), "someone else's file");
  const c = await FileLock.acquire(p);
  c.release(true);
  assert.throws(() => Deno.lstatSync(p), Deno.errors.NotFound);
});

Deno.test("FileLock.tryAcquire() takes a free lock at once and never waits for a held one", async () => {
  using tmp = tempDir();
  const p = join(tmp.path, "x.lock");
  const a = FileLock.tryAcquire(p);
  assert.ok(a, "a free lock is taken (FFI is permitted in the tests)");
  assert.equal(FileLock.tryAcquire(p), undefined);
  const waiting = FileLock.acquire(p);
  a.release(true);
  const b = await waiting; // the waiter finds the file deleted and takes a new one
  assert.equal(FileLock.tryAcquire(p), undefined);
  b.release(true);
  assert.throws(() => Deno.lstatSync(p), Deno.errors.NotFound);
  const c = FileLock.tryAcquire(p);
  assert.ok(c);
  c.release(true);
});

Deno.test("Store.tryLockPath() excludes Store.lockPath(), and leaves paths named like locks to it", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const held = store.tryLockPath(BASE);
    assert.ok(held);
    assert.equal(store.tryLockPath(BASE), undefined);
    let got = false;
    const waiting = store.lockPath(BASE).then((l) => (got = true, l));
    await new Promise((r) => setTimeout(r, 30));
    assert.equal(got, false);
    held.release();
    (await waiting).release();
    assert.equal(store.tryLockPath(`${BASE}.lock`), undefined, "two locks: waited for");
    assert.deepEqual(storeFiles(store), []);
  } finally {
    store.close();
  }
});
