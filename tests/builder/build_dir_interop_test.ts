/**
 * The `build-dir` setting: build directories and their sandbox roots go
 * there, and the serve host reads it from Nix's settings.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import { buildOnHost } from "../../lib/remote/remote_build.ts";
import { startServeHost } from "../../lib/remote/serve_host_process.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { MAIN } from "../_helpers/buildhost.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";

const EXPR = String.raw`
let mk = name: script: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" script ]; };
in {
  ok = mk "in-build-dir" "echo started; echo > $out";
  fails = mk "fails-in-build-dir" "echo failing; exit 3";
}`;

const HOST = { system: "x86_64-linux", extraPlatforms: [], systemFeatures: [], maxJobs: 1 };

Deno.test("Builder with build-dir makes its build and chroot directories there, and removes them", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const buildDir = join(t.path, "build-dir");
  Deno.mkdirSync(buildDir);
  const store = await Store.open(join(t.path, "ours"));
  try {
    const runner = nixSandboxRunner({
      sandboxPaths: parseSandboxPaths(["/bin /lib /lib64 /usr"]),
    });
    const builder = new Builder(store, runner, { ...HOST, buildDir });
    const drvPath = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", "ok"])).text;
    const drv = parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath });
    // what build-dir holds while the builder runs (its first output)
    const during: string[] = [];
    const r = await builder.build(drvPath, drv, {
      log: () => {
        if (during.length === 0) during.push(...[...Deno.readDirSync(buildDir)].map((e) => e.name));
      },
    });
    assert.equal(r.status, BuildStatus.Built, r.errorMsg);
    const name = `nix-build-in-build-dir-${Deno.pid}-0`;
    for (const want of [name, `${name}.chroot`, `${name}.owner`]) {
      assert.ok(during.includes(want), `${want} in ${during}`);
    }
    assert.equal(during.length, 3, `${during}`);
    assert.deepEqual([...Deno.readDirSync(buildDir)], []);
    assert.ok(![...Deno.readDirSync(store.layout.stateDir)].some((e) => e.name === "builds"));
  } finally {
    store.close();
  }
});

Deno.test("the serve host reads build-dir from NIX_CONFIG: a kept failed build is there", async () => {
  using t = tempDir();
  const file = join(t.path, "d.nix");
  Deno.writeTextFileSync(file, EXPR);
  const nixRoot = join(t.path, "nix");
  const buildDir = join(t.path, "build-dir");
  Deno.mkdirSync(buildDir);
  const ours = await Store.open(join(t.path, "client"));
  try {
    const d = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", "fails"])).text;
    const exp = (await nix("nix-store", ["--store", nixRoot, "--export", d])).bytes;
    await ours.importExport(new WireReader(ReadableStream.from([exp])));
    let log = "";
    {
      await using h = await startServeHost([
        "env",
        "-u",
        "NIX_REMOTE",
        `NIX_CONFIG=${NIX_CONFIG}\nbuild-dir = ${buildDir}`,
        Deno.execPath(),
        "run",
        "-A",
        MAIN,
        "--serve",
        "--write",
        "--store",
        join(t.path, "host"),
        "--sandbox-paths",
        "/bin /lib /lib64 /usr",
      ], { host: "buildhost", log: (c) => log += new TextDecoder().decode(c) });
      const { result } = await buildOnHost(h.client, ours, d, {
        maxSilentTime: 0,
        buildTimeout: 0,
        keepFailed: true,
      });
      assert.equal(result.status, "PermanentFailure");
    }
    const kept = /note: keeping build directory '([^']*)'/.exec(log)?.[1];
    assert.match(kept ?? log, /^\/.*\/nix-build-fails-in-build-dir-\d+-0$/);
    assert.equal(join(kept!, ".."), buildDir);
    assert.ok(Deno.statSync(kept!).isDirectory);
  } finally {
    ours.close();
  }
});
