/**
 * The installed launcher passing serve sessions (`ssh://`, `buildhost --serve
 * [--write]`) to the store's running `buildhost daemon` through the serve
 * relay, with real Nix 2.8 as the client: copies both ways, a read-only
 * session refusing a copy as `nix-store --serve` does, a remote build whose
 * log reaches Nix, a failing one with its log and Nix's error; the daemon
 * must have served each session. Then the two ways the launcher serves a
 * session itself: the daemon killed (its socket and pid file left), and a
 * pid file naming a live process that is no daemon (the relay finds no one
 * accepting and exits 75 having read nothing).
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import {
  nix,
  nixEnv,
  nixFails,
  pathWithDependency,
  remoteBuildArgs,
  tempDir,
} from "../_helpers/nix.ts";
import { type RunningDaemon, startDaemon } from "../_helpers/daemon.ts";
import { exists } from "../_helpers/fs.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const REPO = new URL("../../", import.meta.url).pathname;
const REMOTE = `ssh://remotehost?remote-program=${HELPERS}remote-buildhost`;

const EXPR = String.raw`
let
  mk = name: script: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; };
in {
  ok = mk "relayed-ok" "echo hello through the relay; echo built > $out";
  fail = mk "relayed-fail" "echo the relayed builder fails; exit 1";
}`;

/** buildhost installed from this checkout into `prefix`; its launcher. */
async function install(prefix: string): Promise<string> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", join(REPO, "scripts/install.ts"), "install"],
    env: { ...Deno.env.toObject(), PREFIX: prefix },
    stdout: "piped",
    stderr: "piped",
  }).output();
  assert.ok(out.success, new TextDecoder().decode(out.stderr));
  return join(prefix, "bin/buildhost");
}

/** Nix's environment: the stand-in ssh, the remote store, the installed launcher. */
function env(program: string, remote: string, readonly = false): Record<string, string> {
  return {
    PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`,
    BUILDHOST_TEST_REMOTE_STORE: remote,
    BUILDHOST_TEST_READONLY: readonly ? "1" : "0",
    BUILDHOST_PROGRAM: program,
  };
}

/** A path of its own in `store` (fresh contents). */
async function uniquePath(store: string, dir: string): Promise<string> {
  const file = join(dir, `unique-${crypto.randomUUID()}`);
  Deno.writeTextFileSync(file, `${file}\n`);
  return (await nix("nix-store", ["--store", store, "--add", file])).text;
}

async function verifyClean(store: string): Promise<void> {
  const v = await nix("nix-store", ["--store", store, "--verify", "--check-contents"]);
  assert.doesNotMatch(v.stderr, /error|corrupt|invalid/i);
}

function sessions(daemon: RunningDaemon, kind: string): number {
  return daemon.stderr().split("\n").filter((l) => l.endsWith(`started (${kind})`)).length;
}

Deno.test("serve sessions relayed to buildhost daemon: copies, a read-only refusal, builds with their logs", async () => {
  using tmp = tempDir();
  const program = await install(join(tmp.path, "prefix"));
  const client = join(tmp.path, "client");
  const remote = join(tmp.path, "remote");
  await using daemon = await startDaemon(remote, [], nixEnv(), [program]);

  const [dep, top] = await pathWithDependency(client);
  await nix("nix", ["copy", "--store", client, "--to", REMOTE, top], { env: env(program, remote) });
  await verifyClean(remote);
  const listed = await nix("nix-store", ["--store", remote, "-qR", top]);
  assert.deepEqual(listed.text.split("\n").sort(), [dep, top].sort());
  // 3 MiB of random bytes: many frames each way
  const bigFile = join(tmp.path, "big.bin");
  const bytes = new Uint8Array(3 << 20);
  for (let off = 0; off < bytes.length; off += 65536) {
    crypto.getRandomValues(bytes.subarray(off, off + 65536));
  }
  Deno.writeFileSync(bigFile, bytes);
  const big = (await nix("nix-store", ["--store", client, "--add", bigFile])).text;
  await nix("nix", ["copy", "--store", client, "--to", REMOTE, big], { env: env(program, remote) });
  const back = join(tmp.path, "back");
  await nix("nix", ["copy", "--store", back, "--no-check-sigs", "--from", REMOTE, top, big], {
    env: env(program, remote),
  });
  await verifyClean(back);
  assert.deepEqual(Deno.readFileSync(join(back, big)), bytes);

  // Without --write (the flag the relay passes on), a copy is refused, as by nix-store --serve.
  const other = await uniquePath(client, tmp.path);
  await nixFails("nix", ["copy", "--store", client, "--to", REMOTE, other], {
    env: env(program, remote, true),
  });
  assert.ok(!exists(join(remote, other)));

  const file = join(tmp.path, "builds.nix");
  Deno.writeTextFileSync(file, EXPR);
  const build = (attr: string) => remoteBuildArgs(client, file, attr, `${REMOTE} x86_64-linux`);
  const ok = await nix("nix-build", build("ok"), { env: env(program, remote) });
  assert.match(ok.stderr, /hello through the relay\n/);
  assert.equal(Deno.readTextFileSync(join(client, ok.text)), "built\n");
  const failed = await nixFails("nix-build", build("fail"), { env: env(program, remote) });
  assert.match(failed, /the relayed builder fails\n/);
  assert.match(failed, /builder for '\/nix\/store\/\S+-relayed-fail\.drv' failed with exit code 1/);

  // two copies --to, copy --from (Nix 2.8 asks for --write there too), two builds; the refused copy
  await daemon.said(/session 6 ended/);
  assert.equal(sessions(daemon, "serve --write"), 5, daemon.stderr());
  assert.equal(sessions(daemon, "serve"), 1, daemon.stderr());
  assert.equal(await daemon.stop(), 0);
});

Deno.test("serve relay: with the daemon killed, or no daemon behind a live pid, the launcher serves the session itself", async () => {
  using tmp = tempDir();
  const program = await install(join(tmp.path, "prefix"));
  const client = join(tmp.path, "client");
  const remote = join(tmp.path, "remote");
  const daemon = await startDaemon(remote, [], nixEnv(), [program]);
  daemon.child.kill("SIGKILL");
  await daemon.stop();
  assert.ok(Deno.lstatSync(daemon.socket).isSocket);
  const first = await uniquePath(client, tmp.path);
  await nix("nix", ["copy", "--store", client, "--to", REMOTE, first], {
    env: env(program, remote),
  });
  assert.ok(exists(join(remote, first)));

  // A live process's pid beside the dead socket: the relay runs, finds no one, exits 75.
  const sleeper = new Deno.Command("sleep", { args: ["600"] }).spawn();
  try {
    Deno.writeTextFileSync(`${daemon.socket}.pid`, `${sleeper.pid}\n`);
    const second = await uniquePath(client, tmp.path);
    await nix("nix", ["copy", "--store", client, "--to", REMOTE, second], {
      env: env(program, remote),
    });
    assert.ok(exists(join(remote, second)));
    await verifyClean(remote);
  } finally {
    sleeper.kill();
    await sleeper.status;
  }
});
