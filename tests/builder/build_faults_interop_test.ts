/**
 * `buildhost build` killed (SIGKILL) at each step of a build's end: after
 * the builder exits, after its outputs are moved into the store, inside the
 * registration transaction, after it. The next `buildhost build` of the
 * same derivation must succeed and leave a sound store, with no temporary
 * of the dead build left behind.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { BUILD_CRASH_POINTS } from "../../lib/store/crash_point.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { MAIN } from "../_helpers/buildhost.ts";

const EXPR = `derivation { name = "crashed-build"; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "PATH=/bin:/usr/bin; mkdir -p $out/sub; echo one > $out/a; echo two > $out/sub/b" ]; }`;

/** `buildhost build DRV`, killed at `crashAt` when given. */
function build(root: string, drv: string, crashAt?: string) {
  return new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "build",
      drv,
      "--store",
      root,
      "--sandbox-paths",
      "/bin /lib /lib64 /usr",
    ],
    env: crashAt ? { BUILDHOST_CRASH_AT: crashAt } : {},
    stdout: "piped",
    stderr: "piped",
  }).output();
}

/** Entries of a directory (none when it does not exist). */
function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name).sort();
  } catch {
    return [];
  }
}

/**
 * The store is sound: no valid path without its contents or with other
 * contents (ours and Nix's `--verify --check-contents`), nothing in the
 * store directory but valid paths, lock files, `.links` (made by Nix's
 * verify) and the `unregistered` ones.
 */
async function checkSound(root: string, unregistered: string[], why: string) {
  const store = await Store.open(root); // removes the dead build's store temporaries
  try {
    assert.deepEqual(await store.verify({ checkContents: true }), [], why);
    const valid = new Set(store.allValidPaths().map((p) => p.slice(store.storeDir.length + 1)));
    const allowed = unregistered.map((p) => p.slice(store.storeDir.length + 1));
    const left = entries(store.layout.realStoreDir).filter((n) =>
      !valid.has(n) && n !== ".links" && !n.endsWith(".lock") && !allowed.includes(n)
    );
    assert.deepEqual(left, [], why);
  } finally {
    store.close();
  }
  const ours = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "store", "verify", "--check-contents", "--store", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const dec = new TextDecoder();
  assert.ok(ours.success, `${why}: ${dec.decode(ours.stdout)}${dec.decode(ours.stderr)}`);
  const theirs = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(theirs.stderr, /error|missing|modified|corrupt/, why);
}

for (const point of BUILD_CRASH_POINTS) {
  Deno.test(`a build killed at ${point} leaves a sound store and builds again`, async () => {
    using t = tempDir();
    const file = join(t.path, "d.nix");
    Deno.writeTextFileSync(file, EXPR);
    const nixRoot = join(t.path, "nix"), root = join(t.path, "ours");
    const drv = (await nix("nix-instantiate", ["--store", nixRoot, file])).text;
    const exp = (await nix("nix-store", ["--store", nixRoot, "--export", drv])).bytes;
    const store = await Store.open(root);
    let out: string;
    try {
      await store.importExport(new WireReader(ReadableStream.from([exp])));
      out = store.derivationOutputs(drv).get("out")!;
    } finally {
      store.close();
    }
    const dec = new TextDecoder();

    const crashed = await build(root, drv, point);
    assert.equal(crashed.signal, "SIGKILL", dec.decode(crashed.stderr));
    const after = await Store.open(root);
    try {
      // Valid only once the transaction has committed, and then whole.
      assert.equal(after.isValid(out), point === "build:after-register", point);
      // Killed where it says: at the final name from the move on.
      const moved = entries(after.layout.realStoreDir).includes(out.split("/").pop()!);
      assert.equal(moved, point !== "build:after-builder-exit", point);
    } finally {
      after.close();
    }
    await checkSound(root, [out], point);

    const again = await build(root, drv);
    assert.equal(again.code, 0, dec.decode(again.stderr));
    assert.equal(dec.decode(again.stdout).trim(), out);
    const real = join(root, out);
    assert.equal(Deno.readTextFileSync(join(real, "a")), "one\n");
    assert.equal(Deno.readTextFileSync(join(real, "sub/b")), "two\n");
    await checkSound(root, [], `${point}, then built again`);
    // The dead build's directory is reclaimed; this one's is removed.
    assert.deepEqual(entries(join(root, "nix/var/nix/builds")), [], point);
  });
}
