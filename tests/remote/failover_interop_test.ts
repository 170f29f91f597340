/**
 * The client survives its hosts: a host killed or stopped mid-build loses
 * the build to another host (a real `nix-store --serve --write`), whose
 * output comes back valid; a lone host lost once is tried again after a
 * back-off; a build that fails on its merits is not tried again; the logs
 * are labelled with the host and kept where `buildhost log` and Nix's
 * `nix log` find them, on the client and on a buildhost host.
 */
import assert from "node:assert/strict";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import {
  buildhostHost,
  clientWith,
  nixStoreHost,
  PRELUDE,
  processesWith,
  sshEnv,
  ticking,
  validIn,
} from "./_hosts.ts";

const expr = (body: string) => `let ${PRELUDE}\nin {\n${body}\n}`;

Deno.test("buildhost build --builders: a host killed mid-build loses it to the other, whose output is valid", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    expr(`slow = ${ticking("failover-killed", 6)};`),
    ["slow"],
  );
  const a = buildhostHost(t.path, "hostA", { signal: "KILL", after: 3 });
  const b = nixStoreHost(t.path, "hostB");
  const r = await runBuildhost([
    "build",
    "--store",
    client,
    "--builders",
    `${a.uri} x86_64-linux - 1 9; ${b.uri} x86_64-linux - 1 1`,
    drvs.slow!,
  ], { env: sshEnv() });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim();
  assert.match(r.stderr, /\[failover-killed@hostA\] tick 1\n/);
  assert.match(r.stderr, /warning: lost 'ssh:\/\/hostA[^']*' building '[^']*failover-killed\.drv'/);
  assert.match(
    r.stderr,
    /building '[^']*failover-killed\.drv' on 'ssh:\/\/hostB[^']*' \(attempt 2\)/,
  );
  assert.match(r.stderr, /\[failover-killed@hostB\] tick 6\n/);
  // built by hostB (nix-store), not registered on hostA, valid here
  assert.ok(await validIn(b.root, out), "hostB has the output");
  assert.ok(!(await validIn(a.root, out)), "hostA registered a killed build's output");
  assert.ok(await validIn(client, out));
  assert.equal(Deno.readTextFileSync(`${client}${out}`), "failover-killed\n");
  const v = await runBuildhost(["store", "verify", "--check-contents", "--store", client]);
  assert.equal(v.code, 0, v.stderr);
  // the kept log, read by buildhost and by Nix, through the output's deriver
  const log = await runBuildhost(["log", "--store", client, out]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, /^tick 1\n[\s\S]*tick 6\n/);
  const nixLog = await nix("nix", ["log", "--store", client, out]);
  assert.match(nixLog.text, /tick 1\n[\s\S]*tick 6/);
  assert.deepEqual(processesWith(a.root), [], "a process of hostA is left");
});

Deno.test("buildhost build --builders: a host stopped mid-build is found silent by --host-timeout and its build goes elsewhere", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    expr(`slow = ${ticking("failover-stopped", 8)};`),
    ["slow"],
  );
  const a = buildhostHost(t.path, "hostA", { signal: "STOP", after: 2 });
  const b = nixStoreHost(t.path, "hostB");
  const r = await runBuildhost([
    "build",
    "--store",
    client,
    "--host-timeout",
    "4",
    "--builders",
    `${a.uri} x86_64-linux - 1 9; ${b.uri} x86_64-linux - 1 1`,
    drvs.slow!,
  ], { env: sshEnv() });
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim();
  assert.match(
    r.stderr,
    /lost 'ssh:\/\/hostA[^']*' .*: cannot keep the session: it sent nothing for 4 seconds/,
  );
  assert.ok(await validIn(b.root, out));
  assert.ok(!(await validIn(a.root, out)));
  assert.equal(Deno.readTextFileSync(`${client}${out}`), "failover-stopped\n");
  assert.deepEqual(processesWith(a.root), [], "the stopped host was not killed");
});

