/**
 * The host's Builder chooses its runner (and probes the sandbox) at the
 * first build, once: a session that only shakes hands never spawns the
 * probe, and a host that cannot build says why once and refuses each build.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import type { SandboxRunner } from "../../lib/builder/builder.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { hostBuilder, HostCannotBuildError } from "../../lib/cli/host_builder.ts";
import { nixSettings } from "../../lib/cli/nix_settings.ts";
import { Store } from "../../lib/store/store.ts";
import { MAIN } from "../_helpers/buildhost.ts";
import { nixEnv, tempDir } from "../_helpers/nix.ts";

let n = 0;
function trivial(name: string, script: string) {
  const out = `/nix/store/${String(n++ % 10).repeat(32)}-${name}`;
  return {
    name,
    outputs: new Map([["out", { kind: "inputAddressed" as const, path: out }]]),
    inputSrcs: [],
    platform: "x86_64-linux",
    builder: "/bin/sh",
    args: ["-c", script],
    env: new Map([["out", out]]),
  };
}

const SETTINGS = nixSettings(
  new Map([["sandbox-paths", { value: "/bin /lib /lib64 /usr", extra: [] }]]),
);

Deno.test("hostBuilder chooses the runner at the first build and reuses it", async () => {
  using t = tempDir();
  const store = await Store.open(join(t.path, "store"));
  try {
    const chosen: SandboxRunner[] = [];
    const builder = hostBuilder(
      { "sandbox-paths": [], "no-sandbox": false },
      SETTINGS,
      store,
      { layout: store.layout },
      (text) => assert.fail(`unexpected log: ${text}`),
      { wrapRunner: (runner) => (chosen.push(runner), runner) },
    );
    assert.equal(chosen.length, 0);
    const results = [
      await builder.build("/nix/store/a.drv", trivial("one", "echo 1 > $out")),
      await builder.build("/nix/store/b.drv", trivial("two", "echo 2 > $out")),
    ];
    assert.deepEqual(results.map((r) => r.status), [BuildStatus.Built, BuildStatus.Built]);
    assert.equal(chosen.length, 1);
  } finally {
    store.close();
  }
});

Deno.test("hostBuilder of a host that cannot build warns once and fails every build, leaving nothing", async () => {
  using t = tempDir();
  const store = await Store.open(join(t.path, "store"));
  try {
    const logged: string[] = [];
    const builder = hostBuilder(
      { "sandbox-paths": ["relative/path"], "no-sandbox": false },
      SETTINGS,
      store,
      { layout: store.layout },
      (text) => logged.push(text),
      { wrapRunner: () => assert.fail("no runner is chosen") },
    );
    assert.deepEqual(logged, []);
    for (const name of ["one", "two"]) {
      // As Nix: an error that escapes a build is its result; the session goes on.
      const r = await builder.build(`/nix/store/${name}.drv`, trivial(name, "echo > $out"));
      assert.equal(r.status, BuildStatus.MiscFailure);
      assert.match(r.errorMsg, /error:/);
      assert.ok(r.errorMsg.endsWith(` ${new HostCannotBuildError().message}`), r.errorMsg);
    }
    assert.equal(logged.length, 1);
    assert.match(logged[0]!, /^warning: .*'relative\/path'.* is not an absolute path\n$/);
    const builds = join(store.layout.stateDir, "builds");
    const left = [...Deno.readDirSync(builds)].map((e) => e.name);
    assert.deepEqual(left, []);
    assert.deepEqual(
      [...Deno.readDirSync(store.layout.realStoreDir)].map((e) => e.name),
      [],
    );
  } finally {
    store.close();
  }
});

/** Run `argv` with `stdin` in a mount namespace where the sandbox's perl cannot run. */
async function withoutPerl(argv: string[], stdin: Uint8Array) {
  const quoted = argv.map((a) => `'${a}'`).join(" ");
  const child = new Deno.Command("unshare", {
    args: ["-m", "sh", "-c", `mount --bind /dev/null /usr/bin/perl && exec ${quoted}`],
    env: nixEnv(),
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const w = child.stdin.getWriter();
  await w.write(stdin);
  await w.close();
  const out = await child.output();
  return { code: out.code, stdout: out.stdout, stderr: new TextDecoder().decode(out.stderr) };
}

function u64s(...values: number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  values.forEach((v, i) => new DataView(out.buffer).setBigUint64(8 * i, BigInt(v), true));
  return out;
}

Deno.test("a serve or daemon session that only shakes hands does not probe the sandbox", async () => {
  using t = tempDir();
  const store = join(t.path, "store");
  const deno = [Deno.execPath(), "run", "-A", MAIN];
  const serve = await withoutPerl(
    [...deno, "--serve", "--write", "--store", store],
    u64s(0x390c9deb, 0x206),
  );
  assert.deepEqual(serve, { code: 0, stdout: u64s(0x5452eecb, 0x207), stderr: "" });
  const daemon = await withoutPerl(
    [...deno, "--stdio", "--store", store],
    u64s(0x6e697863, 0x122, 0, 0),
  );
  assert.equal(daemon.stderr, "");
  assert.equal(daemon.code, 0);
  // magic, version, version string, STDERR_LAST
  assert.deepEqual(daemon.stdout.subarray(0, 8), u64s(0x6478696f));
  assert.deepEqual(daemon.stdout.subarray(daemon.stdout.length - 8), u64s(0x616c7473));
});
