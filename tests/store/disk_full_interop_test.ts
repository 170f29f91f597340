/**
 * A full disk: a store on a small tmpfs. An import or a build that runs out
 * of space fails with a clear error and changes nothing: nothing registered,
 * no temporary left in the store directory, the store still usable, and real
 * Nix finds it consistent.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store, StoreError } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { narEntries } from "../../lib/nar/nar_reader.ts";
import { dumpPath } from "../../lib/store/dump_path.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { makeFixedOutputPath } from "../../lib/store_path/make_store_path.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

/** A tmpfs of `size` mounted on a new directory, unmounted on dispose. */
function smallDisk(size: string): { path: string } & Disposable {
  const dir = tempDir("buildhost-disk-full-");
  const mount = new Deno.Command("mount", {
    args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir.path],
  }).outputSync();
  assert.ok(mount.success, new TextDecoder().decode(mount.stderr));
  return {
    path: dir.path,
    [Symbol.dispose]() {
      new Deno.Command("umount", { args: ["-l", dir.path] }).outputSync();
      dir[Symbol.dispose]();
    },
  };
}

/** A NAR of one regular file of `size` random-ish bytes, and the path it would have. */
async function bigFileNar(dir: string, size: number, storeDir: string) {
  const file = join(dir, "big");
  const block = crypto.getRandomValues(new Uint8Array(65536));
  using f = Deno.openSync(file, { write: true, create: true });
  for (let n = 0; n < size; n += block.length) f.writeSync(block.subarray(0, size - n));
  const chunks: Uint8Array[] = [];
  for await (const c of dumpPath(file)) chunks.push(c.slice()); // each is valid until the next
  const nar = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
  let at = 0;
  for (const c of chunks) nar.set(c, (at += c.length) - c.length);
  const narHash = Hash.of("sha256", nar);
  const path = makeFixedOutputPath("big", "recursive", narHash, [], false, storeDir)
    .toString(storeDir);
  return { nar, narHash, path };
}

/** What the store directory holds, besides valid paths. */
function leftovers(store: Store): string[] {
  return [...Deno.readDirSync(store.layout.realStoreDir)]
    .map((e) => e.name)
    .filter((n) => n !== ".links" && !store.isValid(`${store.storeDir}/${n}`));
}

Deno.test("an import that fills the disk fails cleanly: nothing registered, nothing left, store usable", async () => {
  using disk = smallDisk("4m");
  using scratch = tempDir();
  const store = await Store.open(join(disk.path, "store"));
  try {
    const small = await store.addText("small.txt", "fits\n");
    const big = await bigFileNar(scratch.path, 8 * 1024 * 1024, store.storeDir);
    await assert.rejects(
      () =>
        store.addNar(
          { path: big.path, narHash: big.narHash, narSize: big.nar.length, references: [] },
          new WireReader(ReadableStream.from([big.nar])),
        ),
      (e: Error) =>
        e instanceof StoreError && e.message.startsWith(`Cannot add "${big.path}": `) &&
        /No space left on device/.test(e.message),
    );
    assert.equal(store.isValid(big.path), false);
    assert.deepEqual(leftovers(store), []);
    // the space is given back: the store goes on
    const after = await store.addText("after.txt", "still works\n");
    assert.ok(store.isValid(after.path));
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.ok(store.isValid(small.path));
  } finally {
    store.close();
  }
  const v = await nix("nix-store", [
    "--store",
    join(disk.path, "store"),
    "--verify",
    "--check-contents",
  ]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid|missing/i);
});

Deno.test("restoring a NAR onto a full disk leaves nothing behind", async () => {
  using disk = smallDisk("1m");
  using scratch = tempDir();
  const big = await bigFileNar(scratch.path, 2 * 1024 * 1024, "/nix/store");
  const { restorePath } = await import("../../lib/store/restore_path.ts");
  await assert.rejects(() =>
    restorePath(join(disk.path, "x"), narEntries(ReadableStream.from([big.nar])))
  );
  assert.deepEqual([...Deno.readDirSync(disk.path)], []);
});

/** Fill `dir`'s filesystem until it is full, then give back `slack` bytes. */
function fill(dir: string, slack: number): string {
  const filler = join(dir, "filler");
  const block = new Uint8Array(65536).fill(7);
  using f = Deno.openSync(filler, { write: true, create: true });
  for (;;) {
    try {
      if (f.writeSync(block) < block.length) break;
    } catch {
      break;
    }
  }
  const size = f.statSync().size;
  f.truncateSync(Math.max(0, size - slack));
  return filler;
}

Deno.test("imports with the disk full at every stage (contents, database) stay all-or-nothing", async () => {
  using disk = smallDisk("8m");
  const store = await Store.open(join(disk.path, "store"));
  try {
    const outcomes = new Set<string>();
    for (const slack of [0, 4096, 8192, 16384, 32768, 65536, 131072, 262144]) {
      const filler = fill(disk.path, slack);
      const text = `slack ${slack}\n`.repeat(2000);
      let path: string | undefined;
      try {
        path = (await store.addText(`t-${slack}.txt`, text)).path;
        outcomes.add("ok");
      } catch (e) {
        assert.ok(e instanceof StoreError, String(e));
        assert.match(
          e.message,
          /^Cannot add "[^"]*-t-\d+\.txt": (No space left on device|database or disk is full)/,
        );
        outcomes.add("full");
      }
      Deno.removeSync(filler);
      assert.deepEqual(leftovers(store), [], `slack ${slack}`);
      if (path) assert.equal(Deno.readTextFileSync(store.realPath(path)), text);
      assert.deepEqual(await store.verify({ checkContents: true }), [], `slack ${slack}`);
    }
    // both outcomes were reached: the disk was full at some stage, and not at another
    assert.deepEqual([...outcomes].sort(), ["full", "ok"]);
    const after = await store.addText("after.txt", "still works\n");
    assert.ok(store.isValid(after.path));
  } finally {
    store.close();
  }
  const v = await nix("nix-store", [
    "--store",
    join(disk.path, "store"),
    "--verify",
    "--check-contents",
  ]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid|missing/i);
});
