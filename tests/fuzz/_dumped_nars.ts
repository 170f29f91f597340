/**
 * NARs made by a live `nix-store --dump`, for the fuzzers that run Nix
 * (`*_interop_test.ts`).
 *
 * @module
 */
import { join } from "node:path";
import { nix } from "../_helpers/nix.ts";

/**
 * NARs made by `nix-store --dump` of sample trees: a file, an executable,
 * a symlink, an empty file, an empty directory, and a tree with nested
 * directories, odd names, a larger file and a symlink to `escape` (a
 * directory outside every temporary the fuzzers write to, which must stay
 * empty).
 *
 * @param work A scratch directory.
 * @param escape The directory a symlink points to.
 */
export async function dumpedNars(work: string, escape: string): Promise<Uint8Array[]> {
  const t = join(work, "trees");
  Deno.mkdirSync(t);
  Deno.writeTextFileSync(join(t, "file"), "hello\n");
  Deno.writeTextFileSync(join(t, "exec"), "#!/bin/sh\necho hi\n", { mode: 0o755 });
  Deno.chmodSync(join(t, "exec"), 0o755);
  Deno.symlinkSync("/nix/store/ffffffffffffffffffffffffffffffff-x", join(t, "link"));
  Deno.writeFileSync(join(t, "empty"), new Uint8Array(0));
  Deno.mkdirSync(join(t, "emptydir"));
  const tree = join(t, "tree");
  Deno.mkdirSync(join(tree, "a/b/c"), { recursive: true });
  Deno.writeTextFileSync(join(tree, "a/b/c/deep"), "deep");
  Deno.writeTextFileSync(join(tree, "a/x y"), "space");
  Deno.writeTextFileSync(join(tree, "a/ümlaut"), "u");
  Deno.writeFileSync(join(tree, "big"), new Uint8Array(3000).map((_, i) => i * 7));
  Deno.symlinkSync(escape, join(tree, "escape"));
  Deno.symlinkSync("../a", join(tree, "rel"));
  Deno.writeTextFileSync(join(tree, "z"), "z");
  const out: Uint8Array[] = [];
  for (const name of ["file", "exec", "link", "empty", "emptydir", "tree"]) {
    out.push((await nix("nix-store", ["--dump", join(t, name)])).bytes);
  }
  return out;
}
