/**
 * Sandbox runners started ahead: a build takes the waiting one (named for
 * its build once it has its settings) and the next is started; one that
 * ended meanwhile is never handed out; a waiting one given no settings
 * exits having done nothing, and none is left once the spares close.
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers/nix.ts";
import { runInSandbox } from "../../lib/sandbox/sandbox.ts";
import { RunnerSpares } from "../../lib/sandbox/runner_spares.ts";
import { runnerCommand } from "../../lib/sandbox/sandbox_command.ts";
import { findProcesses } from "../../lib/sandbox/process_tree.ts";
import { sandboxTools } from "../../lib/sandbox/sandbox_tools.ts";

const BB = "/nix/store/00000000000000000000000000000000-busybox";
const OUT = "/nix/store/22222222222222222222222222222222-out";

/**
 * Spares whose runners are recorded as they are spawned, and those of them
 * still running, by command line (a waiting one has no root in it yet).
 * Only these: other test modules of this process run sandboxes meanwhile.
 */
function recordedSpares(): {
  spares: RunnerSpares;
  runners: () => { pid: number; cmdline: string }[];
} {
  const spawned: number[] = [];
  const spares = new RunnerSpares((perl) => {
    const command = runnerCommand(perl);
    return {
      spawn() {
        const child = command.spawn();
        spawned.push(child.pid);
        return child;
      },
    } as Deno.Command;
  });
  const runners = () =>
    findProcesses(`buildhost-sandbox ${Deno.pid} `).filter((pid) => spawned.includes(pid))
      .flatMap((pid) => {
        try {
          const cmdline = Deno.readTextFileSync(`/proc/${pid}/cmdline`).replaceAll("\0", " ")
            .trim();
          return [{ pid, cmdline }];
        } catch {
          return []; // gone
        }
      });
  return { spares, runners };
}

/** Wait (boundedly: a watchdog, not a timing claim) until `ok()`. */
async function until(what: string, ok: () => boolean): Promise<void> {
  for (let waited = 0; !ok(); waited += 20) {
    if (waited > 30_000) throw new Error(`still not so after 30 s: ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

Deno.test("RunnerSpares: the waiting runner is the one taken; one that ended is replaced; close() ends the waiting one", async () => {
  const { perl } = await sandboxTools();
  const { spares, runners } = recordedSpares();
  spares.prepare(perl);
  await until("a runner waits", () => runners().length === 1);
  const waiting = runners()[0]!.pid;
  const taken = spares.take(perl);
  assert.equal(taken.pid, waiting, "take() hands out the runner started ahead");
  await taken.stdin.close(); // no settings: it does nothing
  assert.equal((await taken.status).code, 125);
  await taken.stderr.cancel();

  spares.prepare(perl);
  await until("a runner waits", () => runners().length === 1);
  const doomed = runners()[0]!.pid;
  Deno.kill(doomed, "SIGKILL");
  await until("the killed runner is gone", () => !runners().some((r) => r.pid === doomed));
  await new Promise((r) => setTimeout(r, 50)); // its status reaches this process
  const fresh = spares.take(perl);
  assert.notEqual(fresh.pid, doomed, "a runner that ended is not handed out");
  await fresh.stdin.close();
  assert.equal((await fresh.status).code, 125);
  await fresh.stderr.cancel();

  spares.prepare(perl);
  await until("a runner waits", () => runners().length === 1);
  await spares.close();
  assert.deepEqual(runners(), [], "close() ends the waiting runner");
});

Deno.test("runInSandbox() with spares: each build's runner was started ahead and is named for its build; one waits after, none after close()", async () => {
  using t = tempDir("buildhost-spares-test-");
  const dir = t.path;
  Deno.mkdirSync(`${dir}/phys${BB}/bin`, { recursive: true });
  Deno.copyFileSync("/bin/busybox", `${dir}/phys${BB}/bin/busybox`);
  Deno.chmodSync(`${dir}/phys${BB}/bin/busybox`, 0o555);
  const { spares, runners } = recordedSpares();
  const seen: string[] = [];
  for (let i = 0; i < 3; i++) {
    Deno.mkdirSync(`${dir}/build${i}`, { mode: 0o700 });
    let log = "";
    const result = await runInSandbox({
      rootDir: `${dir}/root${i}`,
      buildDir: `${dir}/build${i}`,
      inputs: [{ logical: BB, physical: `${dir}/phys${BB}` }],
      outputs: { [OUT]: `${dir}/out${i}` },
      builder: `${BB}/bin/busybox`,
      args: ["sh", "-c", `echo ${i} > $out; echo built ${i}; sleep 0.3`],
      env: { out: OUT },
      spares,
      log: (chunk) => {
        log += new TextDecoder().decode(chunk);
        // While the builder runs: its runner is named for its root.
        if (log.includes(`built ${i}`)) seen.push(...runners().map((r) => r.cmdline));
      },
    });
    assert.equal(result.exitCode, 0);
    assert.equal(Deno.readTextFileSync(`${dir}/out${i}`), `${i}\n`);
  }
  for (let i = 0; i < 3; i++) {
    assert.ok(
      seen.some((c) => c.endsWith(`buildhost-sandbox ${Deno.pid} ${dir}/root${i}`)),
      `the runner of build ${i} named itself for its root: ${JSON.stringify(seen)}`,
    );
  }
  await until("one runner waits for a next build", () => runners().length === 1);
  assert.ok(!runners()[0]!.cmdline.includes(dir), "the waiting one has no build yet");
  await spares.close();
  assert.deepEqual(runners(), []);
});
