/**
 * The temporaries of dead processes go when a store is opened; those of a
 * live one stay, this process's own included (a daemon opens the store for
 * each session while other sessions' imports are in flight); each store open
 * in a process keeps its temporary roots in a file of its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { readTempRoots } from "../../lib/store/temp_roots.ts";
import { tempDir } from "../_helpers/nix.ts";
import { exists } from "../_helpers/fs.ts";

Deno.test("Store.open: another session's temporary in this process stays; an earlier process's of this pid goes", async () => {
  using tmp = tempDir();
  const first = await Store.open(tmp.path);
  const inFlight = first.tempPath();
  Deno.mkdirSync(inFlight);
  // Same pid, made before this process started: a leftover of an earlier process.
  const earlier = join(
    first.layout.realStoreDir,
    `.buildhost-tmp-${Deno.pid}-${Math.floor(performance.timeOrigin) - 60_000}-0`,
  );
  Deno.mkdirSync(earlier);
  // A pid that no process has.
  const dead = join(first.layout.realStoreDir, `.buildhost-tmp-2147483646-1-0`);
  Deno.mkdirSync(dead);
  const second = await Store.open(tmp.path);
  assert.ok(exists(inFlight));
  assert.ok(!exists(earlier));
  assert.ok(!exists(dead));
  second.close();
  first.close();
});

Deno.test("TempRoots: two stores open in one process keep their own roots; one closing leaves the other's", async () => {
  using tmp = tempDir();
  const a = await Store.open(tmp.path);
  const b = await Store.open(tmp.path);
  const pa = "/nix/store/ffffffffffffffffffffffffffffffff-a";
  const pb = "/nix/store/ffffffffffffffffffffffffffffffff-b";
  await a.tempRoots.add([pa]);
  await b.tempRoots.add([pb]);
  assert.deepEqual([...readTempRoots(a.layout.tempRootsDir)].sort(), [pa, pb]);
  a.close();
  assert.deepEqual([...readTempRoots(b.layout.tempRootsDir)], [pb]);
  b.close();
  assert.deepEqual([...Deno.readDirSync(b.layout.tempRootsDir)], []);
});

Deno.test("TempRoots: only paths rooted here are noted valid, and closing forgets them", async () => {
  using tmp = tempDir();
  const store = await Store.open(tmp.path);
  try {
    const rooted = "/nix/store/ffffffffffffffffffffffffffffffff-a";
    const other = "/nix/store/ffffffffffffffffffffffffffffffff-b";
    await store.tempRoots.add([rooted]);
    store.tempRoots.noteValid([rooted, other]);
    assert.equal(store.tempRoots.knownValid(rooted), true);
    assert.equal(store.tempRoots.knownValid(other), false, "not rooted: it may go");
    store.tempRoots.close();
    assert.equal(store.tempRoots.knownValid(rooted), false);
    // Imported paths are rooted by their import and noted once registered.
    const dep = await store.addText("dep", "dep");
    assert.equal(store.tempRoots.knownValid(dep.path), true);
    const top = await store.addText("top", dep.path, [dep.path]);
    assert.equal(store.tempRoots.knownValid(top.path), true);
  } finally {
    store.close();
  }
});
