/**
 * Command assembly: the runner's stdin (the seccomp program and its
 * settings) and the command Deno spawns (ahead of need, see
 * `runner_spares.ts`): `perl` running
 * {@linkcode SANDBOX_RUNNER_PROGRAM} (see `sandbox_runner_program.ts` for
 * its processes and what each does).
 *
 * @module
 */
import { compareUtf8 } from "../wire/utf8_order.ts";
import { entriesOf, type SandboxOptions } from "./sandbox_options.ts";
import { SandboxError } from "./sandbox_error.ts";
import { physicalTarget, type PreparedRoot } from "./sandbox_root.ts";
import { SANDBOX_RUNNER_PROGRAM } from "./sandbox_runner_program.ts";
import { SEARCH_PATH } from "./sandbox_tools.ts";
import { nixSeccompFilter, type SeccompArch } from "./seccomp_filter.ts";

function personality(platform: string): { linux32: boolean; seccomp: SeccompArch } {
  const machine = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const linux32 = ["i686-linux", "armv7l-linux", "armv6l-linux"].includes(platform);
  return { linux32, seccomp: machine };
}

/** What {@linkcode sandboxInput} needs besides the run's options. */
export interface SandboxCommandInput {
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
 * The command that starts a sandbox runner (not spawned yet): perl running
 * {@linkcode SANDBOX_RUNNER_PROGRAM}, which then waits for its settings on
 * stdin ({@linkcode sandboxInput}); its stderr carries the progress
 * protocol. The same for every build of this process, so it can be
 * started ahead (see `runner_spares.ts`).
 *
 * @param perl The Perl program.
 * @returns The command.
 */
export function runnerCommand(perl: string): Deno.Command {
  return new Deno.Command(perl, {
    args: ["-e", SANDBOX_RUNNER_PROGRAM, "buildhost-sandbox", String(Deno.pid)],
    clearEnv: true,
    env: { PATH: SEARCH_PATH.join(":") },
    stdin: "piped",
    stdout: "null",
    stderr: "piped",
  });
}

/**
 * What a runner reads on its stdin for one build: the seccomp program, the
 * settings, the mounts, the environment and the builder's command line.
 *
 * @param o The run's options.
 * @param c The tools, prepared root and pty.
 * @returns The bytes.
 */
export function sandboxInput(o: SandboxOptions, c: SandboxCommandInput): Uint8Array {
  const { prepared } = c;
  const network = o.network ?? false;
  const { linux32, seccomp } = personality(o.platform ?? "x86_64-linux");
  const remount = (target: string) => String(prepared.remount.get(target) ?? 0);
  const settings: string[] = [
    seccomp,
    String(
      ADDR_NO_RANDOMIZE | (linux32 ? PER_LINUX32 : 0) | (o.impersonateLinux26 ? UNAME26 : 0),
    ),
    forkIgnoredSignals(),
    network ? "1" : "",
    o.rootDir,
    prepared.parking,
    c.ptySlave,
  ];
  for (const op of prepared.plan) {
    const at = physicalTarget(o.rootDir, op.target);
    switch (op.kind) {
      case "self":
        settings.push("self", at, op.shared ? "1" : "", remount(op.target));
        break;
      case "bind":
        settings.push("bind", op.source, at, remount(op.target));
        break;
      case "proc":
        settings.push("proc", at);
        break;
      case "tmpfs":
        settings.push("tmpfs", at, `size=${o.shmSize ?? "50%"}`);
        break;
      case "devpts":
        settings.push("devpts", at, "newinstance,mode=0620");
        break;
    }
  }
  const env = entriesOf(o.env).sort(([a], [b]) => compareUtf8(a, b));
  const builderPath = o.builder.includes("/") ? o.builder : `./${o.builder}`;
  const argv0 = o.builder.slice(o.builder.lastIndexOf("/") + 1);
  settings.push(
    "end",
    String(env.length),
    ...env.map(([k, v]) => `${k}=${v}`),
    builderPath,
    argv0,
    ...o.args,
  );
  // A C string ends at its first NUL: no environment entry, argument or
  // path can hold one (and the settings' words end with one).
  const bad = settings.find((w) => w.includes("\0"));
  if (bad !== undefined) {
    throw new SandboxError(
      "check the options",
      `${JSON.stringify(bad.slice(0, 80))} contains a NUL byte, which no argument, ` +
        "environment variable or path can hold",
    );
  }
  const filter = nixSeccompFilter(seccomp);
  const words = new TextEncoder().encode(settings.map((w) => w + "\0").join(""));
  const head = new TextEncoder().encode(`${filter.length}\n`);
  const input = new Uint8Array(head.length + filter.length + words.length);
  input.set(head);
  input.set(filter, head.length);
  input.set(words, head.length + filter.length);
  return input;
}
