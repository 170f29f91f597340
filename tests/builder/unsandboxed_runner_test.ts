import assert from "node:assert/strict";
import { join } from "node:path";
import type { SandboxSpec } from "../../lib/builder/builder.ts";
import { unsandboxedRunner } from "../../lib/builder/unsandboxed_runner.ts";
import { SandboxError } from "../../lib/sandbox/sandbox_error.ts";
import { findProcesses } from "../../lib/sandbox/process_tree.ts";
import type { BasicDerivation } from "../../lib/derivation/derivation.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";

/** A spec for `script` run by /bin/sh, in a store dir whose paths are where they say. */
function spec(dir: string, script: string, env: Record<string, string> = {}) {
  const storeDir = join(dir, "store");
  const buildDir = join(dir, "build");
  Deno.mkdirSync(storeDir, { recursive: true });
  Deno.mkdirSync(buildDir);
  const out = join(storeDir, "0".repeat(32) + "-plain");
  const drv: BasicDerivation = {
    name: "plain",
    outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
    inputSrcs: [],
    platform: "x86_64-linux",
    builder: "/bin/sh",
    args: ["-c", `NIX_PATH_WAS=$PATH; PATH=/usr/bin:/bin; ${script}`],
    env: new Map([["out", out], ...Object.entries(env)]),
  };
  const logs: Uint8Array[] = [];
  const s: SandboxSpec = {
    drv,
    drvPath: join(storeDir, "0".repeat(32) + "-plain.drv"),
    storeDir,
    inputs: [],
    outputs: [{ name: "out", path: out, physical: join(dir, "scratch-out") }],
    buildDir,
    cores: 3,
    network: false,
    log: (c) => void logs.push(c),
    maxSilentTime: 0,
    buildTimeout: 0,
    maxLogSize: 0,
    signal: new AbortController().signal,
  };
  const log = () => new TextDecoder().decode(new Uint8Array(logs.flatMap((c) => [...c])));
  return { s, out, log };
}

Deno.test("unsandboxedRunner() runs the builder in the build dir with Nix's environment", async () => {
  using t = tempDir();
  const { s, log } = spec(
    t.path,
    'echo "$PWD $NIX_BUILD_TOP $TMPDIR $HOME $NIX_PATH_WAS $NIX_BUILD_CORES $NIX_STORE"; ' +
      "cat $bigPath > $out; echo to-stderr >&2",
    { passAsFile: "big", big: "passed as a file\n" },
  );
  const outcome = await unsandboxedRunner()(s);
  assert.deepEqual(outcome, { kind: "exited", code: 0 });
  const top = s.buildDir;
  assert.equal(
    log(),
    `${top} ${top} ${top} /homeless-shelter /path-not-set 3 ${s.storeDir}\nto-stderr\n`,
  );
  assert.equal(Deno.readTextFileSync(s.outputs[0]!.physical), "passed as a file\n");
});

Deno.test("unsandboxedRunner() kills the builder's processes on timeout and after it exits", async () => {
  using t = tempDir();
  const marker = `unsandboxed-marker-${crypto.randomUUID()}`;
  const timed = spec(join(t.path, "a"), `sh -c 'sleep 300; echo ${marker}' & sleep 300`);
  Deno.mkdirSync(join(t.path, "a"), { recursive: true });
  timed.s.buildTimeout = 1;
  assert.deepEqual(await unsandboxedRunner()(timed.s), { kind: "timedOut" });
  assert.deepEqual(findProcesses(marker), []);

  const daemon = spec(join(t.path, "b"), `(sh -c 'sleep 300; echo ${marker}' &); echo left`);
  assert.deepEqual(await unsandboxedRunner()(daemon.s), { kind: "exited", code: 0 });
  assert.equal(daemon.log(), "left\n");
  assert.deepEqual(findProcesses(marker), []);

  const silent = spec(join(t.path, "c"), "echo once; sleep 300");
  silent.s.maxSilentTime = 1;
  assert.deepEqual(await unsandboxedRunner()(silent.s), { kind: "silent" });
  assert.equal(silent.log(), "once\n");
});

Deno.test("unsandboxedRunner() refuses a store that is not at its logical location", async () => {
  using t = tempDir();
  const { s } = spec(t.path, "exit 0");
  s.inputs = [{ path: "/nix/store/" + "1".repeat(32) + "-x", physical: join(t.path, "x") }];
  await assert.rejects(() => unsandboxedRunner()(s), (e) => {
    assert.ok(e instanceof SandboxError);
    assert.match(e.message, /logical location/);
    return true;
  });
});

Deno.test("buildhost build --no-sandbox says why a diverted store cannot build unsandboxed", async () => {
  using t = tempDir();
  // a derivation with an input, in a store rooted elsewhere than /
  const root = join(t.path, "root");
  const add = await runBuildhost(["store", "add-text", "--store", root, "in.txt", "/dev/null"]);
  assert.equal(add.code, 0, add.stderr);
  const input = add.stdout.trim();
  const drvText = `Derive([("out","/nix/store/${"2".repeat(32)}-x","","")],[],["${input}"],` +
    `"x86_64-linux","/bin/sh",["-c","exit 0"],[("out","/nix/store/${"2".repeat(32)}-x")])`;
  Deno.writeTextFileSync(join(t.path, "x.drv"), drvText);
  const drv = await runBuildhost([
    "store",
    "add-text",
    "--store",
    root,
    "x.drv",
    join(t.path, "x.drv"),
  ]);
  assert.equal(drv.code, 0, drv.stderr);
  const r = await runBuildhost(["build", "--no-sandbox", "--store", root, drv.stdout.trim()]);
  assert.equal(r.code, 1);
  assert.match(
    r.stderr,
    /without a sandbox the builder can only see a store at its logical location/,
  );
});
