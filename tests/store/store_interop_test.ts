import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { pathInfoToJson } from "../../lib/store/path_info.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { writeNar } from "../../lib/nar/nar_writer.ts";
import { HashSink } from "../../lib/hash/hash.ts";
import { makeTextPath } from "../../lib/store_path/make_store_path.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

const enc = new TextEncoder();

/** A NAR of one file, and its hash and size. */
async function fileNar(contents: string) {
  const bytes = enc.encode(contents);
  const chunks: Uint8Array[] = [];
  const sink = new HashSink("sha256");
  for await (
    const c of writeNar({
      type: "regular",
      executable: false,
      size: bytes.length,
      contents: () => [bytes],
    })
  ) {
    chunks.push(c.slice());
    sink.write(c);
  }
  return { chunks, narHash: sink.digest(), narSize: sink.size };
}

/** `nix path-info --json` of paths, keyed by path, without registrationTime. */
async function nixPathInfo(root: string, paths: string[]) {
  const list = JSON.parse(
    (await nix("nix", ["path-info", "--store", root, "--json", ...paths])).text,
  );
  return Object.fromEntries(list.map((j: Record<string, unknown>) => {
    delete j.registrationTime;
    return [j.path, j];
  }));
}

function ours(store: Store, paths: string[], withCa = true) {
  return Object.fromEntries(paths.map((p) => {
    const j = pathInfoToJson(store.requirePathInfo(p));
    delete j.registrationTime;
    if (!withCa) delete j.ca; // the export format does not carry content addresses
    return [p, j];
  }));
}

Deno.test("real Nix reads what buildhost registers: verify, references, requisites, deriver, path-info", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const store = await Store.open(root);
  try {
    Deno.mkdirSync(join(tmp.path, "tree/sub"), { recursive: true });
    Deno.writeTextFileSync(join(tmp.path, "tree/sub/f"), "file\n");
    Deno.writeTextFileSync(join(tmp.path, "tree/x"), "exe\n", { mode: 0o755 });
    Deno.symlinkSync("sub/f", join(tmp.path, "tree/link"));
    const tree = await store.addPath(join(tmp.path, "tree"));
    const a = await store.addText("a.txt", "a\n");
    const b = await store.addText("b.txt", `refers to ${a.path} and ${tree.path}\n`, [
      a.path,
      tree.path,
    ]);
    // an input-addressed path that refers to itself and to b, with a deriver
    const selfPath = "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-self-ref";
    const deriver = "/nix/store/1ka9gw6ddkrf0b8k65q7p46xbgb9wdr8-self-ref.drv";
    const nar = await fileNar(`I am ${selfPath}, I need ${b.path}`);
    await store.addNar(
      {
        path: selfPath,
        narHash: nar.narHash,
        narSize: nar.narSize,
        references: [selfPath, b.path],
        deriver,
      },
      new WireReader(ReadableStream.from(nar.chunks)),
    );
    const all = [tree.path, a.path, b.path, selfPath];

    const verify = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
    assert.doesNotMatch(verify.stderr, /error|corrupt|modified|missing/i);
    assert.deepEqual(await nixPathInfo(root, all), ours(store, all));
    const q = async (flag: string, p: string) =>
      (await nix("nix-store", ["--store", root, "-q", flag, p])).text.split("\n").filter((l) => l)
        .sort();
    assert.deepEqual(await q("--references", selfPath), [b.path, selfPath].sort());
    assert.deepEqual(await q("--requisites", selfPath), store.closure([selfPath]));
    assert.deepEqual(await q("--deriver", selfPath), [deriver]);
    assert.deepEqual(await q("--referrers", a.path), [b.path]);
    // Nix's own dump of our files is the NAR we registered
    const dumped = await nix("nix-store", ["--dump", join(root, tree.path)]);
    const h = new HashSink("sha256");
    h.write(dumped.bytes);
    assert.ok(h.digest().equals(tree.narHash));
  } finally {
    store.close();
  }
});

