/**
 * Import runs: the paths of one export stream or one AddMultipleToStore are
 * installed together, a bounded number per transaction, each path still
 * atomic on its own.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store, StoreError } from "../../lib/store/store.ts";
import { IMPORT_RUN_LIMIT } from "../../lib/store/import_run.ts";
import { Hash } from "../../lib/hash/hash.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { tempDir } from "../_helpers/nix.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** An export stream of `n` small text paths, each referring to the one before. */
async function exportOf(dir: string, n: number) {
  const s = await Store.open(join(dir, "scratch"));
  try {
    const paths: string[] = [];
    for (let i = 0; i < n; i++) {
      const refs = paths.length > 0 ? [paths[paths.length - 1]!] : [];
      paths.push((await s.addText(`p${i}`, `path ${i} ${refs.join(" ")}`, refs)).path);
    }
    const sink = new BufferSink();
    await s.exportPaths(paths, new WireWriter(sink));
    return {
      paths,
      bytes: sink.bytes(),
      nar: (p: string) => s.dump(p),
      infoOf: (p: string) => s.requirePathInfo(p),
      close: () => s.close(),
    };
  } catch (e) {
    s.close();
    throw e;
  }
}

Deno.test("an import killed after a run's first commit keeps exactly that run's paths", async () => {
  using tmp = tempDir();
  const n = IMPORT_RUN_LIMIT + 3;
  const src = await exportOf(tmp.path, n);
  src.close();
  const file = join(tmp.path, "export");
  Deno.writeFileSync(file, src.bytes);
  const root = join(tmp.path, "root");
  const crashed = await new Deno.Command("sh", {
    args: [
      "-c",
      `exec "${Deno.execPath()}" run -A "${MAIN}" store import-export --store "${root}" < "${file}"`,
    ],
    env: { BUILDHOST_CRASH_AT: "register:after-commit" },
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.equal(crashed.signal, "SIGKILL", new TextDecoder().decode(crashed.stderr));
  const store = await Store.open(root);
  try {
    // The first run committed whole; nothing of the next one is valid.
    assert.deepEqual(store.allValidPaths(), src.paths.slice(0, IMPORT_RUN_LIMIT).sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
  const again = await new Deno.Command("sh", {
    args: [
      "-c",
      `exec "${Deno.execPath()}" run -A "${MAIN}" store import-export --store "${root}" < "${file}"`,
    ],
    stdout: "null",
    stderr: "piped",
  }).output();
  assert.ok(again.success, new TextDecoder().decode(again.stderr));
  const after = await Store.open(root);
  try {
    assert.deepEqual(after.allValidPaths(), [...src.paths].sort());
    assert.deepEqual(await after.verify({ checkContents: true }), []);
  } finally {
    after.close();
  }
});

Deno.test("Store.importRun() installs the paths checked before a bad one, and not the bad one", async () => {
  using tmp = tempDir();
  const src = await exportOf(tmp.path, 3);
  const store = await Store.open(join(tmp.path, "root"));
  try {
    const [a, b, c] = src.paths as [string, string, string];
    const nar = async (p: string) => {
      const sink = new BufferSink();
      const w = new WireWriter(sink);
      for await (const chunk of src.nar(p)) w.writeRaw(chunk.slice());
      await w.flush();
      return new WireReader(ReadableStream.from([sink.bytes()]));
    };
    const imp = (p: string) => {
      const i = src.infoOf(p);
      return { path: p, narHash: i.narHash, narSize: i.narSize, references: i.references };
    };
    await assert.rejects(
      store.importRun(async (run) => {
        await store.addNar(imp(a), await nar(a), run);
        // b refers to a, which is waiting in the run: accepted
        await store.addNar(imp(b), await nar(b), run);
        assert.equal(store.isValid(a), false, "valid only once the run installs it");
        await store.addNar({ ...imp(c), narHash: Hash.of("sha256", "other") }, await nar(c), run);
      }),
      (e) => e instanceof StoreError && e.message.includes(c),
    );
    assert.deepEqual(store.allValidPaths(), [a, b].sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    const names = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name);
    assert.deepEqual(
      names.filter((n) => !n.endsWith(".lock")).sort(),
      [a, b].map((p) => p.slice(store.storeDir.length + 1)).sort(),
    );
  } finally {
    store.close();
    src.close();
  }
});
