/**
 * A garbage collection while a build runs removes nothing the build needs:
 * the `.drv` files, the outputs of input derivations (valid before the build
 * began, or built by it), its input sources, and its outputs once registered
 * are the build process's temporary roots. `buildhost build top.drv` is held
 * by FIFOs at three points: while an input derivation (`gate`) builds, before
 * `top` itself starts (its inputs in place), and in the post-build hook (its
 * output registered); `buildhost store gc` runs at each.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN, runBuildhost } from "../_helpers/buildhost.ts";
import { FifoEvents, follow, Growing } from "../_helpers/fifo_events.ts";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";
import { clientWith } from "../remote/_hosts.ts";
import { Store } from "../../lib/store/store.ts";

const SANDBOX = "/bin /lib /lib64 /usr";

async function validPaths(root: string): Promise<string[]> {
  const store = await Store.open(root);
  try {
    return store.allValidPaths();
  } finally {
    store.close();
  }
}

async function gc(root: string): Promise<string[]> {
  const r = await runBuildhost(["store", "gc", "--store", root]);
  assert.equal(r.code, 0, r.stderr);
  return r.stdout.split("\n").filter((l) => l);
}

Deno.test("buildhost store gc during a build deletes none of its inputs, derivations or registered outputs, and the build succeeds", async () => {
  using t = tempDir();
  const shared = join(t.path, "shared");
  await using fifos = new FifoEvents(shared, ["gate", "top", "hook"]);
  const expr = `let
  src = builtins.toFile "gc-src.txt" "a source\\n";
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);
in rec {
  dep = mk "gc-dep" "echo dependency > $out" {};
  gate = mk "gc-gate" "echo gate > ${shared}/events; read go < ${shared}/go-gate; echo gate > $out" {};
  top = mk "gc-top" "echo top > ${shared}/events; read go < ${shared}/go-top; cat $dep $src $gate > $out" { inherit dep src gate; };
}`;
  const { client: root, nixRoot, drvs } = await clientWith(t.path, expr, ["top", "dep", "gate"]);
  const src = (await nix("nix-store", ["--store", nixRoot, "-q", "--references", drvs.top!]))
    .text.split("\n").find((p) => p.endsWith("-gc-src.txt"))!;
  const depOut = (await nix("nix-store", ["--store", nixRoot, "-q", "--outputs", drvs.dep!])).text;
  const topOut = (await nix("nix-store", ["--store", nixRoot, "-q", "--outputs", drvs.top!])).text;
  const gateOut = (await nix("nix-store", ["--store", nixRoot, "-q", "--outputs", drvs.gate!]))
    .text;
  // dep is built beforehand, by a process that has ended: nothing roots it
  const pre = await runBuildhost(["build", "--store", root, "--sandbox-paths", SANDBOX, drvs.dep!]);
  assert.equal(pre.code, 0, pre.stderr);
  // garbage nothing needs: a collection that removes nothing would prove nothing
  const junkStore = await Store.open(root);
  const junk = (await junkStore.addText("gc-junk.txt", "garbage\n")).path;
  junkStore.close();

  const hook = join(t.path, "hook");
  Deno.writeTextFileSync(
    hook,
    `#!/bin/sh\ncase "$DRV_PATH" in *-gc-top.drv) echo hook > ${shared}/events; read go < ${shared}/go-hook;; esac\n`,
    { mode: 0o755 },
  );
  const build = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "build",
      "--store",
      root,
      "--sandbox-paths",
      `${SANDBOX} ${shared}`,
      drvs.top!,
    ],
    env: { ...Deno.env.toObject(), NIX_CONFIG: `${NIX_CONFIG}\npost-build-hook = ${hook}` },
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const out = new Growing(), err = new Growing();
  const done = Promise.all([follow(build.stdout, out), follow(build.stderr, err)]);
  try {
    // held while gate builds: top has not started, dep was found valid
    await Promise.race([fifos.until("gate"), build.status]);
    assert.deepEqual(fifos.seen.lines(), ["gate"], err.text);
    assert.deepEqual(await gc(root), [junk]);
    const before = await validPaths(root);
    for (const p of [src, depOut, drvs.top!, drvs.dep!, drvs.gate!]) {
      assert.ok(before.includes(p), p);
    }

    // held in top's builder: its inputs are in place
    fifos.go("gate");
    await Promise.race([fifos.until("top"), build.status]);
    assert.deepEqual(fifos.seen.lines(), ["gate", "top"], err.text);
    assert.deepEqual(await gc(root), []);
    const valid = await validPaths(root);
    for (const p of [src, depOut, gateOut]) assert.ok(valid.includes(p), p);

    // held in the post-build hook: its output is registered
    fifos.go("top");
    await Promise.race([fifos.until("hook"), build.status]);
    assert.deepEqual(fifos.seen.lines(), ["gate", "top", "hook"], err.text);
    assert.deepEqual(await gc(root), []);
    assert.ok((await validPaths(root)).includes(topOut));

    fifos.go("hook");
    const status = await build.status;
    await done;
    assert.equal(status.code, 0, err.text);
    assert.equal(out.text.trim(), topOut);
    assert.equal(Deno.readTextFileSync(join(root, topOut)), "dependency\na source\ngate\n");
  } finally {
    for (const f of ["gate", "top", "hook"]) fifos.go(f);
    try {
      build.kill("SIGKILL");
    } catch { /* ended */ }
    await build.status;
  }
  // the process gone, its roots go with it: everything is garbage now
  assert.deepEqual(
    (await gc(root)).sort(),
    [src, depOut, gateOut, topOut, drvs.top!, drvs.dep!, drvs.gate!].sort(),
  );
});