Deno.test("buildhost build --builders: a lone host lost once is tried again after a back-off, and keeps the log of its build", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    expr(`slow = ${ticking("failover-alone", 3)};`),
    ["slow"],
  );
  const a = buildhostHost(t.path, "hostA", { signal: "KILL", after: 1 });
  const r = await runBuildhost(
    ["build", "--store", client, "--builders", `${a.uri} x86_64-linux - 1 1`, drvs.slow!],
    { env: sshEnv() },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim();
  assert.match(
    r.stderr,
    /building '[^']*failover-alone\.drv' on 'ssh:\/\/hostA[^']*' \(attempt 2\)/,
  );
  assert.ok(await validIn(a.root, out));
  assert.ok(await validIn(client, out));
  // the host kept the log of its build, keyed by the .drv path the client sent
  const hostLog = await runBuildhost(["log", "--store", a.root, drvs.slow!]);
  assert.equal(hostLog.code, 0, hostLog.stderr);
  assert.equal(hostLog.stdout, "tick 1\ntick 2\ntick 3\n");
  // Nix reads it through the output's deriver (the host has no .drv)
  const nixLog = await nix("nix", ["log", "--store", a.root, out]);
  assert.equal(nixLog.text, "tick 1\ntick 2\ntick 3");
});

Deno.test("buildhost build --builders: a build failing on its merits is not tried again; unreachable hosts run out of attempts", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    expr(`bad = mk "failover-bad" "echo failing on purpose; exit 3" {};
      good = mk "failover-good" "echo good > $out" {};`),
    ["bad", "good"],
  );
  const a = buildhostHost(t.path, "hostA");
  const b = nixStoreHost(t.path, "hostB");
  const r = await runBuildhost([
    "build",
    "--store",
    client,
    "--builders",
    `${a.uri} x86_64-linux - 1 9; ${b.uri} x86_64-linux - 1 1`,
    drvs.bad!,
  ], { env: sshEnv() });
  assert.equal(r.code, 1);
  assert.match(r.stderr, /\[failover-bad@hostA\] failing on purpose\n/);
  assert.match(r.stderr, /PermanentFailure: .*failover-bad\.drv.*failed with exit code 3/);
  assert.equal(r.stderr.match(/building '[^']*failover-bad\.drv' on/g)?.length, 1, r.stderr);
  assert.doesNotMatch(r.stderr, /hostB|lost/);
  // its log is kept even so
  const log = await runBuildhost(["log", "--store", client, drvs.bad!]);
  assert.equal(log.stdout, "failing on purpose\n");

  const dead = "ssh://deadhost?remote-program=/nonexistent/buildhost x86_64-linux - 1 1";
  const none = await runBuildhost(
    ["build", "--store", client, "--max-attempts", "2", "--builders", dead, drvs.good!],
    { env: sshEnv() },
  );
  assert.equal(none.code, 1);
  assert.match(
    none.stderr,
    /cannot build '[^']*failover-good\.drv': its build machines were lost 2 time\(s\): attempt 1 on 'ssh:\/\/deadhost[^']*': cannot open a serve session: [^;]*; attempt 2 on 'ssh:\/\/deadhost/,
  );
});

Deno.test("buildhost build --host-timeout: a buildhost host beats during a silent build, a nix-store host cannot", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(
    t.path,
    expr(`quiet = mk "failover-quiet" "sleep 9; echo quiet > $out" {};`),
    ["quiet"],
  );
  const a = buildhostHost(t.path, "hostA"), b = nixStoreHost(t.path, "hostB");
  const build = (uri: string) =>
    runBuildhost([
      "build",
      "--store",
      client,
      "--host-timeout",
      "4",
      "--max-attempts",
      "1",
      "--builders",
      `${uri} x86_64-linux - 1 1`,
      drvs.quiet!,
    ], { env: sshEnv() });
  // real Nix sees the plain protocol: the offer is a path it does not have
  const onNix = await build(b.uri);
  assert.equal(onNix.code, 1);
  assert.match(
    onNix.stderr,
    /attempt 1 on 'ssh:\/\/hostB[^']*': cannot keep the session: it sent nothing for 4 seconds/,
  );
  const onOurs = await build(a.uri);
  assert.equal(onOurs.code, 0, onOurs.stderr);
  assert.doesNotMatch(onOurs.stderr, /lost|\0/);
  assert.ok(await validIn(a.root, onOurs.stdout.trim()));
  // the beats are not in the kept logs
  const log = await runBuildhost(["log", "--store", a.root, drvs.quiet!]);
  assert.equal(log.stdout, "");
});
