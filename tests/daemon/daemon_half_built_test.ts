/**
 * A BuildDerivation over the daemon protocol for a derivation one of whose
 * outputs is valid already: buildhost's `--stdio` host answers as
 * `nix-daemon --stdio` does (same status; builtOutputs lists only the output
 * this build registered) and leaves the valid output as it was.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { basicDerivationFor } from "../../lib/remote/remote_build.ts";
import { startDaemonHost } from "../../lib/remote/daemon_host_process.ts";
import { NIX_CONFIG, tempDir } from "../_helpers/nix.ts";
import { halfBuilt } from "../builder/_half_built.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

const HOSTS = {
  "nix-daemon": (root: string) => [
    "env",
    "-u",
    "NIX_REMOTE",
    `NIX_CONFIG=${NIX_CONFIG}`,
    "nix-daemon",
    "--stdio",
    "--store",
    root,
  ],
  "buildhost": (root: string) => [
    Deno.execPath(),
    "run",
    "-A",
    MAIN,
    "--sandbox-paths",
    "/bin /lib /lib64 /usr",
    "--stdio",
    "--store",
    root,
  ],
};

/** Hand `out` to a fresh host, build the derivation there; the result and `out`'s id after. */
async function buildHalfBuilt(dir: string, kind: keyof typeof HOSTS) {
  const { drvPath, drv, out, nar, header } = await halfBuilt({ path: dir });
  const root = join(dir, "host");
  const local = await Store.open(join(dir, "local"));
  try {
    await using h = await startDaemonHost(HOSTS[kind](root), { host: kind });
    await h.client.addToStoreNar(header, ReadableStream.from([nar]));
    const result = await h.client.buildDerivation(drvPath, basicDerivationFor(local, drv), {
      maxSilentTime: 0,
      buildTimeout: 0,
    });
    const id = Deno.readTextFileSync(join(root, out, "id"));
    return { result, id, originalId: Deno.readTextFileSync(join(dir, "nix", out, "id")) };
  } finally {
    local.close();
  }
}

Deno.test("BuildDerivation with one output valid: buildhost --stdio answers as nix-daemon --stdio", async () => {
  using t = tempDir();
  const [theirs, ours] = [join(t.path, "theirs"), join(t.path, "ours")];
  Deno.mkdirSync(theirs);
  Deno.mkdirSync(ours);
  const want = await buildHalfBuilt(theirs, "nix-daemon");
  const got = await buildHalfBuilt(ours, "buildhost");
  assert.equal(want.result.status, "Built", want.result.errorMsg);
  assert.equal(got.result.status, want.result.status, got.result.errorMsg);
  const names = (r: typeof want.result) => [...(r.builtOutputs?.keys() ?? [])].sort();
  assert.deepEqual(names(got.result), names(want.result));
  assert.deepEqual(names(got.result), ["dev"]);
  // the valid output is left as it was, on both
  assert.equal(want.id, want.originalId);
  assert.equal(got.id, got.originalId);
});
