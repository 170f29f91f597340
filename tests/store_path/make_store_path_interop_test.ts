import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { Hash, type HashAlgorithm } from "../../lib/hash/hash.ts";
import {
  makeFixedOutputPath,
  makeStorePath,
  makeTextPath,
} from "../../lib/store_path/make_store_path.ts";
import { StorePath } from "../../lib/store_path/store_path.ts";
import { nix, tempDir } from "../_helpers/nix.ts";

const ALGOS: HashAlgorithm[] = ["md5", "sha1", "sha256", "sha512"];

/** A Nix string literal for `s`. */
function nixString(s: string): string {
  return JSON.stringify(s).replaceAll("$", "\\$");
}

async function nixEvalJson(store: string, expr: string): Promise<unknown> {
  return JSON.parse((await nix("nix", ["eval", "--store", store, "--json", "--expr", expr])).text);
}

Deno.test("makeTextPath() matches builtins.toFile without references", async () => {
  using store = tempDir();
  const files: [string, string][] = [
    ["a", "x"],
    ["empty", ""],
    ["text.txt", "hello\nworld\n"],
    [".", "dot"],
    ["x".repeat(211), "long name"],
    ["unicode", "日本語 🙂"],
  ];
  const expr = `[ ${
    files.map(([n, c]) => `(builtins.toFile ${nixString(n)} ${nixString(c)})`).join(" ")
  } ]`;
  const paths = await nixEvalJson(store.path, expr) as string[];
  assert.deepEqual(paths, files.map(([n, c]) => makeTextPath(n, c).toString()));
  // The sha256 of the contents works as well as the contents.
  assert.equal(makeTextPath("a", Hash.of("sha256", "x")).toString(), paths[0]);
});

Deno.test("makeTextPath() matches builtins.toFile with references", async () => {
  using store = tempDir();
  const expr = `let
    a = builtins.toFile "a" "A";
    b = builtins.toFile "b" "B";
    c = builtins.toFile "c" "refers to \${b} and \${a} and \${a} again";
    d = builtins.toFile "d" "refers to \${c} only";
  in [ a b c d ]`;
  const [a, b, c, d] = await nixEvalJson(store.path, expr) as [string, string, string, string];
  assert.equal(makeTextPath("a", "A").toString(), a);
  assert.equal(makeTextPath("b", "B").toString(), b);
  const cText = `refers to ${b} and ${a} and ${a} again`;
  // in any order, duplicates or not
  assert.equal(makeTextPath("c", cText, [b, a, a]).toString(), c);
  assert.equal(makeTextPath("c", cText, [a, b]).toString(), c);
  assert.equal(makeTextPath("d", `refers to ${c} only`, [c]).toString(), d);
  assert.notEqual(makeTextPath("c", cText).toString(), c, "references change the path");
  // Nix registered exactly these references.
  const refs = (await nix("nix-store", ["--store", store.path, "-q", "--references", c])).text
    .split("\n").sort();
  assert.deepEqual(refs, [a, b].sort());
});

Deno.test("makeTextPath() honours another store directory", async () => {
  using dir = tempDir();
  const storeDir = "/buildhost-test/store";
  const url =
    `local?store=${storeDir}&real=${dir.path}/store&state=${dir.path}/state&log=${dir.path}/log`;
  const expr = `let a = builtins.toFile "a" "A"; in [ a (builtins.toFile "b" "\${a}") ]`;
  const [a, b] = await nixEvalJson(url, expr) as [string, string];
  assert.ok(a.startsWith(`${storeDir}/`));
  assert.equal(makeTextPath("a", "A", [], storeDir).toString(storeDir), a);
  assert.equal(makeTextPath("b", a, [a], storeDir).toString(storeDir), b);
  assert.notEqual(makeTextPath("a", "A").hashPart, StorePath.parse(a, storeDir).hashPart);
});

Deno.test("makeFixedOutputPath() flat matches nix-store --add-fixed for every algorithm", async () => {
  using dir = tempDir();
  using store = tempDir();
  const files = [0, 1, 100, 5000].map((n, i) => ({
    path: join(dir.path, `flat-${i}.bin`),
    data: new Uint8Array(randomBytes(n)),
  }));
  for (const f of files) await Deno.writeFile(f.path, f.data);
  for (const algo of ALGOS) {
    const out = await nix("nix-store", [
      "--store",
      store.path,
      "--add-fixed",
      algo,
      ...files.map((f) => f.path),
    ]);
    const ours = files.map((f) =>
      makeFixedOutputPath(f.path.split("/").at(-1)!, "flat", Hash.of(algo, f.data)).toString()
    );
    assert.deepEqual(out.text.split("\n"), ours, algo);
  }
});

/** A small tree with every kind of node. */
async function makeTree(root: string): Promise<void> {
  await Deno.mkdir(join(root, "sub", "deeper"), { recursive: true });
  await Deno.writeFile(join(root, "file"), new Uint8Array(randomBytes(300)));
  await Deno.writeTextFile(join(root, "sub", "empty"), "");
  await Deno.writeFile(
    join(root, "sub", "deeper", "run.sh"),
    new TextEncoder().encode("#!/bin/sh\n"),
    {
      mode: 0o755,
    },
  );
  await Deno.symlink("../file", join(root, "sub", "link"));
  await Deno.mkdir(join(root, "emptydir"));
}

