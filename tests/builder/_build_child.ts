/**
 * Run by the reclaim test as a separate process: builds, in the store at
 * DIR, a derivation whose builder writes 1 MiB into its build directory,
 * prints `started` and, with `sleep`, sleeps for ever (the test kills this
 * process); without, it ends at once. Prints `done STATUS` at the end.
 *
 * Usage: deno run -A _build_child.ts DIR NAME sleep|quick
 *
 * @module
 */
import { Builder } from "../../lib/builder/builder.ts";
import { nixSandboxRunner } from "../../lib/builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../../lib/sandbox/sandbox_paths.ts";
import { Store } from "../../lib/store/store.ts";

const [dir, name, mode] = Deno.args as [string, string, string];
const store = await Store.open(dir);
const builder = new Builder(
  store,
  nixSandboxRunner({ sandboxPaths: parseSandboxPaths(["/bin", "/lib", "/lib64", "/usr"]) }),
);
const hash = [...crypto.getRandomValues(new Uint8Array(32))]
  .map((b) => "0123456789abcdfghijklmnpqrsvwxyz"[b % 32]).join("");
const out = `/nix/store/${hash}-${name}`;
const script = "/usr/bin/head -c 1048576 /dev/zero > junk; echo started; " +
  (mode === "sleep" ? "exec /bin/sleep 100000" : "echo done > $out");
const result = await builder.build(`/nix/store/${hash}-${name}.drv`, {
  name,
  outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
  inputSrcs: [],
  platform: "x86_64-linux",
  builder: "/bin/sh",
  args: ["-c", script],
  env: new Map([["out", out]]),
}, { log: (chunk) => void Deno.stdout.writeSync(chunk) });
console.log(`done ${result.status}`);
