import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { FileLock, PathLockError } from "../../lib/store/path_lock.ts";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

const HASH = "0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn";
const BASE = `/nix/store/${HASH}-foo`;

function file(text: string): NarNode {
  const bytes = new TextEncoder().encode(text);
  return { type: "regular", executable: false, size: bytes.length, contents: () => [bytes] };
}

const nodes: Record<string, NarNode> = {
  file: file("a valid path named like a lock\n"),
  directory: { type: "directory", entries: () => [["f", file("inside\n")]] },
  symlink: { type: "symlink", target: "/somewhere" },
};

function narOf(node: NarNode): WireReader {
  return new WireReader(writeNar(node));
}

function storeFiles(store: Store): string[] {
  return [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort();
}

for (const [kind, node] of Object.entries(nodes)) {
  Deno.test(`Store.addNar() leaves a valid path named "<other path>.lock" (a ${kind}) alone`, async () => {
    using tmp = tempDir();
    const root = join(tmp.path, "root");
    const store = await Store.open(root);
    try {
      await store.addNar({ path: `${BASE}.lock`, references: [] }, narOf(node));
      if (kind === "symlink") {
        // Its lock file is a symlink that cannot be locked: a clear refusal, nothing changed.
        await assert.rejects(
          store.addNar({ path: BASE, references: [] }, narOf(file("base\n"))),
          (e) => e instanceof PathLockError && e.message.includes(`${HASH}-foo.lock`),
        );
      } else {
        await store.addNar({ path: BASE, references: [] }, narOf(file("base\n")));
        assert.ok(store.isValid(BASE));
      }
      assert.ok(store.isValid(`${BASE}.lock`));
      assert.deepEqual(await store.verify({ checkContents: true }), []);
      // Importing it again, and again its base, changes nothing either.
      await store.addNar({ path: `${BASE}.lock`, references: [] }, narOf(node));
      if (kind !== "symlink") {
        await store.addNar({ path: BASE, references: [] }, narOf(file("base\n")));
      }
      assert.deepEqual(await store.verify({ checkContents: true }), []);
      const want = kind === "symlink" ? [`${HASH}-foo.lock`] : [`${HASH}-foo`, `${HASH}-foo.lock`];
      assert.deepEqual(storeFiles(store), want);
    } finally {
      store.close();
    }
    const nixVerify = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
    assert.doesNotMatch(nixVerify.stderr, /error|missing/);
  });
}

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