Deno.test("buildhost reads what real Nix registers: --add, toFile with references, --import", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  Deno.mkdirSync(join(tmp.path, "d"));
  Deno.writeTextFileSync(join(tmp.path, "d/f"), "hello\n");
  const added = (await nix("nix-store", ["--store", root, "--add", join(tmp.path, "d")])).text;
  const top = (await nix("nix", [
    "eval",
    "--store",
    root,
    "--raw",
    "--expr",
    `let dep = builtins.toFile "dep.txt" "dep"; in builtins.toFile "top.txt" "top needs \${dep}"`,
  ])).text;
  // an export made by Nix in another store, imported by Nix here
  const other = join(tmp.path, "other");
  const ext = (await nix("nix-store", ["--store", other, "--add", join(tmp.path, "d/f")])).text;
  const exported = (await nix("nix-store", ["--store", other, "--export", ext])).bytes;
  await nix("nix-store", ["--store", root, "--import"], { stdin: exported });

  const store = await Store.open(root);
  try {
    const all = [added, top, ext];
    const nixAll = (await nix("nix-store", ["--store", root, "-qR", ...all])).text.split("\n")
      .sort();
    assert.deepEqual(store.closure(all), nixAll);
    assert.deepEqual(ours(store, nixAll), await nixPathInfo(root, nixAll));
    assert.deepEqual(await store.verify({ checkContents: true }), []);
    for (const p of nixAll) {
      const chunks: Uint8Array[] = [];
      for await (const c of store.dump(p)) chunks.push(c.slice());
      const mine = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let o = 0;
      for (const c of chunks) (mine.set(c, o), o += c.length);
      assert.deepEqual(mine, (await nix("nix-store", ["--dump", join(root, p)])).bytes);
    }
  } finally {
    store.close();
  }
});

Deno.test("export streams go both ways between buildhost and nix-store --export/--import", async () => {
  using tmp = tempDir();
  const ours1 = await Store.open(join(tmp.path, "ours1"));
  const ours2 = await Store.open(join(tmp.path, "ours2"));
  try {
    const a = await ours1.addText("a", "a");
    const b = await ours1.addText("b", `b ${a.path}`, [a.path]);
    const c = await ours1.addText("c", `c ${b.path}`, [b.path]);
    // buildhost -> Nix
    const sink = new BufferSink();
    await ours1.exportPaths([c.path, a.path, b.path], new WireWriter(sink));
    const nixRoot = join(tmp.path, "nix");
    const imported =
      (await nix("nix-store", ["--store", nixRoot, "--import"], { stdin: sink.bytes() })).text;
    assert.deepEqual(imported.split("\n").sort(), [a.path, b.path, c.path].sort());
    assert.deepEqual(
      await nixPathInfo(nixRoot, [a.path, b.path, c.path]),
      ours(ours1, [a.path, b.path, c.path], false),
    );
    // Nix -> buildhost
    const back =
      (await nix("nix-store", ["--store", nixRoot, "--export", c.path, b.path, a.path])).bytes;
    const got = await ours2.importExport(new WireReader(ReadableStream.from([back])));
    assert.deepEqual(got.sort(), [a.path, b.path, c.path].sort());
    assert.deepEqual(ours(ours2, got), ours(ours1, got, false));
    assert.deepEqual(await ours2.verify({ checkContents: true }), []);
    // importing again changes nothing
    await ours2.importExport(new WireReader(ReadableStream.from([back])));
    assert.deepEqual(ours2.allValidPaths(), [a.path, b.path, c.path].sort());
    assert.equal(makeTextPath("a", "a").toString(), a.path);
  } finally {
    ours1.close();
    ours2.close();
  }
});

Deno.test("closure with outputs follows DerivationOutputs as nix-store -qR --include-outputs", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const file = join(tmp.path, "d.nix");
  Deno.writeTextFileSync(
    file,
    `let dep = derivation { name = "dep"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo dep > $out" ]; };
     in derivation { name = "top"; system = "x86_64-linux"; builder = "/bin/sh"; inherit dep;
                     args = [ "-c" "echo $dep > $out" ]; }`,
  );
  const out = (await nix("nix-build", ["--store", root, "--no-out-link", file])).text;
  const drv = (await nix("nix-store", ["--store", root, "-q", "--deriver", out])).text;
  const want = (await nix("nix-store", ["--store", root, "-qR", "--include-outputs", drv])).text
    .split("\n").sort();
  const theirs = await Store.open(root);
  try {
    assert.deepEqual(theirs.closure([drv], { includeOutputs: true }), want);
    assert.ok(want.includes(out));
    // the same paths imported by buildhost: DerivationOutputs are recorded on import
    const exported = (await nix("nix-store", ["--store", root, "--export", ...want])).bytes;
    const mine = await Store.open(join(tmp.path, "mine"));
    try {
      await mine.importExport(new WireReader(ReadableStream.from([exported])));
      assert.deepEqual(mine.closure([drv], { includeOutputs: true }), want);
      assert.deepEqual(mine.closure([drv]), theirs.closure([drv]));
      assert.deepEqual(
        mine.derivationOutputs(drv),
        theirs.derivationOutputs(drv),
      );
    } finally {
      mine.close();
    }
  } finally {
    theirs.close();
  }
});
