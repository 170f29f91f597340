import assert from "node:assert/strict";
import { join } from "node:path";
import { DatabaseSync } from "node:sqlite";
import { Store, StoreError } from "../../lib/store/store.ts";
import { collectGarbage, deleteDeadPaths, PathAliveError } from "../../lib/store/gc.ts";
import { StorePathError } from "../../lib/store_path/store_path.ts";
import { NarError } from "../../lib/nar/nar_error.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { CRASH_POINTS, IMPORT_CRASH_POINTS } from "../../lib/store/crash_point.ts";
import { tempDir } from "../_helpers/nix.ts";
import {
  bigNar,
  exportOf,
  importCmd,
  importExportCmd,
  MAIN,
  PATH,
  seedGarbage,
} from "./_crashed_imports.ts";

/** Files in the physical store dir that are neither valid paths nor lock files. */
function leftovers(store: Store): string[] {
  const valid = new Set(store.allValidPaths().map((p) => p.slice(store.storeDir.length + 1)));
  return [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name)
    .filter((n) => !valid.has(n) && n !== ".links"); // .links: made by Nix's own GC
}

/**
 * What the next process must find after a crash: after opening the store
 * (which removes the dead importer's temporaries), `buildhost store verify
 * --check-contents` is clean, and nothing is left in the store directory but
 * valid paths and, after a crash between rename and registration, the
 * unregistered path (which the next import replaces). (Real Nix's
 * `nix-store --verify` on the same stores: store_faults_interop_test.ts.)
 */
async function checkAfterCrash(root: string, unregistered: string[], why: string) {
  const store = await Store.open(root);
  try {
    assert.deepEqual(await store.verify({ checkContents: true }), [], why);
    const left = leftovers(store).filter((n) => !n.endsWith(".lock"));
    const allowed = unregistered.map((p) => p.slice(store.storeDir.length + 1));
    assert.deepEqual(left.filter((n) => !allowed.includes(n)), [], why);
  } finally {
    store.close();
  }
  const ours = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "store", "verify", "--check-contents", "--store", root],
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(ours.success, `${why}: ${new TextDecoder().decode(ours.stdout)}`);
}

for (const point of IMPORT_CRASH_POINTS) {
  Deno.test(`an import killed at ${point} leaves a sound store and can be repeated`, async () => {
    using tmp = tempDir();
    const { narFile, narHash, narSize } = await bigNar(tmp.path, 2);
    const root = join(tmp.path, "root");
    (await Store.open(root)).close();
    const hash = narHash.toString("base32", true);
    const crashed = await importCmd(root, hash, narSize, narFile, point).output();
    assert.equal(crashed.signal, "SIGKILL", new TextDecoder().decode(crashed.stderr));
    const store = await Store.open(root);
    try {
      // Valid only once the transaction has committed, and then whole.
      assert.equal(store.isValid(PATH), point === "register:after-commit");
    } finally {
      store.close();
    }
    await checkAfterCrash(root, [PATH], point);
    const done = await importCmd(root, hash, narSize, narFile).output();
    assert.ok(done.success, new TextDecoder().decode(done.stderr));
    const after = await Store.open(root);
    try {
      assert.ok(after.queryPathInfo(PATH)!.narHash.equals(narHash));
    } finally {
      after.close();
    }
    await checkAfterCrash(root, [], `${point}, then imported again`);
  });

  Deno.test(`an export stream import killed at ${point} keeps whole paths only`, async () => {
    using tmp = tempDir();
    const { paths, bytes } = await exportOf(tmp.path, ["first", "second"]);
    const file = join(tmp.path, "export");
    Deno.writeFileSync(file, bytes);
    const root = join(tmp.path, "root");
    (await Store.open(root)).close();
    const crashed = await importExportCmd(root, file, point).output();
    assert.equal(crashed.signal, "SIGKILL", new TextDecoder().decode(crashed.stderr));
    const store = await Store.open(root);
    try {
      // The stream's paths are one run, installed by one transaction: the
      // unpacking points are reached at the first path, the others once
      // every path is renamed; none is valid before the commit, all after.
      assert.deepEqual(
        store.allValidPaths(),
        point === "register:after-commit" ? [...paths].sort() : [],
      );
    } finally {
      store.close();
    }
    await checkAfterCrash(root, paths, point);
    const done = await importExportCmd(root, file).output();
    assert.ok(done.success, new TextDecoder().decode(done.stderr));
    await checkAfterCrash(root, [], `${point}, then imported again`);
  });
}

