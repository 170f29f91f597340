/**
 * Real Nix 2.8 as the client of an `ssh-ng://` store whose remote program is
 * buildhost (`buildhost --stdio`), and the same scenarios with Nix's own
 * `nix-daemon --stdio` as the remote program, so the test proves itself;
 * then once more with the remote store's `buildhost daemon` running, which
 * `buildhost --stdio` passes each session to (the daemon must have served
 * them). Nix runs `ssh-ng://localhost?remote-program=P&remote-store=R` as
 * `P --stdio --store R` itself, without ssh.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { nix, nixEnv, nixFails, remoteBuildArgs, tempDir } from "../_helpers/nix.ts";
import { type RunningDaemon, startDaemon } from "../_helpers/daemon.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const SCENARIOS = new URL("../../testdata/daemon/scenarios.nix", import.meta.url).pathname;

/** The remote programs: buildhost, and Nix's own daemon as the reference. */
const REMOTES = [
  { name: "buildhost", program: `${HELPERS}buildhost-cli`, daemon: false },
  { name: "nix-daemon", program: "nix-daemon", daemon: false },
  { name: "buildhost's daemon", program: `${HELPERS}buildhost-cli`, daemon: true },
];

/**
 * The remote store's daemon, for the remotes that have one; disposing it
 * checks that it served the sessions.
 */
async function remoteDaemon(
  remote: (typeof REMOTES)[number],
  store: string,
): Promise<AsyncDisposable> {
  if (!remote.daemon) return { [Symbol.asyncDispose]: async () => {} };
  const daemon: RunningDaemon = await startDaemon(store, [], nixEnv());
  return {
    [Symbol.asyncDispose]: async () => {
      await daemon.said(/session 1 ended\n/);
      assert.equal(await daemon.stop(), 0);
    },
  };
}

function url(program: string, remoteStore: string): string {
  return `ssh-ng://localhost?remote-program=${program}&remote-store=${remoteStore}`;
}

/** path-info JSON without registrationTime (it is the importer's clock). */
async function pathInfos(store: string, paths: string[]) {
  const list = JSON.parse(
    (await nix("nix", ["path-info", "--store", store, "--json", ...paths])).text,
  );
  return list.map((j: Record<string, unknown>) => (delete j.registrationTime, j));
}

async function evalPath(store: string, attr: string): Promise<string> {
  return (await nix("nix", ["eval", "--raw", "--store", store, "-f", SCENARIOS, attr])).text;
}

