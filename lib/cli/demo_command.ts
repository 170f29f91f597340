/**
 * `buildhost demo`: the main job on its embedded default. For now it shows
 * the format layer end to end on a small example: a tree serialised as a
 * NAR and hashed as Nix does, the store paths Nix would give it, and a
 * derivation built on it with its output and `.drv` paths.
 *
 * @module
 */
import { join } from "node:path";
import { HashSink } from "../hash/hash.ts";
import { makeFixedOutputPath, makeTextPath } from "../store_path/make_store_path.ts";
import { dumpPath } from "../store/dump_path.ts";
import { removeTree } from "../store/restore_path.ts";
import { printDerivation } from "../derivation/aterm.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
import { type Command, printOut } from "./command.ts";

/** `buildhost demo` */
export const demoCommand: Command = async () => {
  const dir = await Deno.makeTempDir({ prefix: "buildhost-demo-" });
  try {
    const src = join(dir, "hello-src");
    await Deno.mkdir(join(src, "bin"), { recursive: true });
    await Deno.writeTextFile(join(src, "README"), "hello from buildhost\n");
    await Deno.writeTextFile(join(src, "bin/hello"), "#!/bin/sh\necho hello\n", { mode: 0o755 });
    await Deno.symlink("bin/hello", join(src, "run"));

    const sink = new HashSink("sha256");
    for await (const chunk of dumpPath(src)) sink.write(chunk);
    const narHash = sink.digest();
    const srcPath = makeFixedOutputPath("hello-src", "recursive", narHash).toString();
    const script = "mkdir -p $out/bin\necho hi > $out/bin/hi\n";
    const scriptPath = makeTextPath("builder.sh", script).toString();

    const drv: Derivation = {
      name: "hello",
      outputs: new Map([["out", { kind: "deferred" }]]),
      inputDrvs: new Map(),
      inputSrcs: [scriptPath, srcPath].sort(),
      platform: "x86_64-linux",
      builder: "/bin/sh",
      args: [scriptPath],
      env: new Map([
        ["builder", "/bin/sh"],
        ["name", "hello"],
        ["out", ""],
        ["src", srcPath],
        ["system", "x86_64-linux"],
      ]),
    };
    const modulo = new HashModulo(() => {
      throw new Error("the demo derivation has no input derivations");
    });
    const full = await modulo.withOutputPaths(drv);
    const lines = [
      "buildhost demo: the format layer on an embedded example",
      "",
      `tree          ${src} (a file, an executable, a symlink)`,
      `NAR           ${sink.size} bytes`,
      `NAR hash      ${narHash.toString("sri")}`,
      `              ${narHash.toString("base32", true)}`,
      `store path    ${srcPath}   (nix-store --add)`,
      `text path     ${scriptPath}   (builtins.toFile)`,
      `derivation    ${derivationPath(full)}`,
      `  out         ${full.env.get("out")}`,
      "",
      printDerivation(full),
      "",
    ];
    await printOut(lines.join("\n"));
    return 0;
  } finally {
    await removeTree(dir);
  }
};
