/**
 * Fuzzing the NAR reader, and restoring into a temporary directory. Inputs
 * are NARs made by `nix-store --dump` of sample trees, NARs recorded in
 * serve sessions and NARs written from generated trees, mutated and fed in
 * random chunkings.
 *
 * Properties: reading either succeeds or throws a NarError; a NAR that
 * reads writes back byte for byte (the reader accepts only canonical
 * NARs); restoring either succeeds or throws a NarError or RestoreError and
 * then leaves nothing; a restored tree dumps to the same bytes; nothing is
 * written outside the target, not even through a symlink the NAR makes to
 * a directory outside (which must stay empty).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import fc from "fast-check";
import { NarError } from "../../lib/nar/nar_error.ts";
import { narEntries, type NarEntry } from "../../lib/nar/nar_reader.ts";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { removeTree, RestoreError, restorePath } from "../../lib/store/restore_path.ts";
import { dumpPath } from "../../lib/store/dump_path.ts";
import { tempDir } from "../_helpers/nix.ts";
import { collect, treeArb, treeNode } from "../nar/_trees.ts";
import { recorded } from "./_corpus.ts";
import { dumpedNars } from "./_dumped_nars.ts";
import { arbChunking, arbMutated, streamOf } from "./_mutate.ts";
import { fuzz, onlyTyped } from "./_runner.ts";

async function bytesOf(chunks: AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  return await collect(chunks);
}

type Node =
  | { type: "regular"; executable: boolean; data: Uint8Array }
  | { type: "symlink"; target: string }
  | { type: "directory"; entries: Map<string, Node> };

/** The tree of a NAR's entries (contents read), in document order. */
async function treeOf(entries: AsyncIterable<NarEntry>): Promise<Node | undefined> {
  const byPath = new Map<string, Node>();
  let root: Node | undefined;
  for await (const e of entries) {
    const n: Node = e.type === "directory"
      ? { type: "directory", entries: new Map() }
      : e.type === "symlink"
      ? { type: "symlink", target: e.target }
      : { type: "regular", executable: e.executable, data: await bytesOf(e.contents) };
    if (e.path === "") root = n;
    else {
      const i = e.path.lastIndexOf("/");
      const parent = i < 0 ? root : byPath.get(e.path.slice(0, i));
      assert.ok(parent?.type === "directory", `${e.path}: no parent directory`);
      parent.entries.set(e.path.slice(i + 1), n);
    }
    byPath.set(e.path, n);
  }
  return root;
}

function nodeOf(n: Node): NarNode {
  switch (n.type) {
    case "regular":
      return {
        type: "regular",
        executable: n.executable,
        size: n.data.length,
        contents: () => [n.data],
      };
    case "symlink":
      return n;
    case "directory":
      return { type: "directory", entries: () => [...n.entries].map(([k, v]) => [k, nodeOf(v)]) };
  }
}

const work = tempDir("buildhost-fuzz-nar-");
globalThis.addEventListener("unload", () => work[Symbol.dispose]());
const escape = join(work.path, "escape");
Deno.mkdirSync(escape);
const corpus = [
  ...await dumpedNars(work.path, escape),
  ...(await recorded()).nars,
  ...await Promise.all(
    fc.sample(treeArb, { numRuns: 6, seed: 7 }).map((t) => bytesOf(writeNar(treeNode(t)))),
  ),
];

Deno.test("fuzz: NAR reader (mutated nix-store --dump NARs)", async () => {
  await fuzz("nar reader", fc.tuple(arbMutated(corpus), arbChunking), async ([m, sizes]) => {
    const r = await onlyTyped([NarError], () => treeOf(narEntries(streamOf(m.bytes, sizes))));
    if (!r.ok) {
      assert.ok(m.edits > 0, `a real NAR failed: ${r.error.message}`);
      return;
    }
    assert.ok(r.value, "a NAR without a root");
    assert.deepStrictEqual(await bytesOf(writeNar(nodeOf(r.value))), m.bytes);
  }, 200);
});

Deno.test("fuzz: NAR restore into a temporary directory (mutated NARs)", async () => {
  let n = 0;
  const expected = [...Deno.readDirSync(work.path)].map((e) => e.name).sort();
  await fuzz("nar restore", fc.tuple(arbMutated(corpus), arbChunking), async ([m, sizes]) => {
    const target = join(work.path, `out-${n++}`);
    const r = await onlyTyped(
      [NarError, RestoreError],
      () => restorePath(target, narEntries(streamOf(m.bytes, sizes))),
    );
    try {
      if (r.ok) {
        assert.deepStrictEqual(await bytesOf(dumpPath(target)), m.bytes);
      } else {
        assert.ok(m.edits > 0, `a real NAR failed: ${r.error.message}`);
        await assert.rejects(
          Deno.lstat(target),
          Deno.errors.NotFound,
          "a failed restore left files",
        );
      }
    } finally {
      await removeTree(target);
    }
    assert.deepStrictEqual([...Deno.readDirSync(escape)], [], "written through a symlink");
    assert.deepStrictEqual(
      [...Deno.readDirSync(work.path)].map((e) => e.name).sort(),
      expected,
      "written outside the target",
    );
  }, 100);
});
