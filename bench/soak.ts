/**
 * `deno task soak [--count N]`: N sandboxed builds in a row (default 1000),
 * two at a time (`--max-jobs 2`), in a fresh store, each under a generous
 * watchdog. Not part of `deno task test`.
 *
 * It prints, after the first builds (warm-up), halfway and at the end: this
 * process's open file descriptors, the entries of its `$TMPDIR` (a private
 * one, where the sandbox puts its control directories) and of the store's
 * `builds` directory, the entries of `/tmp` (shared with whatever else runs
 * on the machine: shown, not judged), and the resident memory after a full
 * garbage collection. It fails when a build hangs (its watchdog fires),
 * fails, or leaves a process behind, or when descriptors, temporaries or
 * memory grow from the warm-up to the end (memory: by more than 32 MiB,
 * which allows for the allocator's and the database's caches).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Builder } from "../lib/builder/builder.ts";
import { BuildStatus } from "../lib/derivation/build_result.ts";
import { findProcesses } from "../lib/sandbox/process_tree.ts";
import { nixSandboxRunner } from "../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../lib/sandbox/sandbox_paths.ts";
import { Store } from "../lib/store/store.ts";
import { count, growth, hashPart, soakLoop, WARM_UP } from "./_soak.ts";

interface Figures {
  builds: number;
  fds: number;
  tmpdir: number;
  buildsDir: number;
  tmp: number;
  rssKiB: number;
}

function figures(builds: number, tmpdir: string, buildsDir: string): Figures {
  (globalThis as { gc?: () => void }).gc?.();
  const status = Deno.readTextFileSync("/proc/self/status");
  return {
    builds,
    fds: count("/proc/self/fd"),
    tmpdir: count(tmpdir),
    buildsDir: count(buildsDir),
    tmp: count("/tmp"),
    rssKiB: Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]),
  };
}

function show(label: string, f: Figures): void {
  console.log(
    `${label.padEnd(7)} after ${String(f.builds).padStart(5)} builds: ` +
      `fds ${f.fds}, $TMPDIR entries ${f.tmpdir}, builds/ entries ${f.buildsDir}, ` +
      `/tmp entries ${f.tmp}, RSS ${(f.rssKiB / 1024).toFixed(1)} MiB`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: { count: { type: "string", default: "1000" }, "max-jobs": { type: "string" } },
  });
  const total = Number(values.count);
  const jobs = Number(values["max-jobs"] ?? "2");
  if (!Number.isInteger(total) || total < WARM_UP * 2 || !(jobs >= 1)) {
    console.error(`soak: --count must be an integer of at least ${WARM_UP * 2}`);
    Deno.exit(2);
  }
  if (!(globalThis as { gc?: () => void }).gc) {
    console.error("soak: run with --v8-flags=--expose-gc (deno task soak does)");
    Deno.exit(2);
  }
  const root = Deno.makeTempDirSync({ prefix: "buildhost-soak-" });
  const tmpdir = `${root}/tmp`;
  Deno.mkdirSync(tmpdir);
  Deno.env.set("TMPDIR", tmpdir);
  const marker = `buildhost-soak-${crypto.randomUUID()}`;
  const store = await Store.open(`${root}/store`);
  const buildsDir = `${root}/store/nix/var/nix/builds`;
  const builder = new Builder(
    store,
    nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin", "/lib", "/lib64", "/usr"]) }),
  );
  const failures: string[] = [];
  const started = Date.now();

  const one = async (i: number) => {
    const hash = hashPart(i);
    const out = `/nix/store/${hash}-soak-${i}`;
    let log = "";
    const result = await builder.build(`/nix/store/${hash}-soak-${i}.drv`, {
      name: `soak-${i}`,
      outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
      inputSrcs: [],
      platform: "x86_64-linux",
      builder: "/bin/sh",
      args: ["-c", `echo ${i}; echo ${i} > $out; : ${marker}`],
      env: new Map([["out", out]]),
    }, { log: (c) => void (log += new TextDecoder().decode(c)) });
    if (result.status !== BuildStatus.Built || log !== `${i}\n`) {
      failures.push(
        `build ${i}: status ${result.status} ${result.errorMsg} log ${JSON.stringify(log)}`,
      );
    }
  };

  let samples: [string, Figures][];
  try {
    samples = await soakLoop(total, jobs, "build", one, (done) => figures(done, tmpdir, buildsDir));
  } catch (e) {
    console.error(`soak: FAILED: ${(e as Error).message}`);
    Deno.exit(1);
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(`soak: ${total} sandboxed builds, max-jobs ${jobs}, in ${seconds.toFixed(0)} s`);
  for (const [label, f] of samples) show(label, f);

  failures.push(...growth(samples, ["fds", "tmpdir", "buildsDir"]));
  const left = findProcesses(marker);
  if (left.length > 0) failures.push(`processes left running: ${left.join(" ")}`);
  await Deno.remove(root, { recursive: true }).catch(() => {});
  if (failures.length > 0) {
    console.error(`soak: FAILED\n${failures.join("\n")}`);
    Deno.exit(1);
  }
  console.log("soak: ok (no hang, no failure; fds, temporaries and memory flat)");
}