Deno.test("the fault tests cover every crash point lib/ has, and each import point above", () => {
  // Every crashPoint("...") call in lib/, and the points the store's install
  // passes by kind (its INSTALL_POINTS table, quoted strings naming a point):
  // a point added to the import path without a place in IMPORT_CRASH_POINTS
  // would go untested here.
  const called = new Set<string>();
  const walk = (dir: URL) => {
    for (const e of Deno.readDirSync(dir)) {
      if (e.isDirectory) walk(new URL(`${e.name}/`, dir));
      else if (e.name.endsWith(".ts") && e.name !== "crash_point.ts") {
        const text = Deno.readTextFileSync(new URL(e.name, dir));
        for (const m of text.matchAll(/crashPoint\(\s*"([^"]+)"/g)) called.add(m[1]!);
        if (e.name === "store.ts") {
          for (const m of text.matchAll(/:\s*"((?:import|register|build):[a-z-]+)"/g)) {
            called.add(m[1]!);
          }
        }
      }
    }
  };
  walk(new URL("../../lib/", import.meta.url));
  assert.deepEqual([...called].sort(), [...CRASH_POINTS].sort());
  const ofImports = [...called].filter((p) => /^(import|register):/.test(p)).sort();
  assert.deepEqual(ofImports, [...IMPORT_CRASH_POINTS].sort());
});

Deno.test("a crash point that does not exist is an error, not a silent pass", async () => {
  using tmp = tempDir();
  const { bytes } = await exportOf(tmp.path, ["x"]);
  const file = join(tmp.path, "export");
  Deno.writeFileSync(file, bytes);
  const out = await importExportCmd(join(tmp.path, "root"), file, "import:after-typo").output();
  assert.equal(out.success, false);
  assert.match(
    new TextDecoder().decode(out.stderr),
    /Cannot arm the crash point "import:after-typo"/,
  );
});

Deno.test("a corrupted NAR or a wrong declared hash or size registers nothing", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const { narFile, narHash, narSize } = await bigNar(tmp.path, 2);
    const nar = Deno.readFileSync(narFile);
    const flipped = nar.slice();
    flipped[nar.length - 500]! ^= 1; // inside file contents: still a well-formed NAR
    const cases: [Uint8Array, { narHash: Hash; narSize: number }, RegExp][] = [
      [flipped, { narHash, narSize }, /hash is .* was declared/],
      [nar, { narHash: Hash.of("sha256", "something else"), narSize }, /hash is .* was declared/],
      [nar, { narHash, narSize: narSize + 8 }, /bytes, .* were declared/],
    ];
    for (const [bytes, declared, re] of cases) {
      await assert.rejects(
        store.addNar(
          { path: PATH, references: [], ...declared },
          new WireReader(ReadableStream.from([bytes])),
        ),
        (e) => e instanceof StoreError && re.test(e.message),
      );
      assert.equal(store.isValid(PATH), false);
      assert.deepEqual(leftovers(store), []);
    }
    // a truncated NAR: a NarError, nothing left
    await assert.rejects(
      store.addNar(
        { path: PATH, references: [] },
        new WireReader(ReadableStream.from([nar.subarray(0, 5000)])),
      ),
      NarError,
    );
    assert.deepEqual(leftovers(store), []);
  } finally {
    store.close();
  }
});

Deno.test("bad store paths and invalid references are clear errors that change nothing", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const nar = await store.addText("ok", "ok"); // something valid to compare against
    const good = "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-x";
    const bad = [
      "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-x/y",
      "/nix/store/../etc/passwd",
      "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-..",
      "/nix/store/eeeeeeeeeeeeeeeeeeeeeeeeeeeeeeee-x",
      "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mz-x",
      "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-a b",
      "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-a@b",
      "/tmp/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-x",
    ];
    const text = new TextEncoder().encode("x");
    const oneFile = async () => {
      const s = new BufferSink();
      const w = new WireWriter(s);
      for await (
        const c of (await import("../../lib/nar/nar_writer.ts")).writeNar({
          type: "regular",
          executable: false,
          size: 1,
          contents: () => [text],
        })
      ) w.writeRaw(c.slice());
      await w.flush();
      return s.bytes();
    };
    const bytes = await oneFile();
    for (const p of bad) {
      if (p.endsWith("-..")) continue; // a valid name for Nix 2.8
      await assert.rejects(
        store.addNar({ path: p, references: [] }, new WireReader(ReadableStream.from([bytes]))),
        (e) => e instanceof StorePathError && e.message.includes(p),
        p,
      );
      await assert.rejects(
        store.addNar({ path: good, references: [p] }, new WireReader(ReadableStream.from([bytes]))),
        StorePathError,
      );
    }
    const missing = "/nix/store/1ka9gw6ddkrf0b8k65q7p46xbgb9wdr8-missing";
    await assert.rejects(
      store.addNar(
        { path: good, references: [missing] },
        new WireReader(ReadableStream.from([bytes])),
      ),
      (e) => e instanceof StoreError && e.message.includes(missing),
    );
    assert.deepEqual(store.allValidPaths(), [nar.path]);
    assert.deepEqual(leftovers(store), []);
    assert.throws(() => store.deletePaths([missing]), StoreError);
  } finally {
    store.close();
  }
});

