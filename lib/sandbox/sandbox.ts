/**
 * Run a builder in a sandbox that looks, from inside, the way Nix 2.8's
 * sandbox does (see `docs/sandbox.md` for every fact and how it was
 * established), made by one perl process (`sandbox_runner_program.ts`).
 *
 * What the builder sees:
 * - uid 1000 / gid 100 (`nixbld`) in a user namespace mapping them to the
 *   caller; no capabilities; no supplementary groups; "no new privileges";
 *   Nix's seccomp filter (no setuid/setgid bits, no extended attributes).
 * - pid 1 in a new pid namespace; new ipc and uts namespaces (host name
 *   `localhost`, domain name `(none)`); a new network namespace with only
 *   `lo` up, unless `network` (fixed-output derivations).
 * - `/` is the physical `rootDir` (mode 0750): `/tmp` (1777), `/etc` with
 *   `passwd`, `group`, and `hosts` (or, with network, `nsswitch.conf` and
 *   the host's `resolv.conf`, `services`, `hosts`), the store directory
 *   (1775) holding only the inputs, `/build` = the physical `buildDir`
 *   (made mode 0700, as Nix creates its build directory),
 *   a minimal `/dev` (`full`, `kvm`, `null`, `random`, `tty`, `urandom`,
 *   `zero`, a private `/dev/shm` and `/dev/pts`), a fresh `/proc`, and the
 *   extra `sandboxPaths`.
 * - stdin `/dev/null`; stdout and stderr one pseudoterminal (raw mode)
 *   whose output goes to the `log` sink; cwd `/build`; umask 022; soft core
 *   limit 0; address-space randomisation off (personality).
 *
 * Outputs are written by the builder into the root's store directory and
 * moved to the caller's physical paths afterwards.
 *
 * Differences from Nix, all on purpose unless `readOnlyInputs: false`:
 * Nix (as root, without build users) lets the builder write to its input
 * store paths and `sandbox-paths`, because the builder's uid maps to root.
 * Here they are read-only binds, and file inputs are bound rather than
 * hard-linked (so they show link count 1, not 2). With
 * `readOnlyInputs: false` the sandbox is Nix's exactly.
 *
 * The work is in four files: `sandbox_tools.ts` finds the host programs,
 * `sandbox_root.ts` prepares the root on disk (and moves the outputs out
 * of it), `sandbox_command.ts` assembles the command that starts the
 * sandbox, `sandbox_supervisor.ts` follows it to its end.
 *
 * @module
 */
import { isAbsolute, normalize } from "../posix_path.ts";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { Pty } from "./pty.ts";
import { SandboxError, SandboxUnavailableError } from "./sandbox_error.ts";
import { runnerCommand, sandboxInput } from "./sandbox_command.ts";
import { entriesOf, type SandboxOptions, type SandboxResult } from "./sandbox_options.ts";
import { moveOutputs, prepareSandboxRoot, removeSandboxRoot } from "./sandbox_root.ts";
import { readHostMounts } from "./host_mounts.ts";
import { superviseSandbox } from "./sandbox_supervisor.ts";
import { probeNamespaces, sandboxTools } from "./sandbox_tools.ts";
export type {
  SandboxEndReason,
  SandboxInput,
  SandboxOptions,
  SandboxPath,
  SandboxResult,
} from "./sandbox_options.ts";
export {
  probeNamespaces,
  type SandboxTools,
  sandboxTools,
  staticBusybox,
} from "./sandbox_tools.ts";

function checkPath(what: string, path: string): void {
  if (!isAbsolute(path) || normalize(path) !== path || path.includes("\0")) {
    throw new SandboxError("check the options", `${what} "${path}" is not a clean absolute path`);
  }
}

