/**
 * Instantiate the derivations of a Nix expression with real Nix 2.8 into a
 * chroot store, for the derivation tests.
 *
 * @module
 */
import { join } from "node:path";
import { nix, NIX_CONFIG } from "../_helpers/nix.ts";

/** NIX_CONFIG with the experimental features that floating and impure outputs need. */
export const EXPERIMENTAL_CONFIG =
  `${NIX_CONFIG}\nexperimental-features = nix-command ca-derivations impure-derivations`;

/** A chroot store in `dir` and the drvs instantiated into it. */
export interface Instantiated {
  /** The store root: `.drv` files are at `<root>/nix/store/...`. */
  root: string;
  /** Attribute name to `.drv` path. */
  drvs: Map<string, string>;
}

/**
 * Write `expr` (an attribute set of derivations; bytes kept as they are) to
 * `dir/drvs.nix` and instantiate every attribute into the store `dir/store`.
 */
export async function instantiate(
  dir: string,
  expr: Uint8Array | string,
  config: string = NIX_CONFIG,
): Promise<Instantiated> {
  const root = join(dir, "store");
  const file = join(dir, "drvs.nix");
  await Deno.writeFile(file, typeof expr === "string" ? new TextEncoder().encode(expr) : expr);
  const out = await nix("nix-instantiate", [
    "--store",
    root,
    "--eval",
    "--strict",
    "--json",
    "--read-write-mode",
    "-E",
    `builtins.mapAttrs (n: d: d.drvPath) (import ${file})`,
  ], { env: { NIX_CONFIG: config } });
  return { root, drvs: new Map(Object.entries(JSON.parse(out.text) as Record<string, string>)) };
}

/** `nix show-derivation --store root paths...`: the raw bytes. */
export async function showDerivation(
  root: string,
  paths: string[],
  config: string = NIX_CONFIG,
): Promise<Uint8Array> {
  return (await nix("nix", ["show-derivation", "--store", root, ...paths], {
    env: { NIX_CONFIG: config },
  })).bytes;
}

/** Make a chroot store's files writable (to tamper with a `.drv` in a test). */
export async function makeWritable(root: string): Promise<void> {
  const out = await new Deno.Command("chmod", { args: ["-R", "u+w", root] }).output();
  if (!out.success) throw new Error(`chmod -R u+w ${root} failed`);
}