Deno.test("makeFixedOutputPath() recursive matches nix-store --add-fixed --recursive", async () => {
  using dir = tempDir();
  using store = tempDir();
  const tree = join(dir.path, "tree");
  await makeTree(tree);
  const file = join(dir.path, "single.bin");
  await Deno.writeFile(file, new Uint8Array(randomBytes(777)));
  const exe = join(dir.path, "exe");
  await Deno.writeTextFile(exe, "echo hi\n", { mode: 0o755 });
  const link = join(dir.path, "link");
  await Deno.symlink("/nowhere/at/all", link);
  const inputs = [tree, file, exe, link];
  for (const algo of ALGOS) {
    const out = await nix("nix-store", [
      "--store",
      store.path,
      "--add-fixed",
      "--recursive",
      algo,
      ...inputs,
    ]);
    // The NAR hash of each input, from Nix itself.
    const narHashes = (await nix("nix-hash", ["--type", algo, "--base32", ...inputs])).text.split(
      "\n",
    );
    const ours = inputs.map((p, i) =>
      makeFixedOutputPath(p.split("/").at(-1)!, "recursive", Hash.parse(narHashes[i]!, algo))
        .toString()
    );
    assert.deepEqual(out.text.split("\n"), ours, algo);
  }
  // `nix-store --add` is recursive sha256: a source path without references.
  const added = (await nix("nix-store", ["--store", store.path, "--add", tree])).text;
  const narHash = Hash.parse((await nix("nix-hash", ["--type", "sha256", tree])).text, "sha256");
  assert.equal(makeFixedOutputPath("tree", "recursive", narHash).toString(), added);
  assert.equal(makeStorePath("source", narHash, "tree").toString(), added);
});

Deno.test("makeFixedOutputPath() matches the outPath of fixed-output derivations", async () => {
  using store = tempDir();
  const cases: [string, "flat" | "recursive", Hash][] = [];
  for (const algo of ALGOS) {
    for (const method of ["flat", "recursive"] as const) {
      cases.push([`fod-${algo}-${method}`, method, Hash.of(algo, `${algo} ${method}`)]);
    }
  }
  const drv = ([name, method, hash]: (typeof cases)[number]) =>
    `(derivation { name = "${name}"; system = "x86_64-linux"; builder = "/bin/sh"; ` +
    `outputHashMode = "${method}"; outputHash = "${hash.toString("sri")}"; }).outPath`;
  const got = await nixEvalJson(store.path, `[ ${cases.map(drv).join(" ")} ]`) as string[];
  assert.deepEqual(got, cases.map(([n, m, h]) => makeFixedOutputPath(n, m, h).toString()));
});

Deno.test("makeFixedOutputPath() matches Nix for source paths with references and a self-reference", async () => {
  using store = tempDir();
  using dir = tempDir();
  // One tiny build whose output refers to a dependency and to itself, then
  // `nix store make-content-addressed` turns it into a source path with both.
  const file = join(dir.path, "selfref.nix");
  await Deno.writeTextFile(
    file,
    `let dep = builtins.toFile "dep" "dependency"; in
    derivation { name = "selfref"; system = "x86_64-linux"; builder = "/bin/sh"; PATH = "/bin:/usr/bin";
      args = [ "-c" "mkdir $out; echo \${dep} > $out/dep; echo $out > $out/self; echo none > $out/n" ]; }`,
  );
  const built = (await nix("nix-build", ["--store", store.path, "--no-out-link", file])).text;
  const rewrites = JSON.parse(
    (await nix("nix", ["store", "make-content-addressed", "--store", store.path, "--json", built]))
      .text,
  ).rewrites as Record<string, string>;
  const ca = rewrites[built]!;
  const infos = JSON.parse(
    (await nix("nix", ["path-info", "--store", store.path, "--json", "-r", ca])).text,
  ) as { path: string; references: string[]; ca: string }[];
  assert.equal(infos.length, 2);
  for (const info of infos) {
    const match = /^fixed:r:(sha256:[0-9a-z]+)$/.exec(info.ca);
    assert.ok(match, info.ca);
    const p = StorePath.parse(info.path);
    const self = info.references.includes(info.path);
    const others = info.references.filter((r) => r !== info.path);
    assert.equal(
      makeFixedOutputPath(p.name, "recursive", Hash.parse(match[1]!), others, self).toString(),
      info.path,
    );
  }
  const top = infos.find((i) => i.path === ca)!;
  assert.equal(top.references.length, 2, "the rewritten output keeps its dependency and itself");
  // Without the self-reference or the other reference the path differs.
  const h = Hash.parse(top.ca.slice("fixed:r:".length));
  const others = top.references.filter((r) => r !== ca);
  assert.notEqual(makeFixedOutputPath("selfref", "recursive", h, others, false).toString(), ca);
  assert.notEqual(makeFixedOutputPath("selfref", "recursive", h, [], true).toString(), ca);
});