async function verifyClean(store: string): Promise<void> {
  const v = await nix("nix-store", ["--store", store, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid/i);
}

/**
 * `nix copy --to U` of the scenarios' closure (verified, path infos as the
 * client's), `nix path-info -r --store U`, then `nix store ping --store U`:
 * what the ping printed.
 */
async function copyQueryPing(client: string, remoteStore: string, u: string): Promise<string> {
  const top = await evalPath(client, "top");
  const dep = await evalPath(client, "dep");
  await nix("nix", ["copy", "--store", client, "--to", u, top]);
  await verifyClean(remoteStore);
  assert.deepEqual(await pathInfos(remoteStore, [dep, top]), await pathInfos(client, [dep, top]));
  const closure = (await nix("nix", ["path-info", "-r", "--store", u, top])).text.split("\n");
  assert.deepEqual(closure.sort(), [dep, top].sort());
  const ping = await nix("nix", ["store", "ping", "--store", u]);
  return ping.text + ping.stderr;
}

function drvFiles(store: string): string[] {
  return [...Deno.readDirSync(join(store, "nix/store"))]
    .map((e) => e.name)
    .filter((n) => n.endsWith(".drv"));
}

for (const remote of REMOTES) {
  Deno.test(`ssh-ng to ${remote.name}: nix copy --to, nix path-info, nix store ping, nix-store -q`, async () => {
    using tmp = tempDir();
    const client = join(tmp.path, "client");
    const remoteStore = join(tmp.path, "remote");
    await using _daemon = await remoteDaemon(remote, remoteStore);
    const u = url(remote.program, remoteStore);
    const ping = await copyQueryPing(client, remoteStore, u);
    assert.match(ping, /Store URL: ssh-ng:\/\/localhost/);
    const top = await evalPath(client, "top");
    const dep = await evalPath(client, "dep");
    const refs = await nix("nix-store", ["--store", u, "-q", "--references", top]);
    assert.equal(refs.text, dep);
  });

  Deno.test(`ssh-ng to ${remote.name}: nix copy --from a path only the remote has`, async () => {
    using tmp = tempDir();
    const seed = join(tmp.path, "seed");
    const remoteStore = join(tmp.path, "remote");
    await using _daemon = await remoteDaemon(remote, remoteStore);
    const client = join(tmp.path, "client");
    const u = url(remote.program, remoteStore);
    const top = await evalPath(seed, "fromTop");
    const dep = await evalPath(seed, "fromDep");
    await nix("nix", ["copy", "--store", seed, "--to", u, top]);
    await nix("nix", ["copy", "--store", client, "--no-check-sigs", "--from", u, top]);
    assert.deepEqual(await pathInfos(client, [dep, top]), await pathInfos(seed, [dep, top]));
    await verifyClean(client);
  });

  Deno.test(`ssh-ng to ${remote.name}: a remote build with a dependency, its log in Nix's output, no .drv on the host`, async () => {
    using tmp = tempDir();
    const client = join(tmp.path, "client");
    const remoteStore = join(tmp.path, "remote");
    await using _daemon = await remoteDaemon(remote, remoteStore);
    const u = url(remote.program, remoteStore);
    const out = await nix(
      "nix-build",
      remoteBuildArgs(client, SCENARIOS, "buildMain", `${u} x86_64-linux`),
    );
    assert.match(out.stderr, /daemon-build-dep: building\n/);
    assert.match(out.stderr, /daemon-build-main: reading \/nix\/store\/\S+-daemon-build-dep and /);
    assert.match(out.stderr, /daemon-build-main: stderr line\n/);
    assert.match(out.stderr, /building '\/nix\/store\/\S+-daemon-build-main\.drv'\.\.\./);
    const content = await Deno.readTextFile(join(client, out.text));
    assert.equal(
      content,
      "output of daemon-build-dep + source file of daemon-build-main\n",
    );
    assert.deepEqual(drvFiles(remoteStore), []);
    await verifyClean(remoteStore);
    await verifyClean(client);
  });

  Deno.test(`ssh-ng to ${remote.name}: a failing remote build shows its log and Nix's error`, async () => {
    using tmp = tempDir();
    const client = join(tmp.path, "client");
    const remoteStore = join(tmp.path, "remote");
    await using _daemon = await remoteDaemon(remote, remoteStore);
    const u = url(remote.program, remoteStore);
    const err = await nixFails(
      "nix-build",
      remoteBuildArgs(client, SCENARIOS, "fail", `${u} x86_64-linux`),
    );
    assert.match(err, /daemon-build-fail: about to fail\n/);
    assert.match(
      err,
      /failed: builder for '\/nix\/store\/\S+-daemon-build-fail\.drv' failed with exit code 1;\n\s+last 1 log lines:\n\s+> daemon-build-fail: about to fail\n/,
    );
    assert.deepEqual(drvFiles(remoteStore), []);
  });
}

Deno.test("buildhost daemon as a local daemon: real Nix with --store unix://SOCKET copies, queries and pings", async () => {
  using tmp = tempDir();
  const client = join(tmp.path, "client");
  const remoteStore = join(tmp.path, "remote");
  await using daemon = await startDaemon(remoteStore, [], nixEnv());
  const ping = await copyQueryPing(client, remoteStore, `unix://${daemon.socket}`);
  assert.match(ping, /Version: buildhost /);
  await daemon.said(/session 3 ended\n/); // copy, path-info, ping
});
