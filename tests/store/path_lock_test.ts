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
