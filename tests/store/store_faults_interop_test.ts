/**
 * Real Nix checks the stores that buildhost's fault tests leave: after an
 * import killed at each crash point (BUILDHOST_CRASH_AT), and after it is
 * repeated, `nix-store --verify --check-contents` finds nothing wrong; and
 * Nix's GC agrees with buildhost's on what is dead.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { collectGarbage } from "../../lib/store/gc.ts";
import { IMPORT_CRASH_POINTS } from "../../lib/store/crash_point.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { bigNar, exportOf, importCmd, importExportCmd, seedGarbage } from "./_crashed_imports.ts";

/** `nix-store --verify --check-contents` on `root`, after buildhost opened it once. */
async function nixVerifies(root: string, why: string): Promise<void> {
  (await Store.open(root)).close(); // removes the dead importer's temporaries
  const theirs = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(theirs.stderr, /error|missing|modified|corrupt/, why);
}

for (const point of IMPORT_CRASH_POINTS) {
  Deno.test(`nix-store --verify finds sound the store of an import killed at ${point}, then repeated`, async () => {
    using tmp = tempDir();
    const { narFile, narHash, narSize } = await bigNar(tmp.path, 2);
    const root = join(tmp.path, "root");
    (await Store.open(root)).close();
    const hash = narHash.toString("base32", true);
    const crashed = await importCmd(root, hash, narSize, narFile, point).output();
    assert.equal(crashed.signal, "SIGKILL", new TextDecoder().decode(crashed.stderr));
    await nixVerifies(root, point);
    const done = await importCmd(root, hash, narSize, narFile).output();
    assert.ok(done.success, new TextDecoder().decode(done.stderr));
    await nixVerifies(root, `${point}, then imported again`);
  });

  Deno.test(`nix-store --verify finds sound the store of an export stream import killed at ${point}, then repeated`, async () => {
    using tmp = tempDir();
    const { bytes } = await exportOf(tmp.path, ["first", "second"]);
    const file = join(tmp.path, "export");
    Deno.writeFileSync(file, bytes);
    const root = join(tmp.path, "root");
    (await Store.open(root)).close();
    const crashed = await importExportCmd(root, file, point).output();
    assert.equal(crashed.signal, "SIGKILL", new TextDecoder().decode(crashed.stderr));
    await nixVerifies(root, point);
    const done = await importExportCmd(root, file).output();
    assert.ok(done.success, new TextDecoder().decode(done.stderr));
    await nixVerifies(root, `${point}, then imported again`);
  });
}

Deno.test("nix-store --gc --print-dead agrees with buildhost's GC on what is dead", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const store = await Store.open(root);
  try {
    const { dead1, dead2 } = await seedGarbage(store, tmp.path);
    const nixDead = (await nix("nix-store", ["--store", root, "--gc", "--print-dead"])).text
      .split("\n").filter((l) => l.startsWith("/nix/store/")).sort();
    const dry = await collectGarbage(store, { dryRun: true });
    assert.deepEqual(nixDead, [dead1.path, dead2.path].sort());
    assert.deepEqual(nixDead, dry.deleted.sort());
  } finally {
    store.close();
  }
});
