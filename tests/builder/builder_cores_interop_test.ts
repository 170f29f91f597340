/**
 * `cores` holds for the host: a build gets `NIX_BUILD_CORES` as asked (a
 * daemon client's `cores`), at most the host's `cores` when that is set.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Builder } from "../../lib/builder/builder.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { Store } from "../../lib/store/store.ts";
import { tempDir } from "../_helpers/nix.ts";
import { clientWith, PRELUDE } from "../remote/_hosts.ts";

Deno.test("Builder: NIX_BUILD_CORES is what the build asks for, at most the host's cores", async () => {
  using t = tempDir();
  const cases = [
    // [host cores, asked, got]
    [2, 64, 2],
    [2, 0, 2],
    [2, 1, 1],
    [0, 64, 64],
  ] as const;
  const expr = `let ${PRELUDE}\nin {\n${
    cases.map((_, i) => `  c${i} = mk "cores-${i}" "echo $NIX_BUILD_CORES > $out" {};`).join("\n")
  }\n}`;
  const { client, drvs } = await clientWith(t.path, expr, cases.map((_, i) => `c${i}`));
  const store = await Store.open(client);
  try {
    const runner = nixSandboxRunner({
      sandboxPaths: parseSandboxPaths(["/bin", "/lib", "/lib64", "/usr"]),
    });
    for (const [i, [hostCores, asked, got]] of cases.entries()) {
      const builder = new Builder(store, runner, {
        system: "x86_64-linux",
        extraPlatforms: [],
        systemFeatures: [],
        maxJobs: 1,
        cores: hostCores,
      });
      const drvPath = drvs[`c${i}`]!;
      const drv = parseDerivation(Deno.readFileSync(join(client, drvPath)), { path: drvPath });
      const r = await builder.build(drvPath, drv, { cores: asked });
      assert.equal(r.status, BuildStatus.Built, r.errorMsg);
      const out = r.builtOutputs.get("out")!.outPath;
      assert.equal(Deno.readTextFileSync(join(client, out)), `${got}\n`, `case ${i}`);
    }
  } finally {
    store.close();
  }
});
