/**
 * QueryValidPaths with lock=true: the paths stay protected from garbage
 * collection for the life of the connection (Nix's temporary roots), and
 * not a moment longer; without the lock they are not protected.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { startServeHost } from "../../lib/remote/serve_host_process.ts";
import { MAIN, runBuildhost } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";

Deno.test("paths locked by QueryValidPaths survive a GC while the session lasts", async () => {
  using t = tempDir();
  const root = join(t.path, "store");
  const store = await Store.open(root);
  const locked = (await store.addText("locked.txt", "keep me while locked\n")).path;
  const unlocked = (await store.addText("unlocked.txt", "not locked\n")).path;
  store.close();
  const gc = async () => {
    const r = await runBuildhost(["store", "gc", "--store", root]);
    assert.equal(r.code, 0, r.stderr);
  };
  const valid = async () => {
    const s = await Store.open(root);
    try {
      return s.queryValidPaths([locked, unlocked]);
    } finally {
      s.close();
    }
  };

  const host = await startServeHost(
    [Deno.execPath(), "run", "-A", MAIN, "--serve", "--store", root],
    { log: () => {} },
  );
  assert.deepEqual(await host.client.queryValidPaths([locked], { lock: true }), [locked]);
  assert.deepEqual(await host.client.queryValidPaths([unlocked], { lock: false }), [unlocked]);
  await gc(); // another process, while the session is open
  assert.deepEqual(await valid(), [locked]);
  assert.equal(await host.close(), 0);
  await gc(); // the session is over: nothing protects it now
  assert.deepEqual(await valid(), []);
});
