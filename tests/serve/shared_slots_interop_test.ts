/**
 * Host-wide build slots with real Nix 2.8 clients: two `nix-build`s, one
 * through `ssh://` (a `buildhost --serve` session) and one through
 * `ssh-ng://` (a `buildhost --stdio` session), build at once on one host
 * store with `max-jobs = 1`. Each build reports its start and end through a
 * FIFO the host's sandbox can see and waits for the test's go: the first
 * is held until the second's client has been told it waits, so the order
 * of events proves the builds never overlapped (without slots the second
 * would start while the first is held). And a client that gives up while
 * its build waits for a slot leaves nothing on the host.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { NIX_CONFIG, nixEnv, remoteBuildArgs, tempDir } from "../_helpers/nix.ts";
import { FifoEvents, follow, Growing, guard } from "../_helpers/fifo_events.ts";
import { buildhostHost, clientWith, PRELUDE, processesWith, sshEnv } from "../remote/_hosts.ts";
import { BuildSlots, buildSlotsDir } from "../../lib/store/build_slots.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;
const MAIN = new URL("../../main.ts", import.meta.url).pathname;
const WAITING = `waiting for a build slot on ${Deno.hostname()}`;

/** The names in a directory (none when it does not exist). */
function entries(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].map((e) => e.name);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
}

Deno.test("two Nix clients (ssh:// to buildhost --serve, ssh-ng:// to buildhost --stdio) share one host's max-jobs = 1: one build waits, told so, until the other ends", async () => {
  using t = tempDir();
  const shared = join(t.path, "shared");
  await using fifos = new FifoEvents(shared, ["a", "b"]);
  // The host: buildhost on one store, max-jobs = 1, the FIFOs visible in its sandbox.
  const remote = join(t.path, "remote"), host = join(t.path, "host");
  Deno.writeTextFileSync(
    host,
    `#!/bin/sh\nexport NIX_CONFIG='${NIX_CONFIG}\nmax-jobs = 1\nextra-sandbox-paths = ${shared}'\n` +
      `exec "${Deno.execPath()}" run -A "${MAIN}" --store "${remote}" "$@"\n`,
    { mode: 0o755 },
  );
  const file = join(t.path, "slots.nix");
  Deno.writeTextFileSync(
    file,
    `let mk = name: derivation { inherit name; system = "x86_64-linux"; builder = "/bin/sh";
  args = [ "-c" "echo start \${name} > ${shared}/events; read go < ${shared}/go-\${name}; echo end \${name} > ${shared}/events; echo \${name} > $out" ]; };
in { a = mk "a"; b = mk "b"; }`,
  );
  const nixBuild = (client: string, attr: string, builder: string) =>
    new Deno.Command("nix-build", {
      args: remoteBuildArgs(join(t.path, client), file, attr, `${builder} x86_64-linux`),
      env: nixEnv({ PATH: `${HELPERS}bin:${Deno.env.get("PATH")}` }),
      stdout: "piped",
      stderr: "piped",
    }).spawn();

  const lines = () => fifos.seen.lines();
  const children: Deno.ChildProcess[] = [];
  try {
    const a = nixBuild("client-a", "a", `ssh://remotehost?remote-program=${host}`);
    children.push(a);
    const aOut = new Growing(), aErr = new Growing();
    const aDone = Promise.all([follow(a.stdout, aOut), follow(a.stderr, aErr)]);
    await Promise.race([fifos.until("start a"), a.status]);
    assert.deepEqual(lines(), ["start a"], aErr.text);

    const b = nixBuild("client-b", "b", `ssh-ng://localhost?remote-program=${host}`);
    children.push(b);
    const bOut = new Growing(), bErr = new Growing();
    const bDone = Promise.all([follow(b.stdout, bOut), follow(b.stderr, bErr)]);
    // b's client is told it waits, or (without slots) b starts beside a
    await guard(
      Promise.race([bErr.until((s) => s.includes(WAITING)), fifos.until("start b"), b.status]),
      "b to wait or to start",
    );
    assert.deepEqual(lines(), ["start a"], bErr.text);
    assert.ok(bErr.text.includes(WAITING), bErr.text);

    fifos.go("a");
    await Promise.race([fifos.until("start b"), b.status]);
    fifos.go("b");
    const [aStatus, bStatus] = [await a.status, await b.status];
    await Promise.all([aDone, bDone]);
    assert.ok(aStatus.success, aErr.text);
    assert.ok(bStatus.success, bErr.text);
    await fifos.until("end b");
    assert.deepEqual(lines(), ["start a", "end a", "start b", "end b"]);
    // told once, and only the one that waited
    assert.equal(bErr.text.split(WAITING).length - 1, 1, bErr.text);
    assert.ok(!aErr.text.includes(WAITING), aErr.text);
    const aPath = aOut.text.trim(), bPath = bOut.text.trim();
    assert.equal(Deno.readTextFileSync(join(t.path, "client-a", aPath)), "a\n");
    assert.equal(Deno.readTextFileSync(join(t.path, "client-b", bPath)), "b\n");
  } finally {
    // Never leave a build blocked on its FIFO (disposing fifos lets them go, too).
    fifos.go("a");
    fifos.go("b");
    for (const c of children) {
      try {
        c.kill("SIGKILL");
      } catch { /* ended */ }
      await c.status;
    }
  }
});

