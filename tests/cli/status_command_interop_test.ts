/**
 * `buildhost status` against real Nix 2.8 clients building through a
 * buildhost serve host (`ssh://`) and daemon host (`ssh-ng://`): a build
 * shows in `status --json` while it runs, then as a recent build; each
 * host keeps the build's log in Nix's layout, which `buildhost log` and
 * `nix log --store` read. A local build (the builder in this process) is
 * recorded too.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { existsSync } from "node:fs";
import { nix, NIX_CONFIG, tempDir } from "../_helpers/nix.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import type { HostStatus } from "../../lib/cli/host_status.ts";
import { buildLogPath } from "../../lib/store/build_log.ts";
import { Builder, type SandboxRunner } from "../../lib/builder/builder.ts";
import { BuildStatus } from "../../lib/derivation/build_result.ts";
import { parseDerivation } from "../../lib/derivation/aterm.ts";
import { Store } from "../../lib/store/store.ts";

const CLI = new URL("../_helpers/buildhost-cli", import.meta.url).pathname;
const GATED = new URL("../../testdata/status/gated.nix", import.meta.url).pathname;

const HOSTS = [
  {
    kind: "serve",
    url: (store: string) => `ssh://localhost?remote-program=${CLI}&remote-store=${store}`,
  },
  {
    kind: "daemon",
    url: (store: string) => `ssh-ng://localhost?remote-program=${CLI}&remote-store=${store}`,
  },
];

async function statusJson(store: string): Promise<HostStatus> {
  const run = await runBuildhost(["status", "--json", "--store", store]);
  assert.equal(run.code, 0, run.stderr);
  return JSON.parse(run.stdout);
}

for (const host of HOSTS) {
  Deno.test(`status: a build through a ${host.kind} host shows running while it runs, then Built; its log is kept for buildhost log and nix log`, async () => {
    using t = tempDir();
    const client = join(t.path, "client");
    const remote = join(t.path, "remote");
    const gate = join(t.path, "gate");
    Deno.mkdirSync(gate, { mode: 0o755 });
    Deno.chmodSync(t.path, 0o755);
    const env = { NIX_CONFIG: `${NIX_CONFIG}\nextra-sandbox-paths = /gate=${gate}` };
    const tag = ["--argstr", "tag", `${host.kind}-${crypto.randomUUID()}`];
    const drv =
      (await nix("nix-instantiate", ["--store", client, GATED, "-A", "gated", ...tag], { env }))
        .text;
    const building = nix("nix-build", [
      "--store",
      client,
      GATED,
      "-A",
      "gated",
      ...tag,
      "--no-out-link",
      "--max-jobs",
      "0",
      "--builders",
      `${host.url(remote)} x86_64-linux`,
      "--option",
      "builders-use-substitutes",
      "false",
    ], { env });
    let ended = false;
    const done = building.finally(() => ended = true);
    done.catch(() => {}); // awaited below; a failure is reported there
    let seen: HostStatus | undefined;
    while (!seen) {
      assert.ok(!ended, "the build ended before status showed it running");
      if (existsSync(join(remote, "nix/var/nix/db"))) {
        const s = await statusJson(remote);
        if (s.running.some((b) => b.drvPath === drv && b.logTail.length > 0)) seen = s;
      }
    }
    const running = seen.running.find((b) => b.drvPath === drv)!;
    assert.equal(running.state, "running");
    assert.equal(running.session.kind, host.kind);
    assert.ok(running.outputs.length === 1 && running.outputs[0]!.endsWith("-status-gated"));
    assert.ok(
      running.logTail.includes("status-gated: waiting for the gate"),
      running.logTail.join("|"),
    );
    assert.equal(seen.slots.used, 1);
    assert.ok(seen.sessions.some((s) => s.kind === host.kind));
    const text = await runBuildhost(["status", "--store", remote]);
    assert.match(text.stdout, /build slots: 1 of \d+ in use/);
    assert.ok(text.stdout.includes(`  ${drv} (running for `), text.stdout);

    Deno.writeTextFileSync(join(gate, "go"), "");
    const out = await done;
    assert.equal(Deno.readTextFileSync(join(client, out.text)), "done\n");

    const after = await statusJson(remote);
    assert.deepEqual(after.running, []);
    assert.equal(after.slots.used, 0);
    assert.equal(after.recent[0]!.drvPath, drv);
    assert.equal(after.recent[0]!.status, "Built");
    assert.equal(after.counters.builds.Built, 1);
    assert.ok(after.counters.bytesReceived > 0 && after.counters.bytesSent > 0);
    assert.ok(after.counters.sessions >= 1);
    assert.ok(after.store.paths >= 1 && after.store.sizeBytes > 0);

    // the host kept the log where Nix keeps it, compressed as Nix does
    const logFile = buildLogPath(join(remote, "nix/var/log/nix"), drv) + ".bz2";
    assert.ok(existsSync(logFile), logFile);
    const ours = await runBuildhost(["log", "--store", remote, drv]);
    assert.equal(ours.stdout, "status-gated: waiting for the gate\nstatus-gated: through\n");
    // Nix finds it through the output's deriver (the .drv never reaches the host)
    const nixLog = await nix("nix", ["log", "--store", remote, out.text]);
    assert.equal(nixLog.text + "\n", ours.stdout);
  });
}

Deno.test("status: a local build (the builder in this process) shows waiting for its output's lock, running while it runs, then with its status", async () => {
  using t = tempDir();
  const nixRoot = join(t.path, "nix");
  const tag = ["--argstr", "tag", crypto.randomUUID()];
  const drvPath =
    (await nix("nix-instantiate", ["--store", nixRoot, GATED, "-A", "quick", ...tag])).text;
  const drv = parseDerivation(Deno.readFileSync(join(nixRoot, drvPath)), { path: drvPath });
  const root = join(t.path, "ours");
  const store = await Store.open(root);
  try {
    // another build of the same output holds its lock: this one waits
    const out = drv.outputs.get("out")!;
    assert.ok(out.kind === "inputAddressed");
    const held = await store.lockPath(out.path);
    let waiting: HostStatus | undefined;
    let during: HostStatus | undefined;
    const runner: SandboxRunner = async (spec) => {
      spec.log(new TextEncoder().encode("a local build: halfway\n"));
      during = await statusJson(root);
      Deno.writeTextFileSync(spec.outputs[0]!.physical, "quick\n");
      return { kind: "exited", code: 0 };
    };
    const building = new Builder(store, runner).build(drvPath, drv);
    while (!waiting) {
      const s = await statusJson(root);
      if (s.waiting.some((b) => b.drvPath === drvPath)) waiting = s;
    }
    assert.deepEqual(waiting.running, []);
    assert.equal(waiting.slots.used, 0);
    held.release();
    const result = await building;
    assert.equal(result.status, BuildStatus.Built);
    assert.equal(during?.running.length, 1);
    assert.equal(during.running[0]!.drvPath, drvPath);
    assert.equal(during.running[0]!.session.kind, "local");
    assert.equal(during.running[0]!.session.pid, Deno.pid);
    assert.deepEqual(during.running[0]!.outputs, [out.path]);
    assert.deepEqual(during.waiting, []);
    assert.equal(during.slots.used, 1);
    assert.deepEqual(during.recent, []);

    const failing: SandboxRunner = () => Promise.resolve({ kind: "exited", code: 2 });
    const other =
      (await nix("nix-instantiate", ["--store", nixRoot, GATED, "-A", "broken", ...tag])).text;
    const otherDrv = parseDerivation(Deno.readFileSync(join(nixRoot, other)), { path: other });
    assert.equal(
      (await new Builder(store, failing).build(other, otherDrv)).status,
      BuildStatus.PermanentFailure,
    );

    const after = await statusJson(root);
    assert.deepEqual(after.running, []);
    assert.deepEqual(after.recent.map((b) => [b.drvPath, b.status]), [
      [other, "PermanentFailure"],
      [drvPath, "Built"],
    ]);
    assert.match(after.recent[0]!.errorMsg, /^builder for '.*' failed with exit code 2$/);
    assert.deepEqual(after.counters.builds, { Built: 1, PermanentFailure: 1 });
  } finally {
    store.close();
  }
});
