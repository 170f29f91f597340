import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { join } from "node:path";
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";

/** Run `buildhost hash ...` through main.ts. */
const buildhost = (args: string[]) => runBuildhost(["hash", ...args], { env: nixEnv() });

/** A small tree with every kind of node, and a few loose files. */
async function fixture(root: string): Promise<{ tree: string; files: string[]; link: string }> {
  const tree = join(root, "tree");
  await Deno.mkdir(join(tree, "sub", "deeper"), { recursive: true });
  await Deno.mkdir(join(tree, "emptydir"));
  await Deno.writeFile(join(tree, "data.bin"), new Uint8Array(randomBytes(5000)));
  await Deno.writeTextFile(join(tree, "sub", "empty"), "");
  await Deno.writeTextFile(join(tree, "sub", "deeper", "run.sh"), "#!/bin/sh\necho hi\n", {
    mode: 0o755,
  });
  await Deno.symlink("../data.bin", join(tree, "sub", "link"));
  const files = [
    join(tree, "data.bin"),
    join(tree, "sub", "empty"),
    join(tree, "sub", "deeper", "run.sh"),
  ];
  const link = join(root, "top-link");
  await Deno.symlink("tree/data.bin", link);
  return { tree, files, link };
}

const ENCODINGS: [string[], string][] = [
  [[], "sha256"],
  [["--base16"], "md5"],
  [["--base32"], "sha1"],
  [["--base64"], "sha512"],
  [["--sri"], "sha1"],
  [["--base16", "--base32"], "sha256"], // the last one wins, as in Nix
];

Deno.test("buildhost hash path matches nix hash path for each type and encoding", async () => {
  using dir = tempDir();
  const { tree, files, link } = await fixture(dir.path);
  const paths = [tree, join(tree, "sub"), files[0]!, files[2]!, link];
  for (const [flags, type] of ENCODINGS) {
    const args = ["--type", type, ...flags, ...paths];
    const want = (await nix("nix", ["hash", "path", ...args])).text;
    const got = await buildhost(["path", ...args]);
    assert.equal(got.stderr, "");
    assert.equal(got.code, 0);
    assert.equal(got.stdout, want + "\n", `${type} ${flags.join(" ")}`);
  }
  // --type defaults to sha256, the encoding to SRI
  const want = (await nix("nix", ["hash", "path", tree])).text;
  assert.equal((await buildhost(["path", tree])).stdout, want + "\n");
});

Deno.test("buildhost hash file matches nix hash file for each type and encoding", async () => {
  using dir = tempDir();
  const { files } = await fixture(dir.path);
  for (const [flags, type] of ENCODINGS) {
    const args = ["--type", type, ...flags, ...files];
    const want = (await nix("nix", ["hash", "file", ...args])).text;
    const got = await buildhost(["file", ...args]);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(got.stdout, want + "\n", `${type} ${flags.join(" ")}`);
  }
});

Deno.test("buildhost hash reports bad usage and missing paths", async () => {
  using dir = tempDir();
  const missing = join(dir.path, "missing");
  const cases: [string[], number, RegExp][] = [
    [[], 2, /usage: buildhost hash/],
    [["path"], 2, /usage: buildhost hash/],
    [["dir", dir.path], 2, /usage: buildhost hash/],
    [["path", "--type", "foo", dir.path], 1, /unknown/],
    [["path", missing], 1, /missing/],
    [["file", missing], 1, /missing/],
  ];
  for (const [args, code, why] of cases) {
    const got = await buildhost(args);
    assert.equal(got.code, code, args.join(" "));
    assert.match(got.stderr, why);
    assert.equal(got.stdout, "");
  }
});
