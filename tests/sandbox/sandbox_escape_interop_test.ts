/**
 * The sandbox against builders that try to get out: the same derivations
 * built by real Nix 2.8 (chroot store, sandboxed) and by `runInSandbox`,
 * each attempt reported `allowed` or `denied`, compared line by line. Where
 * buildhost is stricter than Nix the difference is listed here and in
 * `docs/sandbox.md`; everything else must be the same.
 */
import assert from "node:assert/strict";
import { BUSYBOX_LET, NixFixture } from "../builder/_fixture.ts";
import { findProcesses } from "../../lib/sandbox/process_tree.ts";
import { OutputLocationError } from "../../lib/sandbox/output_location.ts";
import { tempDir } from "../_helpers/nix.ts";

const td = new TextDecoder();

/** Each attempt in a subshell; only whether it worked is printed. */
const ESCAPE_SH = String.raw`
t() { n=$1; shift; if ( "$@" ) >/dev/null 2>&1; then echo "$n: allowed"; else echo "$n: denied"; fi; }
t write-input-file sh -c 'chmod u+w $bb/bin/busybox-copy && echo x >> $bb/bin/busybox-copy'
t create-in-input sh -c 'chmod u+w $bb && touch $bb/new-file'
t create-in-store-dir sh -c 'touch /nix/store/new-file'
t host-loopback-tcp sh -c 'echo hi | nc 127.0.0.1 $port'
t host-network-interface sh -c 'ip link | grep -v " lo:" | grep -q "^[0-9]"'
t mount-tmpfs mount -t tmpfs none /tmp
t remount-store-rw mount -o remount,rw /nix/store
t bind-mount mount --bind /build /tmp
t unshare-mount-ns unshare -m true
t unshare-net-ns unshare -n true
t unshare-pid-ns unshare -p -f true
t unshare-user-then-mount unshare -U -r -m sh -c 'mount -t tmpfs none /tmp'
t chroot chroot / true
t mknod-char mknod /tmp/null c 1 3
t mknod-block mknod /tmp/sda b 8 0
t setuid-bit sh -c 'touch /tmp/s; chmod 4755 /tmp/s'
t setgid-bit sh -c 'touch /tmp/g; chmod 2755 /tmp/g'
t become-root sh -c '[ "$(id -u)" = 0 ]'
t set-hostname hostname evil
t write-proc-sys sh -c 'echo 1 > /proc/sys/kernel/ns_last_pid'
t sysrq sh -c 'echo h > /proc/sysrq-trigger'
t see-host-processes sh -c '[ $(ls -d /proc/[0-9]* | wc -l) -gt 20 ]'
t kill-init-of-host sh -c 'kill -0 $hostpid'
t nsenter-pid-1 nsenter -t 1 -m true
t read-host-etc sh -c 'cat /etc/shadow'
t host-root-via-proc sh -c 'ls /proc/1/root/usr/bin | grep -q .'
t load-module sh -c 'echo x > /sys/module/x 2>/dev/null || [ -w /sys ]'
# A daemon that ignores every catchable signal, in its own session.
( setsid sh -c 'trap "" TERM HUP INT; exec sleep 100000' $marker & ) >/dev/null 2>&1
echo done > $out
`;

function escapeNix(tag: string, port: number, marker: string, victim: string): string {
  return `${BUSYBOX_LET}
let bbCopy = builtins.path { path = ./bb; name = "busybox-copy"; }; in
{
  escape = derivation {
    name = "sandbox-escape-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" ./escape.sh ];
    bb = bbCopy;
    port = "${port}";
    hostpid = "${Deno.pid}";
    marker = "${marker}";
  };
  link = derivation {
    name = "sandbox-escape-link-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" "-c" "\${bb}/bin/busybox ln -s /etc $out" ];
  };
  renamedStore = derivation {
    name = "sandbox-escape-renamed-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" "-c" ''
      b=\${bb}/bin/busybox
      $b mkdir /tmp/keep && $b cp $b /tmp/keep/busybox
      exec /tmp/keep/busybox sh -c '
        b=/tmp/keep/busybox
        $b mv /nix /nix-moved && $b ln -s ${victim} /nix && echo renamed'
    '' ];
  };
}
`;
}

/**
 * Where buildhost denies what Nix 2.8 (run as root without build users,
 * the configuration the tests use) allows: its builder's uid maps to root,
 * so it can write to its input store paths; buildhost binds inputs
 * read-only.
 */
const STRICTER = new Set(["write-input-file", "create-in-input"]);

/**
 * Allowed by both, and harmless: a file in the sandbox's own store
 * directory (a directory of the sandbox root; the real store is untouched,
 * checked below), and a nested user namespace in which the builder is
 * "root" and may mount over its own view (it gains nothing outside).
 */
