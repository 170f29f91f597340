/**
 * Run by `sandbox_test.ts` as a separate process: starts a build that never
 * ends, prints its log to stdout, and waits. The test then kills this
 * process to check that the build dies with its caller.
 *
 * Usage: deno run -A _sandbox_child.ts DIR MARKER
 */
import { runInSandbox } from "../../lib/sandbox/sandbox.ts";

const [dir, marker] = Deno.args as [string, string];
const bb = "/nix/store/00000000000000000000000000000000-busybox";
Deno.mkdirSync(`${dir}/phys${bb}/bin`, { recursive: true });
Deno.copyFileSync("/bin/busybox", `${dir}/phys${bb}/bin/busybox`);
Deno.chmodSync(`${dir}/phys${bb}/bin/busybox`, 0o555);
Deno.mkdirSync(`${dir}/build`, { mode: 0o700 });
await runInSandbox({
  rootDir: `${dir}/root`,
  buildDir: `${dir}/build`,
  inputs: [{ logical: bb, physical: `${dir}/phys${bb}` }],
  outputs: {},
  builder: `${bb}/bin/busybox`,
  // The marker is in the command line of three processes: the builder, a
  // child of it and one in a session of its own.
  args: [
    "sh",
    "-c",
    'sh -c "sleep 1000; :" $0 & (setsid sh -c "sleep 1000; :" $0 &); echo started; sleep 1000',
    marker,
  ],
  env: {},
  log: (chunk) => {
    Deno.stdout.writeSync(chunk);
  },
});
