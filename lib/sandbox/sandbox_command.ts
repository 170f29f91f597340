/**
 * Command assembly: the seccomp program and the runner's settings, written
 * to the control directory, and the command Deno spawns: `perl` running
 * {@linkcode SANDBOX_RUNNER_PROGRAM} (see `sandbox_runner_program.ts` for
 * its processes and what each does).
 *
 * @module
 */
import { compareUtf8 } from "../wire/utf8_order.ts";
import { entriesOf, type SandboxOptions } from "./sandbox_options.ts";
import type { PreparedRoot } from "./sandbox_root.ts";
import { SANDBOX_RUNNER_PROGRAM } from "./sandbox_runner_program.ts";
import { type SandboxTools, SEARCH_PATH } from "./sandbox_tools.ts";
import { nixSeccompFilter, type SeccompArch } from "./seccomp_filter.ts";

function personality(platform: string): { linux32: boolean; seccomp: SeccompArch } {
  const machine = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const linux32 = ["i686-linux", "armv7l-linux", "armv6l-linux"].includes(platform);
  return { linux32, seccomp: machine };
}

/**
 * Where the runner reports the sandbox's init, pid 1 of its outer pid
 * namespace, as bubblewrap's `--info-fd` does (`{"child-pid": N}`).
 *
 * @param control The control directory.
 * @returns The file's path.
 */
export function sandboxInfoPath(control: string): string {
  return `${control}/init.info`;
}

/** What {@linkcode sandboxCommand} needs besides the run's options. */
export interface SandboxCommandInput {
  /** The host programs. */
  tools: SandboxTools;
  /** The control directory (written to: seccomp program, settings). */
  control: string;
  /** The root as prepared ({@linkcode prepareSandboxRoot}). */
  prepared: PreparedRoot;
  /** The log pty's slave path. */
  ptySlave: string;
}

/** `personality(2)` flags: `ADDR_NO_RANDOMIZE`, `PER_LINUX32`, `UNAME26`. */
const ADDR_NO_RANDOMIZE = 0x0040000;
const PER_LINUX32 = 0x0008;
const UNAME26 = 0x0020000;

/**
 * The `mount(2)` flags of a remount given as `mount -o` options
 * (`remount,bind,ro,nosuid,...`).
 *
 * @param options The options.
 * @returns The flags.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { remountFlags } from "./sandbox_command.ts";
 * assert.equal(remountFlags("remount,bind,ro,nosuid,dev,exec"), 0x20 | 0x1000 | 1 | 2);
 * ```
 */
export function remountFlags(options: string): number {
  const bits: Record<string, number> = {
    remount: 0x20,
    bind: 0x1000,
    ro: 1,
    nosuid: 2,
    nodev: 4,
    noexec: 8,
  };
  return options.split(",").reduce((flags, o) => flags | (bits[o] ?? 0), 0);
}

/**
 * The signals a child of this process made by fork and exec starts with
 * ignored (`SigIgn` of `/proc/self/status`, 16 hex digits): the ones this
 * process ignores, but SIGPIPE, which Deno resets for its children. The
 * builder gets exactly these, as under a Nix started by this process.
 *
 * @returns The mask.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { forkIgnoredSignals } from "./sandbox_command.ts";
 * assert.match(forkIgnoredSignals(), /^[0-9a-f]{16}$/);
 * ```
 */
export function forkIgnoredSignals(): string {
  const m = /^SigIgn:\s*([0-9a-f]{16})$/m.exec(Deno.readTextFileSync("/proc/self/status"));
  const ignored = BigInt("0x" + (m?.[1] ?? "0")) & ~(1n << 12n); // SIGPIPE is signal 13
  return ignored.toString(16).padStart(16, "0");
}

/**
 * Write the sandbox's settings and seccomp program to the control
 * directory and make the command that starts it (not spawned yet): perl
 * running {@linkcode SANDBOX_RUNNER_PROGRAM}.
 *
 * @param o The run's options.
 * @param c The tools, control directory, prepared root and pty.
 * @returns The command; its stderr carries the progress protocol.
 */
export function sandboxCommand(o: SandboxOptions, c: SandboxCommandInput): Deno.Command {
  const { tools, control, prepared } = c;
  const network = o.network ?? false;
  const { linux32, seccomp } = personality(o.platform ?? "x86_64-linux");
  Deno.writeFileSync(`${control}/seccomp.bpf`, nixSeccompFilter(seccomp));
  const physical = (target: string) => (target === "/" ? o.rootDir : o.rootDir + target);
  const remount = (target: string) => String(remountFlags(prepared.remount.get(target) ?? ""));
  const words: string[] = [
    seccomp,
    String(
      ADDR_NO_RANDOMIZE | (linux32 ? PER_LINUX32 : 0) | (o.impersonateLinux26 ? UNAME26 : 0),
    ),
    forkIgnoredSignals(),
    network ? "1" : "",
    o.rootDir,
    prepared.parking,
    c.ptySlave,
    `${control}/seccomp.bpf`,
    `${control}/status`,
    sandboxInfoPath(control),
  ];
  for (const op of prepared.plan) {
    const at = physical(op.target);
    switch (op.kind) {
      case "self":
        words.push("self", at, op.shared ? "1" : "", remount(op.target));
        break;
      case "bind":
        words.push("bind", op.source, at, remount(op.target));
        break;
      case "proc":
        words.push("proc", at);
        break;
      case "tmpfs":
        words.push("tmpfs", at, `size=${o.shmSize ?? "50%"}`);
        break;
      case "devpts":
        words.push("devpts", at, "newinstance,mode=0620");
        break;
    }
  }
  const env = entriesOf(o.env).sort(([a], [b]) => compareUtf8(a, b));
  const builderPath = o.builder.includes("/") ? o.builder : `./${o.builder}`;
  const argv0 = o.builder.slice(o.builder.lastIndexOf("/") + 1);
  words.push(
    "end",
    String(env.length),
    ...env.map(([k, v]) => `${k}=${v}`),
    builderPath,
    argv0,
    ...o.args,
  );
  const settings = `${control}/sandbox.settings`;
  Deno.writeTextFileSync(settings, words.map((w) => w + "\0").join(""));
  return new Deno.Command(tools.perl, {
    args: ["-e", SANDBOX_RUNNER_PROGRAM, settings, String(Deno.pid)],
    clearEnv: true,
    env: { PATH: SEARCH_PATH.join(":") },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  });
}