Deno.test("a build waiting for a slot on a buildhost host is cancelled when its client is interrupted, leaving nothing behind", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    `let ${PRELUDE}\nin { one = mk "slot-wait" "echo built > $out" {}; }`,
    ["one"],
  );
  const a = buildhostHost(t.path, "hostA");
  const env = { ...sshEnv(), NIX_CONFIG: `${NIX_CONFIG}\nmax-jobs = 1` };
  const slots = new BuildSlots(buildSlotsDir(join(a.root, "nix/var/nix")), 1);
  const held = await slots.acquire(); // the host's only slot, taken by someone else
  const build = () => {
    const child = new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        MAIN,
        "build",
        "--store",
        client,
        "--builders",
        `${a.uri} x86_64-linux - 1 1`,
        drvs.one!,
      ],
      env,
      stdout: "piped",
      stderr: "piped",
    }).spawn();
    const out = new Growing(), err = new Growing();
    const done = Promise.all([follow(child.stdout, out), follow(child.stderr, err)]);
    return { child, out, err, done };
  };
  const first = build();
  try {
    await guard(
      Promise.race([first.err.until((s) => s.includes(WAITING)), first.child.status]),
      "the waiting message",
    );
    assert.match(first.err.text, new RegExp(`\\[slot-wait@hostA\\] ${WAITING}`));
    first.child.kill("SIGINT");
    const status = await first.child.status;
    await first.done;
    assert.equal(status.code, 130, first.err.text);
    assert.match(first.err.text, /cancelled: building '[^']*slot-wait\.drv' on 'ssh:\/\/hostA/);
  } finally {
    try {
      first.child.kill("SIGKILL");
    } catch { /* ended */ }
    await first.child.status;
    held.release();
  }
  // the host's session is gone, and with it everything of the build
  assert.deepEqual(processesWith(a.root), []);
  assert.equal(slots.inUse(), 0);
  assert.deepEqual(entries(join(a.root, "nix/store")).filter((n) => n.endsWith(".lock")), []);
  assert.deepEqual(entries(join(a.root, "nix/var/nix/builds")), []);
  assert.deepEqual(entries(join(a.root, "nix/var/nix/temproots")), []);
  // the slot free, the same build now runs
  const again = build();
  const status = await again.child.status;
  await again.done;
  assert.equal(status.code, 0, again.err.text);
  assert.ok(!again.err.text.includes(WAITING), again.err.text);
  assert.equal(Deno.readTextFileSync(join(client, again.out.text.trim())), "built\n");
});
