/**
 * This machine as one more build machine (`--builders` with `--max-jobs N >
 * 0`), and local builds' logs: labelled when several run, kept where
 * `buildhost log` and `nix log --store` read them.
 */
import assert from "node:assert/strict";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { buildhostHost, clientWith, PRELUDE, sshEnv, validIn } from "./_hosts.ts";

const GRAPH = `let ${PRELUDE}
in rec {
  a = mk "slots-a" "echo making a; sleep 2; echo a > $out" {};
  b = mk "slots-b" "echo making b; sleep 2; echo b > $out" {};
  c = mk "slots-c" "echo making c; cat $a $b > $out" { inherit a b; };
}`;

Deno.test("buildhost build --builders --max-jobs 1 builds a graph on the local and the remote slots together", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(t.path, GRAPH, ["c"]);
  const a = buildhostHost(t.path, "hostA");
  const r = await runBuildhost(
    [
      "build",
      "--store",
      client,
      "--max-jobs",
      "1",
      "--sandbox-paths",
      "/bin /lib /lib64 /usr",
      "--builders",
      `${a.uri} x86_64-linux - 1 1`,
      drvs.c!,
    ],
    { env: sshEnv() },
  );
  assert.equal(r.code, 0, r.stderr);
  const out = r.stdout.trim();
  assert.equal(Deno.readTextFileSync(`${client}${out}`), "a\nb\n");
  // a and b at once: one here, one on hostA
  assert.match(r.stderr, /building '[^']*slots-[ab]\.drv' on 'local'/);
  assert.match(r.stderr, /building '[^']*slots-[ab]\.drv' on 'ssh:\/\/hostA/);
  assert.match(r.stderr, /\[slots-[ab]@local\] making [ab]\n/);
  assert.match(r.stderr, /\[slots-[ab]@hostA\] making [ab]\n/);
  const here = [...r.stderr.matchAll(/\[(slots-[abc])@local\]/g)].map((m) => m[1]!);
  const there = [...r.stderr.matchAll(/\[(slots-[abc])@hostA\]/g)].map((m) => m[1]!);
  for (const name of here) assert.ok(!there.includes(name), `${name} built twice`);
  // every log is kept here, whichever machine built it
  for (const name of ["slots-a", "slots-b", "slots-c"]) {
    const drv = r.stderr.match(new RegExp(`'(/nix/store/[a-z0-9]{32}-${name}\\.drv)'`))![1]!;
    const log = await runBuildhost(["log", "--store", client, drv]);
    assert.equal(log.code, 0, log.stderr);
    assert.match(log.stdout, new RegExp(`^making ${name.slice(-1)}\\n`));
  }
  assert.ok(await validIn(client, out));
});

Deno.test("buildhost build --max-jobs 2 labels the lines of local builds and keeps their logs for nix log", async () => {
  using t = tempDir();
  const { client, drvs } = await clientWith(t.path, GRAPH, ["c"]);
  const r = await runBuildhost([
    "build",
    "--store",
    client,
    "--max-jobs",
    "2",
    "--sandbox-paths",
    "/bin /lib /lib64 /usr",
    drvs.c!,
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /\[slots-a@local\] making a\n/);
  assert.match(r.stderr, /\[slots-b@local\] making b\n/);
  const out = r.stdout.trim();
  const log = await runBuildhost(["log", "--store", client, out]);
  assert.equal(log.stdout, "making c\n");
  assert.equal((await nix("nix", ["log", "--store", client, out])).text, "making c");
  const none = await runBuildhost([
    "log",
    "--store",
    client,
    drvs.c!.replace("slots-c", "slots-x"),
  ]);
  assert.equal(none.code, 1);
  assert.match(none.stderr, /build log of '.*' is not available/);
});
