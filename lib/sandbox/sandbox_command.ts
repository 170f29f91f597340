/**
 * Command assembly: everything the sandbox's processes run, written to the
 * control directory (the seccomp program, the helper script and its fstabs)
 * or passed as arguments, and the command Deno spawns:
 * `sh` (core limit, seccomp program on fd 3, bubblewrap's report on fd 4,
 * see {@linkcode sandboxInfoPath}) → `setarch ARCH -R`
 * (personality) → `bwrap` (user, ipc, uts, pid and, unless `network`,
 * network namespaces; uid 1000, gid 100, all capabilities; the seccomp
 * filter) → `busybox sh` running the setup program, whose arguments are the
 * tail's: the environment sorted by name, then
 * `start-stop-daemon -S -x BUILDER -a ARGV0 -- ARGS...`. The processes and
 * what each does are described in `sandbox_script.ts`.
 *
 * @module
 */
import { SANDBOX_GID, SANDBOX_UID } from "./sandbox_files.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { entriesOf, type SandboxOptions } from "./sandbox_options.ts";
import type { PreparedRoot } from "./sandbox_root.ts";
import { helperScript, setupScript, tailScript } from "./sandbox_script.ts";
import { type SandboxTools, SEARCH_PATH } from "./sandbox_tools.ts";
import { nixSeccompFilter, type SeccompArch } from "./seccomp_filter.ts";

function personality(platform: string): { arch: string; seccomp: SeccompArch } {
  const machine = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const linux32 = ["i686-linux", "armv7l-linux", "armv6l-linux"].includes(platform);
  return { arch: linux32 ? "linux32" : machine, seccomp: machine };
}

/**
 * Whether this kernel mounts a `proc` for another pid namespace
 * (`pidns=`, Linux 6.15 and later), from its release (`6.18.4-…`).
 */
function kernelHasProcPidns(release = Deno.osRelease()): boolean {
  const m = /^(\d+)\.(\d+)/.exec(release);
  if (!m) return false;
  const [major, minor] = [Number(m[1]), Number(m[2])];
  return major > 6 || (major === 6 && minor >= 15);
}

/**
 * Where bubblewrap writes its `--info-fd` report (`{"child-pid": N}`: its
 * init, pid 1 of the sandbox's outer pid namespace).
 *
 * @param control The control directory.
 * @returns The file's path.
 */
export function sandboxInfoPath(control: string): string {
  return `${control}/bwrap.info`;
}

/** What {@linkcode sandboxCommand} needs besides the run's options. */
export interface SandboxCommandInput {
  /** The host programs. */
  tools: SandboxTools;
  /** The control directory (written to: seccomp program, helper script, fstabs). */
  control: string;
  /** The root as prepared ({@linkcode prepareSandboxRoot}). */
  prepared: PreparedRoot;
  /** The log pty's slave path. */
  ptySlave: string;
}

/**
 * Write the sandbox's programs to the control directory and make the
 * command that starts it (not spawned yet).
 *
 * @param o The run's options.
 * @param c The tools, control directory, prepared root and pty.
 * @returns The command; its stderr carries the progress protocol.
 */
export function sandboxCommand(o: SandboxOptions, c: SandboxCommandInput): Deno.Command {
  const { tools, control, prepared } = c;
  const network = o.network ?? false;
  const { arch, seccomp } = personality(o.platform ?? "x86_64-linux");
  Deno.writeFileSync(`${control}/seccomp.bpf`, nixSeccompFilter(seccomp));
  const paths = { root: o.rootDir, control, ptySlave: c.ptySlave };
  const capLast = Number(Deno.readTextFileSync("/proc/sys/kernel/cap_last_cap").trim());
  const fstabs: string[] = [];
  Deno.writeTextFileSync(
    `${control}/helper.sh`,
    helperScript({
      fstabs,
      tools,
      paths,
      plan: prepared.plan,
      remount: prepared.remount,
      parking: prepared.parking,
      busyboxRealPath: tools.busybox,
      shmSize: o.shmSize ?? "50%",
      legacyProc: o.legacyProcMount ?? false,
      procPidns: kernelHasProcPidns(),
    }),
  );
  fstabs.forEach((text, i) => Deno.writeTextFileSync(`${control}/fstab.${i}`, text));
  const faults = o.faults ?? {};
  const setup = setupScript(tools, paths, tailScript(paths, capLast, faults), faults);

  const env = entriesOf(o.env).sort(([a], [b]) => compareUtf8(a, b));
  const builderPath = o.builder.includes("/") ? o.builder : `./${o.builder}`;
  const argv0 = o.builder.slice(o.builder.lastIndexOf("/") + 1);
  const tailArgs = [
    ...env.map(([k, v]) => `${k}=${v}`),
    "start-stop-daemon",
    "-S",
    "-x",
    builderPath,
    "-a",
    argv0,
    "--",
    ...o.args,
  ];
  const bwrapArgs = [
    "--unshare-user",
    "--uid",
    String(SANDBOX_UID),
    "--gid",
    String(SANDBOX_GID),
    "--cap-add",
    "ALL",
    "--unshare-ipc",
    "--unshare-uts",
    "--hostname",
    "localhost",
    ...(network ? [] : ["--unshare-net"]),
    "--unshare-pid",
    "--die-with-parent",
    "--dev-bind",
    "/",
    "/",
    "--chdir",
    "/",
    "--seccomp",
    "3",
    "--info-fd",
    "4",
    "--",
    tools.busybox,
    "sh",
    "-c",
    setup,
    "buildhost-sandbox",
    ...tailArgs,
  ];
  const wrapper = "ulimit -H -c unlimited 2>/dev/null; ulimit -S -c 0; " +
    'exec 3<"$1" 4>"$2" || exit 125; shift 2; exec "$@"';
  return new Deno.Command(tools.sh, {
    args: [
      "-c",
      wrapper,
      "buildhost-sandbox",
      `${control}/seccomp.bpf`,
      sandboxInfoPath(control),
      tools.setarch,
      arch,
      ...(o.impersonateLinux26 ? ["--uname-2.6"] : []),
      "-R",
      tools.bwrap,
      ...bwrapArgs,
    ],
    clearEnv: true,
    env: { PATH: SEARCH_PATH.join(":") },
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    // Giving uid/gid makes Deno fork and exec instead of posix_spawn, whose
    // child starts with glibc's internal signals 32 and 33 ignored; the
    // builder then inherits default dispositions, as under Nix.
    uid: Deno.uid() ?? 0,
    gid: Deno.gid() ?? 0,
  });
}
