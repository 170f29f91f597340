/**
 * Bit-identity with Nix 2.8's sandbox: the same derivation, whose builder
 * (busybox sh) writes its view of the sandbox into its output, built by
 * real Nix (chroot store, so sandboxed) and by `runInSandbox` with the same
 * physical paths (root `<store>/<drv>.chroot`, build directory
 * `$TMPDIR/nix-build-<drv>-0`); outputs and logs compared byte for byte,
 * after renumbering what differs between two runs of Nix itself (mount ids,
 * peer groups, anonymous device numbers, pty numbers; see `_probe.ts`).
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { BUSYBOX_LET, NixFixture } from "../builder/_fixture.ts";
import { normalise, PROBE_SH } from "./_probe.ts";

const td = new TextDecoder();

function probeNix(tag: string): string {
  const fixedHash = createHash("sha256").update("fixed\n").digest("hex");
  return `${BUSYBOX_LET}
{
  probe = derivation {
    name = "sandbox-probe-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" ./probe.sh ];
    passAsFile = [ "big" "other" ];
    big = "line1\\nline2 \${builtins.placeholder "out"}";
    other = "x";
    ph = builtins.placeholder "out";
    TERM = "dumb";
    PATH = "/custom";
  };
  structured = derivation {
    name = "sandbox-probe-structured-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" "-c" ''
      out=$(sed -n 's/.*"out":"\\([^"]*\\)".*/\\1/p' .attrs.json)
      dev=$(sed -n 's/.*"dev":"\\([^"]*\\)".*/\\1/p' .attrs.json)
      mkdir $dev
      sh \${./probe.sh} $out
    '' ];
    __structuredAttrs = true;
    outputs = [ "out" "dev" ];
    str = "hello \\"world\\"\\n\\ttab $x \`y\` 'q' \\\\ é";
    num = 42; flt = 1.5; neg = -3; big = 12345678901234; whole = 3.0; huge = 1234567.0;
    t = true; f = false; n = null;
    list = [ "a" 1 "b c" ];
    attrs = { x = 1; y = "z"; };
    nested = { l = [ 1 ]; };
    emptyl = []; emptya = {};
    "weird-name" = "v"; _ok_1 = "v2";
    p = builtins.placeholder "dev";
  };
  fod = derivation {
    name = "sandbox-probe-fod-${tag}";
    system = builtins.currentSystem;
    builder = "\${bb}/bin/busybox";
    args = [ "sh" "-c" "sh \${./probe.sh} /build/p; cat /build/p; echo fixed > $out" ];
    outputHashMode = "flat";
    outputHashAlgo = "sha256";
    outputHash = "${fixedHash}";
    impureEnvVars = [ "BUILDHOST_TEST_UNSET_VARIABLE" ];
  };
}
`;
}

function setUp(fx: NixFixture): void {
  fx.write("probe.sh", PROBE_SH);
  fx.write("probe.nix", probeNix(crypto.randomUUID().slice(0, 8)));
}

Deno.test("runInSandbox() shows the builder exactly what Nix 2.8's sandbox shows", async () => {
  using fx = new NixFixture();
  setUp(fx);
  const drv = await fx.instantiate("probe.nix", "probe");
  const nixLog = await fx.nixBuild(drv);
  const nixOut = Deno.readTextFileSync(fx.nixOutput(drv));
  const ours = await fx.ourBuild(drv, { readOnlyInputs: false });
  assert.equal(ours.result.reason, "exited");
  assert.equal(ours.result.exitCode, 0);
  assert.deepEqual(ours.result.outputs, [drv.outputs.get("out")]);
  const ourOut = Deno.readTextFileSync(ours.outputs.get("out")!);
  assert.equal(normalise(ourOut), normalise(nixOut));
  assert.equal(td.decode(ours.log), td.decode(nixLog));
});

Deno.test("runInSandbox() matches Nix 2.8 for structured attributes", async () => {
  using fx = new NixFixture();
  setUp(fx);
  const drv = await fx.instantiate("probe.nix", "structured");
  const nixLog = await fx.nixBuild(drv);
  const nixOut = Deno.readTextFileSync(fx.nixOutput(drv));
  const ours = await fx.ourBuild(drv, { readOnlyInputs: false });
  assert.equal(ours.result.exitCode, 0);
  assert.equal(ours.result.outputs.length, 2);
  const ourOut = Deno.readTextFileSync(ours.outputs.get("out")!);
  assert.equal(normalise(ourOut), normalise(nixOut));
  assert.equal(td.decode(ours.log), td.decode(nixLog));
});

Deno.test("runInSandbox() matches Nix 2.8 for a fixed-output derivation (network)", async () => {
  using fx = new NixFixture();
  setUp(fx);
  const drv = await fx.instantiate("probe.nix", "fod");
  const nixLog = await fx.nixBuild(drv);
  const ours = await fx.ourBuild(drv, { readOnlyInputs: false });
  assert.equal(ours.result.exitCode, 0);
  assert.equal(normalise(td.decode(ours.log)), normalise(td.decode(nixLog)));
  assert.equal(Deno.readTextFileSync(ours.outputs.get("out")!), "fixed\n");
});

Deno.test("runInSandbox() matches Nix 2.8 with sandbox paths (nested, renamed, optional)", async () => {
  using fx = new NixFixture();
  setUp(fx);
  const drv = await fx.instantiate("probe.nix", "probe");
  await fx.nixBuild(
    drv,
    "extra-sandbox-paths = /usr /bin /etc/ssl=/usr/share/doc/busybox-static /nonexistent?",
  );
  const nixOut = Deno.readTextFileSync(fx.nixOutput(drv));
  const ours = await fx.ourBuild(drv, {
    readOnlyInputs: false,
    sandboxPaths: [
      { target: "/usr", source: "/usr" },
      { target: "/bin", source: "/bin" },
      { target: "/etc/ssl", source: "/usr/share/doc/busybox-static" },
      { target: "/nonexistent", source: "/nonexistent", optional: true },
    ],
  });
  assert.equal(ours.result.exitCode, 0);
  const ourOut = Deno.readTextFileSync(ours.outputs.get("out")!);
  assert.match(ourOut, / \/usr\/share\/doc\/busybox-static \/etc\/ssl rw,relatime /);
  assert.equal(normalise(ourOut), normalise(nixOut));
});

Deno.test("runInSandbox() read-only inputs differ from Nix only in the mount flags", async () => {
  using fx = new NixFixture();
  setUp(fx);
  const drv = await fx.instantiate("probe.nix", "probe");
  await fx.nixBuild(drv);
  const nixOut = normalise(Deno.readTextFileSync(fx.nixOutput(drv)));
  const ours = await fx.ourBuild(drv); // readOnlyInputs: true (the default)
  assert.equal(ours.result.exitCode, 0);
  const ourOut = normalise(Deno.readTextFileSync(ours.outputs.get("out")!));
  // Expected differences: input store paths are read-only binds, so the
  // file input (the probe script) is bound, not hard-linked: link count 1,
  // an extra mount line; and the bound inputs say "ro".
  // Mount ids shift by the extra mount; compare mount lines without them.
  const lines = (t: string) => t.split("\n").map((l) => l.replace(/^M\d+ (M\d+|PARENT) /, ""));
  const expect = lines(nixOut);
  const got = lines(ourOut);
  const onlyNix = expect.filter((l) => !got.includes(l));
  const onlyOurs = got.filter((l) => !expect.includes(l));
  for (const l of onlyNix) {
    assert.match(l, /-busybox |-probe\.sh|probe.sh/, `unexpected difference (Nix): ${l}`);
  }
  for (const l of onlyOurs) {
    assert.match(l, /-busybox |-probe\.sh/, `unexpected difference (ours): ${l}`);
  }
  assert.ok(onlyOurs.some((l) => /-busybox \/nix\/store\/\S+-busybox ro,relatime /.test(l)));
  assert.ok(onlyOurs.some((l) => /-probe\.sh \/nix\/store\/\S+-probe\.sh ro,relatime /.test(l)));
  assert.ok(onlyOurs.some((l) => /^-r--r--r-- 1 .*-probe\.sh$/.test(l)));
  assert.ok(onlyNix.some((l) => /^-r--r--r-- 2 .*-probe\.sh$/.test(l)));
});
