/**
 * Ctrl-C on `buildhost build --builders`: every remote build is cancelled,
 * on a buildhost host and on a real `nix-store --serve --write` host; none
 * of their processes is left, no output is registered anywhere, and the
 * command says what it cancelled and exits non-zero.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN, runBuildhost } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";
import {
  buildhostHost,
  clientWith,
  nixStoreHost,
  PRELUDE,
  processesWith,
  sshEnv,
  validIn,
} from "./_hosts.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function nonEmpty(dir: string): boolean {
  try {
    return [...Deno.readDirSync(dir)].length > 0;
  } catch {
    return false;
  }
}

Deno.test("buildhost build --builders: SIGINT cancels every remote build, leaving no process and no path", async () => {
  using t = tempDir();
  const token = `sleep ${86000 + Math.floor(Math.random() * 399)}`;
  const { client, drvs } = await clientWith(
    t.path,
    `let ${PRELUDE}\nin {
      one = mk "cancel-one" "echo started one; ${token}; echo one > $out" {};
      two = mk "cancel-two" "echo started two; ${token}; echo two > $out" {};
    }`,
    ["one", "two"],
  );
  const a = buildhostHost(t.path, "hostA"), b = nixStoreHost(t.path, "hostB");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "build",
      "--store",
      client,
      "--builders",
      `${a.uri} x86_64-linux - 1 1; ${b.uri} x86_64-linux - 1 1`,
      drvs.one!,
      drvs.two!,
    ],
    env: sshEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  // both builds are running: one on each host
  while (!(nonEmpty(join(a.root, "nix/var/nix/builds")) && nonEmpty(b.tmp))) await sleep(100);
  // the builders themselves run: one `sleep` in each host's build
  while (processesWith(token, true).length < 2) await sleep(100);
  child.kill("SIGINT");
  const r = await output;
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 130, stderr);
  assert.match(stderr, /interrupted: cancelling every build/);
  assert.match(stderr, /cancelled: building '[^']*cancel-one\.drv' on 'ssh:\/\/host[AB]/);
  assert.match(stderr, /cancelled: building '[^']*cancel-two\.drv' on 'ssh:\/\/host[AB]/);
  assert.equal(new TextDecoder().decode(r.stdout), "");
  // nothing of the builds runs any more, on either host
  assert.deepEqual(processesWith(token), []);
  assert.deepEqual(processesWith(a.root), []);
  assert.deepEqual(processesWith(b.root), []);
  // no output anywhere, nothing half-copied here
  for (const root of [client, a.root, b.root]) {
    for (const name of ["cancel-one", "cancel-two"]) {
      const out = [...Deno.readDirSync(join(root, "nix/store"))]
        .filter((e) => e.name.endsWith(`-${name}`));
      for (const e of out) assert.ok(!(await validIn(root, `/nix/store/${e.name}`)), e.name);
    }
  }
  assert.ok(
    ![...Deno.readDirSync(join(client, "nix/store"))].some((e) =>
      /-cancel-(one|two)$/.test(e.name)
    ),
  );
  const v = await runBuildhost(["store", "verify", "--check-contents", "--store", client]);
  assert.equal(v.code, 0, v.stderr);
});
