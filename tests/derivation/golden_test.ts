import assert from "node:assert/strict";
import { encodeDerivation, parseDerivation } from "../../lib/derivation/aterm.ts";
import type { Derivation } from "../../lib/derivation/derivation.ts";
import { showDerivationJson } from "../../lib/derivation/derivation_json.ts";
import { HashModulo } from "../../lib/derivation/hash_modulo.ts";
import { decodeNixString, encodeNixString } from "../../lib/derivation/nix_string.ts";
import { derivationPath } from "../../lib/derivation/output_paths.ts";

const DIR = new URL("../../testdata/drv/", import.meta.url);
const goldens = [...Deno.readDirSync(DIR)].map((e) => e.name).filter((n) => n.endsWith(".drv"))
  .sort();

/** The golden `.drv` named by its store path's base name. */
function read(drvPath: string): { bytes: Uint8Array; drv: Derivation } {
  const base = drvPath.slice(drvPath.lastIndexOf("/") + 1);
  const bytes = Deno.readFileSync(new URL(base, DIR));
  return { bytes, drv: parseDerivation(bytes, { path: drvPath }) };
}

Deno.test("the .drv goldens made by Nix 2.8 read and print back byte for byte", async () => {
  assert.ok(goldens.length >= 6, "testdata/drv has no goldens: run testdata/drv/generate.sh");
  const modulo = new HashModulo((p) => read(p).drv);
  for (const name of goldens) {
    const path = `/nix/store/${name}`;
    const { bytes, drv } = read(path);
    assert.deepEqual(encodeDerivation(drv), bytes, name);
    assert.equal(derivationPath(drv), path, name);
    const want = Deno.readFileSync(new URL(`${name}.json`, DIR));
    assert.deepEqual(encodeNixString(showDerivationJson([[path, drv]])), want, name);
    const nixOutputs = JSON.parse(decodeNixString(want))[path].outputs as Record<
      string,
      { path?: string }
    >;
    const computed = await modulo.outputPaths(drv);
    for (const [output, o] of Object.entries(nixOutputs)) {
      assert.equal(computed.get(output), o.path, `${name} ${output}`);
    }
  }
});
