/**
 * Isolation and process control of `runInSandbox`, with busybox as the only
 * input (no Nix needed: the inputs are copies in a temporary directory).
 */
import assert from "node:assert/strict";
import { tempDir } from "../_helpers/nix.ts";
import {
  runInSandbox,
  type SandboxOptions,
  type SandboxResult,
  staticBusybox,
} from "../../lib/sandbox/sandbox.ts";
import { SandboxError, SandboxUnavailableError } from "../../lib/sandbox/sandbox_error.ts";
import { findProcesses } from "../../lib/sandbox/process_tree.ts";

const BB = "/nix/store/00000000000000000000000000000000-busybox";
const OTHER = "/nix/store/11111111111111111111111111111111-other";
const OUT = "/nix/store/22222222222222222222222222222222-out";

/** A temporary "store" with busybox and one path the builder is not given. */
class Mini implements Disposable {
  readonly dir = tempDir("buildhost-sandbox-test-");
  constructor() {
    Deno.mkdirSync(`${this.path}/phys${BB}/bin`, { recursive: true });
    Deno.copyFileSync("/bin/busybox", `${this.path}/phys${BB}/bin/busybox`);
    Deno.chmodSync(`${this.path}/phys${BB}/bin/busybox`, 0o555);
    Deno.chmodSync(`${this.path}/phys${BB}/bin`, 0o555);
    Deno.chmodSync(`${this.path}/phys${BB}`, 0o555);
    Deno.mkdirSync(`${this.path}/phys${OTHER}`, { recursive: true });
    Deno.writeTextFileSync(`${this.path}/phys${OTHER}/secret`, "secret\n");
    Deno.mkdirSync(`${this.path}/build`, { mode: 0o700 });
  }
  get path(): string {
    return this.dir.path;
  }
  /** Run `sh -c script` (extra arguments after it) as the builder. */
  async run(
    script: string,
    extra: Partial<SandboxOptions> & { argv?: string[] } = {},
  ): Promise<{ result: SandboxResult; log: string }> {
    let log = "";
    const decoder = new TextDecoder();
    const { argv, ...options } = extra;
    const result = await runInSandbox({
      rootDir: `${this.path}/root`,
      buildDir: `${this.path}/build`,
      inputs: [{ logical: BB, physical: `${this.path}/phys${BB}` }],
      outputs: { [OUT]: `${this.path}/out` },
      builder: `${BB}/bin/busybox`,
      args: ["sh", "-c", script, ...(argv ?? [])],
      env: { out: OUT, PATH: "/path-not-set" },
      log: (chunk) => {
        log += decoder.decode(chunk, { stream: true });
      },
      ...options,
    });
    return { result, log };
  }
  [Symbol.dispose](): void {
    this.dir[Symbol.dispose]();
  }
}