Deno.test("8 processes importing overlapping paths import each exactly once", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  (await Store.open(root)).close();
  const names = Array.from({ length: 12 }, (_, i) => `p${i}`);
  const files: string[] = [];
  let all: string[] = [];
  for (let k = 0; k < 8; k++) {
    const subset = names.filter((_, i) => (i + k) % 3 !== 0);
    const { bytes, paths } = await exportOf(tmp.path, k % 2 ? subset.reverse() : subset);
    all = [...new Set([...all, ...paths])];
    const f = join(tmp.path, `export-${k}`);
    Deno.writeFileSync(f, bytes);
    files.push(f);
  }
  const children = files.map((f) =>
    new Deno.Command("sh", {
      args: [
        "-c",
        `exec "${Deno.execPath()}" run -A "${MAIN}" store import-export --store "${root}" < "${f}"`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn()
  );
  for (const c of children) {
    const out = await c.output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  }
  const store = await Store.open(root);
  try {
    assert.deepEqual(store.allValidPaths(), all.sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    assert.deepEqual(leftovers(store), []);
  } finally {
    store.close();
  }
  // each path was inserted once: the row id sequence did not move past the count
  const db = new DatabaseSync(join(root, "nix/var/nix/db/db.sqlite"), { readOnly: true });
  const seq = db.prepare("select seq from sqlite_sequence where name = 'ValidPaths'").get() as {
    seq: number;
  };
  db.close();
  assert.equal(seq.seq, all.length);
});

Deno.test("GC keeps roots, indirect roots, closures and derivers, and deletes the rest", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const store = await Store.open(root);
  try {
    const { dep, drv, top, viaIndirect, dead1, dead2 } = await seedGarbage(store, tmp.path);
    const dry = await collectGarbage(store, { dryRun: true });
    assert.deepEqual(dry.deleted.sort(), [dead1.path, dead2.path].sort());
    assert.equal(store.allValidPaths().length, 6);

    const r = await collectGarbage(store);
    assert.deepEqual(r.deleted.sort(), [dead1.path, dead2.path].sort());
    assert.deepEqual(
      store.allValidPaths(),
      [dep.path, drv.path, top.path, viaIndirect.path].sort(),
    );
    assert.deepEqual(leftovers(store), []);
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
});

Deno.test("deleting paths, as nix-store --delete, refuses rooted and referenced ones and deletes nothing then", async () => {
  using tmp = tempDir();
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const { dep, drv, top, viaIndirect, dead1, dead2 } = await seedGarbage(store, tmp.path);
    const alive = (p: string) => (e: unknown) =>
      e instanceof PathAliveError &&
      e.message ===
        `Cannot delete path '${p}' since it is still alive. To find out why, use: nix-store --query --roots`;
    for (const p of [top.path, dep.path, drv.path, viaIndirect.path]) {
      await assert.rejects(deleteDeadPaths(store, [dead2.path, p]), alive(p));
    }
    await assert.rejects(deleteDeadPaths(store, [dead1.path]), /still referenced/);
    // A running process's temporary root keeps a path alive too.
    await store.tempRoots.add([dead2.path]);
    await assert.rejects(deleteDeadPaths(store, [dead2.path]), alive(dead2.path));
    store.tempRoots.close();
    assert.equal(store.allValidPaths().length, 6);
    await deleteDeadPaths(store, [dead2.path, dead1.path]);
    assert.deepEqual(
      store.allValidPaths(),
      [dep.path, drv.path, top.path, viaIndirect.path].sort(),
    );
    assert.deepEqual(leftovers(store), []);
  } finally {
    store.close();
  }
});

Deno.test("GC beside imports deletes nothing being imported or referenced", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const store = await Store.open(root);
  let base: string;
  try {
    base = (await store.addText("base", "base")).path;
    Deno.symlinkSync(base, join(store.layout.gcRootsDir, "base"));
  } finally {
    store.close();
  }
  // exports of paths that refer to the rooted base
  const files: string[] = [];
  for (let k = 0; k < 4; k++) {
    const s = await Store.open(join(tmp.path, `src${k}`));
    try {
      await s.addText("base", "base");
      const paths = [base];
      for (let i = 0; i < 5; i++) {
        paths.push((await s.addText(`x${k}-${i}`, `x ${base}`, [base])).path);
      }
      const sink = new BufferSink();
      await s.exportPaths(paths, new WireWriter(sink));
      files.push(join(tmp.path, `e${k}`));
      Deno.writeFileSync(files[k]!, sink.bytes());
    } finally {
      s.close();
    }
  }
  const importers = files.map((f) =>
    new Deno.Command("sh", {
      args: [
        "-c",
        `exec "${Deno.execPath()}" run -A "${MAIN}" store import-export --store "${root}" < "${f}"`,
      ],
      stdout: "null",
      stderr: "piped",
    }).spawn()
  );
  const gcs = Array.from({ length: 3 }, () =>
    new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", MAIN, "store", "gc", "--store", root],
      stdout: "null",
      stderr: "piped",
    }).spawn());
  for (const c of [...importers, ...gcs]) {
    const out = await c.output();
    assert.ok(out.success, new TextDecoder().decode(out.stderr));
  }
  const after = await Store.open(root);
  try {
    assert.ok(after.isValid(base));
    assert.deepEqual(await after.verify({ checkContents: true }), []);
    assert.deepEqual(leftovers(after), []);
  } finally {
    after.close();
  }
});
