import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { PathLockError } from "../../lib/store/path_lock.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

import { BASE, file, HASH, narOf, nodes, storeFiles } from "./_lock_named_paths.ts";
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
