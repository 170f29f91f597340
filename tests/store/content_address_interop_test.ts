import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { ServeServer } from "../../lib/serve/server.ts";
import { writeAddToStoreNarHeader } from "../../lib/serve_protocol/add_to_store_nar.ts";
import { ContentAddressError, HashModuloSink } from "../../lib/store/content_address.ts";
import { Hash, HashSink } from "../../lib/hash/hash.ts";
import { type NarNode, writeNar } from "../../lib/nar/nar_writer.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { makeFixedOutputPath, makeTextPath } from "../../lib/store_path/make_store_path.ts";
import { nix, nixFails, tempDir } from "../_helpers/nix.ts";

const enc = new TextEncoder();

function file(text: string, executable = false): NarNode {
  const bytes = enc.encode(text);
  return { type: "regular", executable, size: bytes.length, contents: () => [bytes] };
}

async function narBytes(node: NarNode): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  for await (const c of writeNar(node)) parts.push(c.slice());
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) (out.set(p, at), at += p.length);
  return out;
}

const TREE: NarNode = { type: "directory", entries: () => [["a", file("tree\n")]] };

/** A path as `nix-store --add-fixed` (or a `text:` path) would name it, with its ca. */
function caPath(method: "text" | "flat" | "recursive", hash: Hash, name = "x") {
  if (method === "text") {
    return {
      path: makeTextPath(name, hash).toString(),
      ca: `text:${hash.toString("base32", true)}`,
    };
  }
  return {
    path: makeFixedOutputPath(name, method, hash).toString(),
    ca: `fixed:${method === "recursive" ? "r:" : ""}${hash.toString("base32", true)}`,
  };
}

Deno.test("Store.addNar() checks a content address against the contents and the path", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  const store = await Store.open(root);
  try {
    const treeNar = await narBytes(TREE);
    const narSha = (bytes: Uint8Array, algo: "sha256" | "sha1" | "sha512") => {
      const s = new HashSink(algo);
      s.write(bytes);
      return s.digest();
    };
    const add = async (path: string, ca: string, node: NarNode, references: string[] = []) =>
      await store.addNar({ path, ca, references }, new WireReader(writeNar(node)));

    // Right ones go in, for every method and a few algorithms.
    const good = [
      { ...caPath("recursive", narSha(treeNar, "sha256"), "r256"), node: TREE },
      { ...caPath("recursive", narSha(treeNar, "sha512"), "r512"), node: TREE },
      { ...caPath("flat", Hash.of("sha1", "flat\n"), "f1"), node: file("flat\n") },
      { ...caPath("flat", Hash.of("sha256", "exe\n"), "fx"), node: file("exe\n", true) },
      { ...caPath("text", Hash.of("sha256", "text\n"), "t"), node: file("text\n") },
    ];
    for (const g of good) await add(g.path, g.ca, g.node);

    // Wrong contents: Nix's words, nothing registered, nothing left.
    const other = file("other\n");
    const wrong: [string, string, NarNode, RegExp][] = [
      [
        ...Object.values(caPath("recursive", Hash.of("sha256", "no"), "r")) as [string, string],
        TREE,
        /^ca hash mismatch importing path '.*-r';\n {2}specified: sha256:.*\n {2}got: {7}sha256:/,
      ],
      [
        ...Object.values(caPath("flat", Hash.of("sha256", "flat\n"), "f")) as [string, string],
        other,
        /^ca hash mismatch importing path '.*-f';/,
      ],
      [
        ...Object.values(caPath("text", Hash.of("sha256", "text\n"), "t2")) as [string, string],
        other,
        /^ca hash mismatch importing path '.*-t2';/,
      ],
      [
        ...Object.values(caPath("flat", Hash.of("sha256", "flat\n"), "d")) as [string, string],
        TREE,
        /^ca hash mismatch importing path '.*-d': .* needs a regular file, it is a directory/,
      ],
    ];
    // A right ca on the wrong path.
    const r = caPath("recursive", narSha(treeNar, "sha256"), "r256");
    wrong.push([r.path.replace("-r256", "-renamed"), r.ca, TREE, /give the path ".*-renamed"/]);
    const t = caPath("text", Hash.of("sha256", "text\n"), "t3");
    wrong.push([t.path, t.ca.replace("text:", "fixed:"), file("text\n"), /give the path/]);
    const before = [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort();
    for (const [path, ca, node, re] of wrong) {
      await assert.rejects(
        add(path, ca, node),
        (e) => e instanceof ContentAddressError && re.test(e.message),
        `${path} ${ca}`,
      );
      assert.equal(store.isValid(path), false);
    }
    assert.deepEqual(
      [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name).sort(),
      before,
    );
    assert.deepEqual(store.allValidPaths().sort(), good.map((g) => g.path).sort());
    assert.deepEqual(await store.verify({ checkContents: true }), []);
  } finally {
    store.close();
  }
  // Real Nix agrees the registered paths are sound.
  const v = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|mismatch/);
});