const CONFINED = new Set(["create-in-store-dir", "unshare-user-then-mount"]);

Deno.test("runInSandbox() denies every escape a builder tries, as Nix 2.8 does or stricter", async () => {
  using fx = new NixFixture();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const marker = `buildhost-escape-${crypto.randomUUID()}`;
  try {
    fx.write("escape.sh", ESCAPE_SH);
    // A second busybox input: the attempts write to it, not to the builder.
    Deno.copyFileSync(`${fx.root}/src/bb/bin/busybox`, `${fx.root}/src/bb/bin/busybox-copy`);
    fx.write(
      "escape.nix",
      escapeNix(crypto.randomUUID().slice(0, 8), listener.addr.port, marker, "/nonexistent"),
    );
    const drv = await fx.instantiate("escape.nix", "escape");
    const nixLog = td.decode(await fx.nixBuild(drv));
    assert.deepEqual(findProcesses(marker), [], "Nix left the daemon running");
    const ours = await fx.ourBuild(drv);
    assert.equal(ours.result.exitCode, 0);
    assert.deepEqual(findProcesses(marker), [], "buildhost left the daemon running");
    const lines = (log: string) => log.trim().split("\n");
    const nixLines = lines(nixLog);
    const ourLines = lines(td.decode(ours.log));
    assert.equal(ourLines.length, nixLines.length);
    for (const [i, ourLine] of ourLines.entries()) {
      const [name, verdict] = ourLine.split(": ");
      if (CONFINED.has(name!)) {
        assert.equal(ourLine, `${name}: allowed`);
        assert.equal(nixLines[i], ourLine);
        continue;
      }
      assert.equal(verdict, "denied", `buildhost allowed ${name}`);
      if (STRICTER.has(name!)) {
        assert.equal(nixLines[i], `${name}: allowed`, `Nix no longer allows ${name}`);
      } else {
        assert.equal(ourLine, nixLines[i]);
      }
    }
    // Nothing reached the host: no connection, inputs and store unchanged.
    const accepted = await Promise.race([
      listener.accept().then((c) => (c.close(), true)),
      new Promise<false>((r) => setTimeout(() => r(false), 100)),
    ]);
    assert.equal(accepted, false);
    const bbInput = drv.env.get("bb")!;
    assert.deepEqual(
      [...Deno.readDirSync(fx.store + bbInput + "/bin")].map((e) => e.name).sort(),
      ["busybox", "busybox-copy"],
    );
    assert.throws(() => Deno.lstatSync(`${fx.store}/nix/store/new-file`));
  } finally {
    listener.close();
  }
});

Deno.test("runInSandbox() moves an output that is a symlink to a host path as the symlink, as Nix does", async () => {
  using fx = new NixFixture();
  fx.write("escape.nix", escapeNix(crypto.randomUUID().slice(0, 8), 1, "m", "/nonexistent"));
  fx.write("escape.sh", ESCAPE_SH);
  const drv = await fx.instantiate("escape.nix", "link");
  await fx.nixBuild(drv);
  assert.equal(Deno.readLinkSync(fx.nixOutput(drv)), "/etc");
  const ours = await fx.ourBuild(drv);
  assert.equal(ours.result.exitCode, 0);
  assert.deepEqual(ours.result.outputs, [drv.outputs.get("out")]);
  const out = ours.outputs.get("out")!;
  assert.ok(Deno.lstatSync(out).isSymlink);
  assert.equal(Deno.readLinkSync(out), "/etc");
});

Deno.test("runInSandbox() does not move a host directory out through a /nix the builder replaced by a symlink", async () => {
  // Nix 2.8 moves `<host dir>/store/<output>` into its store here (the move
  // out of the sandbox root follows the builder's symlink); buildhost
  // refuses the output (`output_location.ts`).
  using fx = new NixFixture();
  using victim = tempDir("buildhost-victim-");
  fx.write("escape.sh", ESCAPE_SH);
  fx.write("escape.nix", escapeNix(crypto.randomUUID().slice(0, 8), 1, "m", victim.path));
  const drv = await fx.instantiate("escape.nix", "renamedStore");
  const outName = drv.outputs.get("out")!.slice("/nix/".length);
  Deno.mkdirSync(`${victim.path}/${outName}`, { recursive: true });
  Deno.writeTextFileSync(`${victim.path}/${outName}/secret`, "host secret\n");
  await assert.rejects(
    () => fx.ourBuild(drv),
    (e) => e instanceof OutputLocationError && e.component === "/nix",
  );
  assert.throws(() => Deno.lstatSync(`${fx.root}/ours-out`));
  assert.equal(Deno.readTextFileSync(`${victim.path}/${outName}/secret`), "host secret\n");
});
