/**
 * Ctrl-C on `buildhost copy` while the host does not answer: the copy is
 * cancelled, no process is left, and the command says so and exits 130.
 * (The remote builds cancelled on real hosts: cancel_interop_test.ts.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { MAIN } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";
import { processesWith, sshEnv } from "./_host_env.ts";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

Deno.test("buildhost copy: SIGINT while a host does not answer cancels the copy and leaves no process", async () => {
  using t = tempDir();
  const token = `sleep ${85000 + Math.floor(Math.random() * 999)}`;
  const program = join(t.path, "remote-mute");
  Deno.writeTextFileSync(program, `#!/bin/sh\nexec ${token}\n`, { mode: 0o755 });
  const client = join(t.path, "client");
  const child = new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      MAIN,
      "copy",
      "--store",
      client,
      "--connect-timeout",
      "0",
      "--from",
      `ssh://mute?remote-program=${program}`,
      "/nix/store/00000000000000000000000000000000-x",
    ],
    env: sshEnv(),
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const output = child.output();
  while (processesWith(token).length === 0) await sleep(100);
  child.kill("SIGINT");
  const r = await output;
  const stderr = new TextDecoder().decode(r.stderr);
  assert.equal(r.code, 130, stderr);
  assert.match(stderr, /cancelled: copying from 'ssh:\/\/mute/);
  assert.deepEqual(processesWith(token), []);
});
