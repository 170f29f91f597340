/**
 * A derivation with two outputs, one of them valid already: `out`, built by
 * real Nix (it holds a random id, so no rebuild matches it) and handed over
 * with registration time 12345; `dev` still to build.
 *
 * @module
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import { Hash } from "../../lib/hash/hash.ts";
import type { Store } from "../../lib/store/store.ts";
import { nix } from "../_helpers/nix.ts";

const MULTI_EXPR = String.raw`
derivation { name = "half-built"; system = "x86_64-linux"; builder = "/bin/sh";
  outputs = [ "out" "dev" ];
  args = [ "-c" "PATH=/bin:/usr/bin; mkdir $out $dev; cat /proc/sys/kernel/random/uuid > $out/id; echo $out > $dev/uses-out" ]; }`;

/**
 * A multi-output derivation whose `out` is valid in `store` (built by real
 * Nix, so its contents differ from any rebuild: it holds a random id),
 * registered at time 12345; `dev` is not there yet.
 */
export async function halfBuilt(t: { path: string }) {
  const nixRoot = join(t.path, "nix");
  const file = join(t.path, "multi.nix");
  Deno.writeTextFileSync(file, MULTI_EXPR);
  const drvPath = (await nix("nix-instantiate", ["--store", nixRoot, file])).text;
  const drv = parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath });
  await nix("nix-build", ["--store", nixRoot, "--no-out-link", file]);
  const [out, dev] = ["out", "dev"].map((o) => {
    const d = drv.outputs.get(o);
    assert.ok(d?.kind === "inputAddressed");
    return d.path;
  }) as [string, string];
  const nar = (await nix("nix-store", ["--dump", join(nixRoot, out)])).bytes;
  const header = {
    path: out,
    deriver: drvPath,
    narHash: Hash.of("sha256", nar),
    narSize: nar.length,
    references: [],
    registrationTime: 12345,
    ultimate: false,
    sigs: [],
  };
  return { drvPath, drv, out, dev, nar, header, nixRoot };
}

/** `out` as it is in the store: contents, registration, NAR hash. */
export function stateOf(store: Store, path: string) {
  const info = store.requirePathInfo(path);
  return {
    id: Deno.readTextFileSync(join(store.realPath(path), "id")),
    registrationTime: info.registrationTime,
    narHash: info.narHash.toString("sri"),
    ultimate: info.ultimate,
    deriver: info.deriver,
  };
}
