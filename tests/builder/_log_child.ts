/**
 * Child process of the log memory test: builds, in a fresh store, a
 * derivation whose builder prints `count` bytes `x` without a newline and
 * fails, with a log sink that checks every byte; prints one JSON line with
 * what arrived, the result, and this process's peak resident memory
 * (`VmHWM` from `/proc/self/status`) after a small build and after the big
 * one.
 *
 * Usage: deno run -A _log_child.ts DIR COUNT
 *
 * @module
 */
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { Store } from "../../lib/store/store.ts";

const [dir, countText] = Deno.args;
const count = Number(countText);

function peakKiB(): number {
  const m = /^VmHWM:\s+(\d+) kB$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  return Number(m![1]);
}

const store = await Store.open(`${dir}/store`);
const builder = new Builder(
  store,
  nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin", "/lib", "/lib64", "/usr"]) }),
);

async function run(name: string, bytes: number) {
  const out = `/nix/store/${"0123456789abcdfghijklmnpqrsvwxyz".slice(0, 32)}-${name}`;
  let received = 0;
  let wrong = -1;
  const result = await builder.build(`/nix/store/${"1".repeat(32)}-${name}.drv`, {
    name,
    outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
    inputSrcs: [],
    platform: "x86_64-linux",
    builder: "/bin/sh",
    args: ["-c", `/usr/bin/head -c ${bytes} /dev/zero | /usr/bin/tr '\\0' x; exit 1`],
    env: new Map([["out", out]]),
  }, {
    log: (chunk) => {
      for (let i = 0; i < chunk.length; i++) {
        if (chunk[i] !== 0x78 && wrong < 0) wrong = received + i;
      }
      received += chunk.length;
    },
  });
  return {
    received,
    wrong,
    status: result.status,
    errorMsg: result.errorMsg,
    tailLengths: result.logTail.map((l) => l.length),
    tailAllX: result.logTail.every((l) => /^x*$/.test(l)),
  };
}

const small = await run("small", 1_000_000);
const before = peakKiB();
const big = await run("big", count);
const after = peakKiB();
console.log(JSON.stringify({ small, big, peakKiB: { before, after } }));
