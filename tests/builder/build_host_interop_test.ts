/**
 * What a host refuses to build, and its post-build-hook, compared with real
 * `nix-store --serve --write`: the same status and the same message, byte
 * for byte, for a missing feature, another platform, an extra platform.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { buildOnHost } from "../../lib/remote/remote_build.ts";
import { startServeHost } from "../../lib/remote/serve_host_process.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { MAIN } from "../_helpers/buildhost.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";

const EXPR = String.raw`
let mk = name: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "echo > $out" ]; } // attrs);
in {
  feat = mk "needs-foo-bar" { requiredSystemFeatures = [ "foo" "bar" ]; };
  arm = mk "arm" { system = "aarch64-linux"; };
  i686 = mk "i686" { system = "i686-linux"; };
  ok = mk "has-baz" { requiredSystemFeatures = [ "baz" ]; };
}`;

Deno.test("a host refuses what it cannot build with nix-store --serve's status and message", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const ours = await Store.open(join(t.path, "ours"));
  const hook = join(t.path, "hook.sh");
  Deno.writeTextFileSync(
    hook,
    `#!/bin/sh\necho "$DRV_PATH $OUT_PATHS" >> ${t.path}/hook-$HOST_KIND.log\necho hook ran\n`,
    { mode: 0o755 },
  );
  const config = `${NIX_CONFIG}\nsystem-features = kvm\nextra-platforms = i686-linux\n` +
    `post-build-hook = ${hook}\nsandbox = false\n`;
  try {
    const results: Record<string, Record<string, unknown>> = { nix: {}, buildhost: {} };
    for (const attr of ["feat", "arm", "i686", "ok"]) {
      const d = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", attr])).text;
      const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", d])).text.split("\n");
      const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
      await ours.importExport(new WireReader(ReadableStream.from([exp])));
      for (const kind of ["nix", "buildhost"]) {
        const root = join(t.path, kind);
        const env = ["env", "-u", "NIX_REMOTE", `NIX_CONFIG=${config}`, `HOST_KIND=${kind}`];
        const argv = kind === "nix"
          ? [
            ...env,
            "nix-store",
            "--store",
            `${root}?system-features=baz%20kvm`,
            "--serve",
            "--write",
          ]
          : [
            ...env,
            Deno.execPath(),
            "run",
            "-A",
            MAIN,
            "--serve",
            "--write",
            "--store",
            `${root}?system-features=baz%20kvm`,
            "--sandbox-paths",
            "/bin /lib /lib64 /usr",
          ];
        await using h = await startServeHost(argv, { host: kind, log: () => {} });
        const { result } = await buildOnHost(h.client, ours, d);
        results[kind]![attr] = { status: result.status, errorMsg: result.errorMsg };
      }
    }
    assert.deepEqual(results.buildhost, results.nix);
    assert.equal((results.nix!.feat as { status: string }).status, "MiscFailure");
    assert.match(
      (results.nix!.feat as { errorMsg: string }).errorMsg.replaceAll("\x1b[35;1m", "").replaceAll(
        "\x1b[31;1m",
        "",
      ).replaceAll("\x1b[0m", ""),
      /^error: a 'x86_64-linux' with features \{bar, foo\} is required to build '\/nix\/store\/[a-z0-9]{32}-needs-foo-bar\.drv', but I am a 'x86_64-linux' with features \{baz, kvm\}$/,
    );
    assert.equal((results.nix!.i686 as { status: string }).status, "Built");
    // the hook ran once per build on both, with the same DRV_PATH and OUT_PATHS
    const hookLog = (k: string) => Deno.readTextFileSync(join(t.path, `hook-${k}.log`));
    assert.equal(hookLog("buildhost"), hookLog("nix"));
    assert.equal(hookLog("nix").trim().split("\n").length, 2);
  } finally {
    ours.close();
  }
});