/**
 * Run a builder in the sandbox and wait for it, streaming its log.
 *
 * @param o What to run and how (see {@linkcode SandboxOptions}).
 * @returns How it ended.
 * @throws {SandboxUnavailableError} The sandbox cannot run on this machine.
 * @throws {SandboxError} Setting it up failed.
 *
 * @example Running busybox's `sh` as the builder
 * ```ts
 * import assert from "node:assert/strict";
 * import { runInSandbox } from "./sandbox.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/bb`);
 * await Deno.copyFile("/bin/busybox", `${dir}/bb/busybox`);
 * await Deno.chmod(`${dir}/bb/busybox`, 0o555);
 * await Deno.mkdir(`${dir}/build`);
 * let log = "";
 * const bb = "/nix/store/00000000000000000000000000000000-busybox";
 * const result = await runInSandbox({
 *   rootDir: `${dir}/root`, buildDir: `${dir}/build`,
 *   inputs: [{ logical: bb, physical: `${dir}/bb` }],
 *   outputs: { "/nix/store/11111111111111111111111111111111-x": `${dir}/out` },
 *   builder: `${bb}/busybox`, args: ["sh", "-c", "id; echo hi > $out"],
 *   env: { out: "/nix/store/11111111111111111111111111111111-x" },
 *   log: (chunk) => { log += new TextDecoder().decode(chunk); },
 * });
 * assert.equal(result.exitCode, 0);
 * assert.equal(log, "uid=1000(nixbld) gid=100(nixbld)\n");
 * assert.equal(await Deno.readTextFile(`${dir}/out`), "hi\n");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function runInSandbox(o: SandboxOptions): Promise<SandboxResult> {
  const storeDir = o.storeDir ?? DEFAULT_STORE_DIR;
  checkPath("storeDir", storeDir);
  checkPath("rootDir", o.rootDir);
  checkPath("buildDir", o.buildDir);
  for (const p of o.sandboxPaths ?? []) {
    checkPath("sandbox path", p.target);
    checkPath("sandbox path source", p.source);
  }
  for (const i of o.inputs) {
    checkPath("input", i.logical);
    if (!i.logical.startsWith(storeDir + "/")) {
      throw new SandboxError("check the options", `input "${i.logical}" is not in ${storeDir}`);
    }
  }
  const outputs = entriesOf(o.outputs);
  for (const [logical] of outputs) {
    checkPath("output", logical);
    if (!logical.startsWith(storeDir + "/")) {
      throw new SandboxError("check the options", `output "${logical}" is not in ${storeDir}`);
    }
  }
  if (!Deno.statSync(o.buildDir).isDirectory) {
    throw new SandboxError("check the options", `build directory ${o.buildDir} is not a directory`);
  }
  Deno.chmodSync(o.buildDir, 0o700); // Nix makes its build directory 0700
  const tools = await sandboxTools(o.tools);
  o.signal?.throwIfAborted();

  const readOnly = o.readOnlyInputs ?? true;
  let pty: Pty | undefined;
  try {
    // One read of the host's mounts for both: a killed build's root goes
    // first, then the new one's binds get their sources' flags.
    const hostMounts = readHostMounts();
    await removeSandboxRoot(o.rootDir, hostMounts);
    const prepared = prepareSandboxRoot(o, storeDir, readOnly, hostMounts);
    pty = Pty.open();
    const input = sandboxInput(o, { prepared, ptySlave: pty.slavePath });
    let child: Deno.ChildProcess;
    try {
      child = o.spares ? o.spares.take(tools.perl) : runnerCommand(tools.perl).spawn();
    } catch (e) {
      throw new SandboxUnavailableError(
        "perl",
        `cannot run ${tools.perl}: ${(e as Error).message}`,
      );
    }
    // The runner reads all of it before anything else; should it die first,
    // its stderr says why.
    const stdin = child.stdin.getWriter();
    stdin.write(input).then(() => stdin.close()).catch(() => {});
    const startTime = Date.now();
    let ended;
    try {
      ended = await superviseSandbox(o, child, pty, startTime);
    } catch (e) {
      // The set-up failed before the builder started: if the runner cannot
      // make its namespaces here at all, say that (and where to look).
      if (e instanceof SandboxError) await probeNamespaces(tools);
      throw e;
    }
    // The next build's runner starts while this one's outputs are moved and registered.
    o.spares?.prepare(tools.perl);
    return { ...ended, outputs: await moveOutputs(o.rootDir, outputs) };
  } finally {
    pty?.close();
    await removeSandboxRoot(o.rootDir);
  }
}