Deno.test("runInSandbox() hides host files and store paths that are not inputs", async () => {
  using m = new Mini();
  const { result, log } = await m.run(
    `cat /etc/shadow; ls /root; ls -1 /nix/store; cat ${OTHER}/secret; ls -1 /`,
  );
  assert.equal(result.exitCode, 0);
  assert.match(log, /cat: can't open '\/etc\/shadow': No such file or directory/);
  assert.match(log, /ls: \/root: No such file or directory/);
  assert.match(log, new RegExp(`can't open '${OTHER}/secret': No such file or directory`));
  const listings = log.split("\n").filter((l) => !l.includes(":"));
  assert.deepEqual(listings, [
    "00000000000000000000000000000000-busybox",
    "build",
    "dev",
    "etc",
    "nix",
    "proc",
    "tmp",
    "",
  ]);
});

Deno.test("runInSandbox() cuts the builder off the host's loopback, unless it has network", async () => {
  using m = new Mini();
  const listener = Deno.listen({ hostname: "127.0.0.1", port: 0 });
  const port = (listener.addr as Deno.NetAddr).port;
  const received: string[] = [];
  const serving = (async () => {
    for await (const conn of listener) {
      const buf = new Uint8Array(100);
      const n = await conn.read(buf);
      received.push(new TextDecoder().decode(buf.subarray(0, n ?? 0)));
      conn.close();
    }
  })();
  try {
    const isolated = await m.run(`echo hello | nc 127.0.0.1 ${port}; echo rc=$?`);
    assert.match(isolated.log, /Connection refused/);
    assert.match(isolated.log, /rc=1/);
    assert.deepEqual(received, []);
    const open = await m.run(`echo hello | nc 127.0.0.1 ${port}; echo rc=$?`, { network: true });
    assert.match(open.log, /rc=0/);
    assert.deepEqual(received, ["hello\n"]);
  } finally {
    listener.close();
    await serving.catch(() => {});
  }
});

Deno.test("runInSandbox() keeps inputs read-only and the real store untouched", async () => {
  using m = new Mini();
  const before = [...Deno.readDirSync(`${m.path}/phys/nix/store`)].map((e) => e.name).sort();
  const { result, log } = await m.run(
    `touch ${BB}/x; chmod u+w ${BB}; rm ${BB}/bin/busybox; echo junk > /nix/store/junk; ` +
      "ls /nix/store",
  );
  assert.equal(result.exitCode, 0);
  assert.match(log, /touch: .*x: Read-only file system/);
  assert.match(log, /chmod: .*: Read-only file system/);
  assert.match(log, /rm: can't remove .*busybox': Read-only file system/);
  assert.match(log, /junk/); // the sandbox's own store directory is writable, as in Nix
  const after = [...Deno.readDirSync(`${m.path}/phys/nix/store`)].map((e) => e.name).sort();
  assert.deepEqual(after, before);
  assert.equal(
    Deno.statSync(`${m.path}/phys${BB}/bin/busybox`).size,
    Deno.statSync("/bin/busybox").size,
  );
  assert.throws(() => Deno.statSync(`${m.path}/root`), Deno.errors.NotFound);
});

Deno.test("runInSandbox() refuses setuid and setgid bits (Nix's seccomp filter)", async () => {
  using m = new Mini();
  const { result, log } = await m.run(
    "mkdir $out; touch $out/f; chmod 4755 $out/f; chmod 2755 $out/f; chmod g+s $out; " +
      "chmod 755 $out/f; grep -E '^(NoNewPrivs|Seccomp):' /proc/self/status",
  );
  assert.equal(result.exitCode, 0);
  assert.equal((log.match(/Operation not permitted/g) ?? []).length, 3);
  assert.match(log, /NoNewPrivs:\t1\nSeccomp:\t2\n/);
  assert.deepEqual(result.outputs, [OUT]);
  assert.equal(Deno.statSync(`${m.path}/out/f`).mode! & 0o7777, 0o755);
  assert.equal(Deno.statSync(`${m.path}/out`).mode! & 0o7000, 0);
});

Deno.test("runInSandbox() kills every process of the build on timeout", async () => {
  using m = new Mini();
  const marker = `buildhost-marker-${crypto.randomUUID()}`;
  let seen = 0;
  const { result } = await m.run(
    // Each shell keeps the marker in its command line (`; :` keeps it from
    // exec'ing its last command).
    'sh -c "sleep 1000; :" $0 & sh -c "sleep 1000; :" $0 & echo started; sleep 1000; :',
    {
      argv: [marker],
      // long enough for the sandbox to start on a loaded machine (the clock runs from the spawn)
      timeoutMs: 5000,
      log: async () => {
        // Its processes may still be between fork and exec: look until all are there.
        for (let i = 0; i < 40 && (seen = findProcesses(marker).length) < 3; i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
      },
    },
  );
  assert.equal(result.reason, "timeout");
  assert.equal(result.signal, 9);
  assert.ok(seen >= 3, `expected the builder's processes while it ran, saw ${seen}`);
  assert.deepEqual(findProcesses(marker), []);
});

Deno.test("runInSandbox() leaves no daemon running after the builder exits", async () => {
  using m = new Mini();
  const marker = `buildhost-marker-${crypto.randomUUID()}`;
  const { result, log } = await m.run(
    "(setsid sh -c 'sleep 1000' & ) ; (nohup sleep 1000 >/dev/null 2>&1 &); echo forked",
    { argv: [marker] },
  );
  assert.equal(result.exitCode, 0);
  assert.equal(log, "forked\n");
  assert.deepEqual(findProcesses(marker), []);
});

Deno.test("runInSandbox() stops a silent build, a chatty build, and a cancelled build", async () => {
  using m = new Mini();
  // long enough for the sandbox to start on a loaded machine (silence is counted from the spawn)
  const silent = await m.run("echo a; sleep 1000", { maxSilentMs: 5000 });
  assert.equal(silent.result.reason, "silent");
  assert.equal(silent.log, "a\n");

  const chatty = await m.run("while :; do echo 0123456789; done", { maxLogBytes: 5000 });
  assert.equal(chatty.result.reason, "logLimit");
  assert.ok(chatty.result.logBytes <= 5000);
  assert.equal(chatty.log.length, chatty.result.logBytes);

  const marker = `buildhost-marker-${crypto.randomUUID()}`;
  const abort = new AbortController();
  const cancelled = await m.run("echo go; sleep 1000", {
    argv: [marker],
    signal: abort.signal,
    log: () => abort.abort(),
  });
  assert.equal(cancelled.result.reason, "cancelled");
  assert.deepEqual(findProcesses(marker), []);
});

Deno.test("runInSandbox() refuses a NUL byte in the environment or the arguments, leaving nothing", async () => {
  using m = new Mini();
  for (const extra of [{ env: { out: OUT, X: "a\0b" } }, { argv: ["a\0b"] }]) {
    await assert.rejects(
      () => m.run("true", extra),
      (e) => e instanceof SandboxError && /contains a NUL byte/.test(e.message),
    );
  }
  assert.ok(![...Deno.readDirSync(m.path)].some((e) => e.name === "root"));
});

Deno.test("runInSandbox() reports the exit code, and exit 1 when the builder cannot run", async () => {
  using m = new Mini();
  const seven = await m.run("exit 7");
  assert.deepEqual([seven.result.reason, seven.result.exitCode, seven.result.signal], [
    "exited",
    7,
    null,
  ]);
  const missing = await m.run("", {
    builder: "/nix/store/33333333333333333333333333333333-x/bin/x",
  });
  assert.equal(missing.result.exitCode, 1);
  assert.match(
    missing.log,
    /^executing '\/nix\/store\/3{32}-x\/bin\/x': No such file or directory\n$/,
  );
  assert.deepEqual(missing.result.outputs, []);
});

Deno.test("runInSandbox() says what is missing when the sandbox cannot run", async () => {
  using m = new Mini();
  await assert.rejects(
    () => m.run("true", { tools: { perl: "/nonexistent/perl" } }),
    (e) => e instanceof SandboxUnavailableError && e.missing === "perl",
  );
  assert.throws(
    () => staticBusybox(["/nonexistent"]),
    (e) => e instanceof SandboxUnavailableError && /busybox-static/.test(e.message),
  );
  await assert.rejects(
    () => m.run("true", { outputs: { "/elsewhere/x": `${m.path}/x` } }),
    (e) => e instanceof SandboxError && /not in \/nix\/store/.test(e.message),
  );
});

Deno.test("runInSandbox() says so when user namespaces cannot be made (probed at the failure)", async () => {
  using m = new Mini();
  // A perl that fails as the set-up does where user namespaces are not allowed.
  const perl = `${m.path}/fake-perl`;
  Deno.writeTextFileSync(perl, "#!/bin/sh\necho 'unshare: Operation not permitted' >&2\nexit 1\n");
  Deno.chmodSync(perl, 0o755);
  await assert.rejects(
    () => m.run("true", { tools: { perl } }),
    (e) =>
      e instanceof SandboxUnavailableError && e.missing === "user namespaces" &&
      /they cannot be created here: unshare: Operation not permitted/.test(e.message),
  );
  // One that cannot even be run.
  const noExec = `${m.path}/not-executable`;
  Deno.writeTextFileSync(noExec, "");
  await assert.rejects(
    () => m.run("true", { tools: { perl: noExec } }),
    (e) =>
      e instanceof SandboxUnavailableError && e.missing === "perl" &&
      e.message.includes(`cannot run ${noExec}`),
  );
  // The real one can, here: a run goes on to its builder.
  assert.equal((await m.run("exit 0")).result.exitCode, 0);
});

Deno.test("runInSandbox() builds die with their caller", async () => {
  using dir = tempDir("buildhost-sandbox-test-");
  const marker = `buildhost-marker-${crypto.randomUUID()}`;
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL("./_sandbox_child.ts", import.meta.url).pathname, dir.path, marker],
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const reader = child.stdout.getReader();
  let out = "";
  while (!out.includes("started")) {
    const { value, done } = await reader.read();
    if (done) break;
    out += new TextDecoder().decode(value);
  }
  assert.match(out, /started/);
  // Its processes may still be between fork and exec: look until all are there.
  for (let i = 0; i < 100 && findProcesses(marker).length < 3; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.ok(findProcesses(marker).length >= 3);
  child.kill("SIGKILL");
  await child.status;
  await reader.cancel();
  // The parent-death signals cascade; give them a moment (no timing claim).
  for (let i = 0; i < 100 && findProcesses(marker).length > 0; i++) {
    await new Promise((r) => setTimeout(r, 50));
  }
  assert.deepEqual(findProcesses(marker), []);
});

Deno.test("runInSandbox() makes the builder pid 1 with a /proc of its own, its first child pid 2", async () => {
  using m = new Mini();
  const { log } = await m.run("echo $$; sh -c 'echo $$'; cat /proc/self/mountinfo");
  assert.deepEqual(log.split("\n").slice(0, 2), ["1", "2"]);
  assert.match(log, / \/proc rw,relatime - proc none rw\r?\n/);
});

Deno.test("runInSandbox() stops the build when the log sink fails", async () => {
  using m = new Mini();
  const marker = `buildhost-marker-${crypto.randomUUID()}`;
  await assert.rejects(
    () =>
      m.run("echo go; sleep 1000", {
        argv: [marker],
        log: () => {
          throw new Error("sink broke");
        },
      }),
    /sink broke/,
  );
  assert.deepEqual(findProcesses(marker), []);
});

/** Settles with the promise, or rejects after `ms` (a watchdog against hangs, not a timing claim). */
function watchdog<T>(what: string, ms: number, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const expired = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} still running after ${ms} ms`)), ms);
  });
  return Promise.race([p, expired]).finally(() => clearTimeout(timer));
}

/**
 * Sandbox runners still running for roots under `dir` (after their builds
 * ended, there must be none; other tests' builds run meanwhile).
 */
function leftRunners(dir: string): number[] {
  return findProcesses(`buildhost-sandbox ${Deno.pid} ${dir}/`);
}

Deno.test("runInSandbox() runs many builds in a row, two at a time, none hanging", async () => {
  using m = new Mini();
  const count = 20;
  let next = 0;
  const worker = async (w: number) => {
    while (next < count) {
      const i = next++;
      Deno.mkdirSync(`${m.path}/build${w}`, { recursive: true });
      const { result, log } = await watchdog(
        `build ${i}`,
        60_000,
        m.run(`echo ${i}; echo ${i} > $out`, {
          rootDir: `${m.path}/root${w}`,
          buildDir: `${m.path}/build${w}`,
          outputs: { [OUT]: `${m.path}/out${w}` },
        }),
      );
      assert.equal(result.exitCode, 0);
      assert.equal(log, `${i}\n`);
      assert.equal(Deno.readTextFileSync(`${m.path}/out${w}`), `${i}\n`);
      Deno.removeSync(`${m.path}/out${w}`);
    }
  };
  await Promise.all([worker(0), worker(1)]);
  assert.deepEqual(leftRunners(m.path), []);
});

Deno.test("runInSandbox() returns a killed build only once its processes are gone, even when they outlive the runner", async () => {
  using m = new Mini();
  // A runner whose sandbox does not die with it, and holds nothing the
  // caller reads but the log: what a parent-death signal armed too late
  // gives (the runner killed between starting its sandbox's first process
  // and that process arming it), made certain: the runner's parent is a
  // shell that outlives it, not the caller.
  const perl = `${m.path}/perl`;
  Deno.writeTextFileSync(
    perl,
    [
      "#!/bin/sh",
      // The argument after `buildhost-sandbox` is the pid the runner must have as its parent.
      'p=; for a; do shift; [ "$p" = buildhost-sandbox ] && a=$$; p=$a; set -- "$@" "$a"; done',
      // (an asynchronous command's stdin is /dev/null unless redirected)
      'exec 3<&0; /usr/bin/perl "$@" <&3 2>/dev/null &',
      "wait",
      "",
    ].join("\n"),
  );
  Deno.chmodSync(perl, 0o755);
  const marker = `outlives-runner-${crypto.randomUUID()}`;
  const stop = new AbortController();
  let log = "";
  const result = await watchdog(
    "the build",
    60_000,
    runInSandbox({
      rootDir: `${m.path}/root`,
      buildDir: `${m.path}/build`,
      inputs: [{ logical: BB, physical: `${m.path}/phys${BB}` }],
      outputs: { [OUT]: `${m.path}/out` },
      builder: `${BB}/bin/busybox`,
      args: ["sh", "-c", `echo started; sleep 60; : ${marker}`],
      env: { out: OUT },
      tools: { perl },
      signal: stop.signal,
      log: (chunk) => {
        log += new TextDecoder().decode(chunk);
        if (log.includes("started")) stop.abort();
      },
    }),
  );
  assert.equal(result.reason, "cancelled");
  assert.deepEqual(findProcesses(marker), []);
});