Deno.test("Store.addNar() checks a recursive SHA-256 address whose NAR holds the path's own hash part", async () => {
  using tmp = tempDir();
  const root = join(tmp.path, "root");
  // As Nix names a path that refers to itself: its hash is of the NAR with the
  // hash part counted as zeros (and its offsets), so any 32 characters stand
  // in for it while hashing.
  const placeholder = "0".repeat(32);
  const tree = (hashPart: string): NarNode => ({
    type: "directory",
    entries: () => [["self", file(`me: ${hashPart}, again ${hashPart}\n`)], ["x", file("x\n")]],
  });
  const modulo = new HashModuloSink("sha256", placeholder);
  modulo.write(await narBytes(tree(placeholder)));
  const hash = modulo.digest();
  const path = makeFixedOutputPath("self", "recursive", hash, [], true).toString();
  const hashPart = path.slice("/nix/store/".length, "/nix/store/".length + 32);
  const ca = `fixed:r:${hash.toString("base32", true)}`;
  const store = await Store.open(root);
  try {
    // The same NAR under a wrong address: refused in Nix's words.
    const wrongHash = Hash.of("sha256", "no");
    const wrong = makeFixedOutputPath("self", "recursive", wrongHash, [], true).toString();
    await assert.rejects(
      store.addNar(
        { path: wrong, ca: `fixed:r:${wrongHash.toString("base32", true)}`, references: [wrong] },
        new WireReader(writeNar(tree(wrong.slice(11, 43)))),
      ),
      (e) => e instanceof ContentAddressError && /^ca hash mismatch importing path/.test(e.message),
    );
    assert.equal(store.isValid(wrong), false);
    await store.addNar({ path, ca, references: [path] }, new WireReader(writeNar(tree(hashPart))));
    assert.ok(store.isValid(path));
    assert.deepEqual(store.allValidPaths(), [path]);
  } finally {
    store.close();
  }
  const v = await nix("nix-store", ["--store", root, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|mismatch/);
  const info = await nix("nix", ["path-info", "--store", root, "--json", path]);
  assert.match(info.text, new RegExp(`"ca":"${ca}"`));
});

/** A serve session's input: hello at 2.7, one AddToStoreNar, end. */
async function addToStoreNarSession(path: string, ca: string, nar: Uint8Array) {
  const sink = new BufferSink();
  const w = new WireWriter(sink);
  w.writeU64(0x390c9deb).writeU64(0x207).writeU64(9);
  writeAddToStoreNarHeader(w, {
    path,
    narHash: Hash.of("sha256", nar),
    references: [],
    registrationTime: 0,
    narSize: nar.length,
    ultimate: false,
    sigs: [],
    ca,
  });
  w.writeRaw(nar);
  await w.flush();
  return sink.bytes();
}

Deno.test("AddToStoreNar with a wrong ca fails as with nix-store --serve --write and registers nothing", async () => {
  using tmp = tempDir();
  const nar = await narBytes(file("what was sent\n"));
  const { path, ca } = caPath("flat", Hash.of("sha256", "what was declared\n"), "claimed");
  const input = await addToStoreNarSession(path, ca, nar);

  const store = await Store.open(join(tmp.path, "ours"));
  let log = "";
  try {
    const { exitCode } = await new ServeServer(store, { write: true, log: (t) => void (log += t) })
      .serve(ReadableStream.from([input]), new BufferSink());
    assert.equal(exitCode, 1);
    assert.deepEqual(store.allValidPaths(), []);
    assert.deepEqual([...Deno.readDirSync(store.layout.realStoreDir)], []);
  } finally {
    store.close();
  }
  const theirs = join(tmp.path, "theirs");
  const nixErr = await nixFails("nix-store", ["--serve", "--write", "--store", theirs], {
    stdin: input,
  });
  // Nix's logger indents the lines after the first; the words are the same.
  const mismatch = (text: string) =>
    text.match(/ca hash mismatch importing path[^]*got: +\S+/)?.[0].replace(/\n +/g, "\n ");
  assert.ok(mismatch(nixErr), nixErr);
  assert.equal(mismatch(log), mismatch(nixErr));
  assert.match(log, /^error: ca hash mismatch/);
});
