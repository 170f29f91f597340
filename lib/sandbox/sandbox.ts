/**
 * Run a builder in a sandbox that looks, from inside, the way Nix 2.8's
 * sandbox does (see `docs/sandbox.md` for every fact and how it was
 * established), made with bubblewrap and a static busybox.
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
 * @module
 */
import { dirname, isAbsolute, normalize } from "node:path";
import { DEFAULT_STORE_DIR } from "../store_path/store_path.ts";
import { compareUtf8 } from "../wire/utf8_order.ts";
import { removeTree } from "../store/restore_path.ts";
import { mountOf, readHostMounts, remountOptions } from "./host_mounts.ts";
import { locateOutput } from "./output_location.ts";
import { OwnedTempDir, reclaimStale } from "./owned_temp_dir.ts";
import { childrenOf } from "./process_tree.ts";
import { Pty } from "./pty.ts";
import { SandboxError, SandboxUnavailableError } from "./sandbox_error.ts";
import {
  ETC_HOSTS,
  etcGroup,
  etcPasswd,
  NSSWITCH_CONF,
  SANDBOX_BUILD_DIR,
  SANDBOX_GID,
  SANDBOX_UID,
} from "./sandbox_files.ts";
import { type BindSpec, type MountOp, mountPlan } from "./sandbox_mounts.ts";
import { helperScript, type SandboxFaults, setupScript, tailScript } from "./sandbox_script.ts";
export type { SandboxFaults } from "./sandbox_script.ts";
import { nixSeccompFilter, type SeccompArch } from "./seccomp_filter.ts";

/** A store path the builder may read: where it appears and where it is. */
export interface SandboxInput {
  /** The path inside, e.g. `/nix/store/…-busybox`. */
  logical: string;
  /** The path on this machine, e.g. `/tmp/store/nix/store/…-busybox`. */
  physical: string;
}

/** An extra host path to show inside (Nix's `sandbox-paths`). */
export interface SandboxPath {
  /** The path inside. */
  target: string;
  /** The host path. */
  source: string;
  /** Skip it if the source does not exist (Nix: a trailing `?`). */
  optional?: boolean;
}

/** The host programs the sandbox uses (absolute paths). */
export interface SandboxTools {
  /** bubblewrap. */
  bwrap: string;
  /** A statically linked busybox. */
  busybox: string;
  /** util-linux `setarch`. */
  setarch: string;
  /** util-linux `setpriv`. */
  setpriv: string;
  /** util-linux `unshare`. */
  unshare: string;
  /** util-linux `mount`. */
  mount: string;
  /** A POSIX shell. */
  sh: string;
}

/** Why the run ended. */
export type SandboxEndReason =
  /** The builder exited (or was killed by a signal of its own). */
  | "exited"
  /** `timeoutMs` passed. */
  | "timeout"
  /** `maxSilentMs` passed without output. */
  | "silent"
  /** The log grew over `maxLogBytes`. */
  | "logLimit"
  /** The `signal` was aborted. */
  | "cancelled";

/** What {@linkcode runInSandbox} needs. */
export interface SandboxOptions {
  /** The logical store directory (default `/nix/store`). */
  storeDir?: string;
  /**
   * A physical directory to build the sandbox root in (Nix uses
   * `<store>/<drv>.chroot`). Removed first if it exists, and afterwards.
   */
  rootDir: string;
  /** The physical build directory (`/build` inside); must exist. */
  buildDir: string;
  /** Where the control directory goes (default `$TMPDIR`, else `/tmp`). */
  tempDir?: string;
  /** The input closure. */
  inputs: readonly SandboxInput[];
  /**
   * The outputs: logical path → physical path where the output is moved
   * after the builder exits (it must not exist; its parent must).
   */
  outputs: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** The builder: an absolute path inside, or a path relative to `/build`. */
  builder: string;
  /** Its arguments (`argv[1...]`; `argv[0]` is the builder's base name). */
  args: readonly string[];
  /** The environment; passed sorted by name, as Nix does. */
  env: ReadonlyMap<string, string> | Readonly<Record<string, string>>;
  /** Extra host paths. */
  sandboxPaths?: readonly SandboxPath[];
  /** Share the host's network (fixed-output derivations). */
  network?: boolean;
  /** Bind `/dev/kvm` (default: when it can be opened read-write, as Nix's default `kvm` feature). */
  kvm?: boolean;
  /** The derivation's platform, for the personality (default `x86_64-linux`). */
  platform?: string;
  /** Report Linux 2.6 as the kernel (Nix's `impersonate-linux-26`). */
  impersonateLinux26?: boolean;
  /** Inputs and sandbox paths read-only (default `true`; `false` is exactly Nix). */
  readOnlyInputs?: boolean;
  /** `/dev/shm` size (Nix's `sandbox-shm-size`, default `50%`). */
  shmSize?: string;
  /**
   * Mount `/proc` the way kernels before 6.15 need (from inside the new pid
   * namespace, one pid used up). Used automatically when the kernel refuses
   * `pidns=`; setting it forces that path (for tests).
   */
  legacyProcMount?: boolean;
  /** Kill the build after this long (ms). */
  timeoutMs?: number;
  /** Kill the build after this long without output (ms). */
  maxSilentMs?: number;
  /** Kill the build when its log grows over this many bytes. */
  maxLogBytes?: number;
  /** Kill the build when aborted. */
  signal?: AbortSignal;
  /** Receives the log (the builder's stdout and stderr, merged). */
  log: (chunk: Uint8Array) => void | Promise<void>;
  /** Host programs (default: found in `/usr/bin`, `/bin`, `/usr/sbin`, `/sbin`). */
  tools?: Partial<SandboxTools>;
  /** Rare orderings forced for tests (see {@linkcode SandboxFaults}); never in normal use. */
  faults?: SandboxFaults;
}

/** How a sandboxed run ended. */
export interface SandboxResult {
  /** Why it ended. */
  reason: SandboxEndReason;
  /** The builder's exit code, if it exited. */
  exitCode: number | null;
  /** The signal that killed the builder, if one did. */
  signal: number | null;
  /** Bytes of log passed to the sink. */
  logBytes: number;
  /** Logical paths of the outputs that existed and were moved. */
  outputs: string[];
  /** When the builder was started (ms since the epoch). */
  startTime: number;
  /** When it was over (ms since the epoch). */
  stopTime: number;
}

const SEARCH_PATH = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];
const PROTOCOL = "buildhost-sandbox: ";
/** The start of control directories' names (in `$TMPDIR`). */
const CONTROL_PREFIX = "buildhost-sandbox-";
/** How long to keep reading the log and stderr after bubblewrap exited. */
const EXIT_GRACE_MS = 2000;
/** How long bubblewrap may take to exit once its init was killed. */
const KILL_GRACE_MS = 10_000;

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

function isStaticElf(path: string): boolean {
  const f = Deno.openSync(path);
  try {
    const head = new Uint8Array(64);
    if (f.readSync(head) !== 64) return false;
    if (head[0] !== 0x7f || head[1] !== 0x45 || head[4] !== 2 || head[5] !== 1) return false;
    const v = new DataView(head.buffer);
    const phoff = Number(v.getBigUint64(32, true));
    const phentsize = v.getUint16(54, true);
    const phnum = v.getUint16(56, true);
    const ph = new Uint8Array(phentsize * phnum);
    f.seekSync(phoff, Deno.SeekMode.Start);
    if (f.readSync(ph) !== ph.length) return false;
    const pv = new DataView(ph.buffer);
    for (let i = 0; i < phnum; i++) if (pv.getUint32(i * phentsize, true) === 3) return false; // PT_INTERP
    return true;
  } finally {
    f.close();
  }
}

const TOOL_PACKAGES: Record<keyof SandboxTools, string> = {
  bwrap: "Debian package bubblewrap",
  busybox: "Debian package busybox-static",
  setarch: "Debian package util-linux",
  setpriv: "Debian package util-linux",
  unshare: "Debian package util-linux",
  mount: "Debian package mount",
  sh: "a POSIX shell at /bin/sh",
};

let checked: Promise<SandboxTools> | undefined;

/**
 * Find the sandbox's host programs and check that user namespaces work,
 * once per process (later calls return the same answer).
 *
 * @param overrides Paths to use instead of searching.
 * @returns The programs.
 * @throws {SandboxUnavailableError} Something is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sandboxTools } from "./sandbox.ts";
 * const tools = await sandboxTools();
 * assert.ok(tools.bwrap.endsWith("bwrap"));
 * ```
 */
export function sandboxTools(overrides: Partial<SandboxTools> = {}): Promise<SandboxTools> {
  if (Object.keys(overrides).length > 0) return findTools(overrides);
  checked ??= findTools({});
  return checked;
}

async function findTools(overrides: Partial<SandboxTools>): Promise<SandboxTools> {
  const find = (name: keyof SandboxTools, file: string): string => {
    const given = overrides[name];
    if (given !== undefined) {
      if (!exists(given)) {
        throw new SandboxUnavailableError(name, `${given} does not exist`);
      }
      return given;
    }
    for (const dir of SEARCH_PATH) if (exists(`${dir}/${file}`)) return `${dir}/${file}`;
    throw new SandboxUnavailableError(
      file,
      `not found in ${SEARCH_PATH.join(":")} (install ${TOOL_PACKAGES[name]})`,
    );
  };
  const tools: SandboxTools = {
    bwrap: find("bwrap", "bwrap"),
    busybox: find("busybox", "busybox"),
    setarch: find("setarch", "setarch"),
    setpriv: find("setpriv", "setpriv"),
    unshare: find("unshare", "unshare"),
    mount: find("mount", "mount"),
    sh: overrides.sh ?? "/bin/sh",
  };
  tools.busybox = Deno.realPathSync(tools.busybox);
  if (!isStaticElf(tools.busybox)) {
    throw new SandboxUnavailableError(
      "a static busybox",
      `${tools.busybox} is dynamically linked (install Debian package busybox-static)`,
    );
  }
  const max = Deno.readTextFileSync("/proc/sys/user/max_user_namespaces").trim();
  if (max === "0") {
    throw new SandboxUnavailableError(
      "user namespaces",
      "/proc/sys/user/max_user_namespaces is 0",
    );
  }
  const probe = await new Deno.Command(tools.bwrap, {
    args: [
      "--unshare-user",
      "--uid",
      String(SANDBOX_UID),
      "--gid",
      String(SANDBOX_GID),
      "--unshare-pid",
      "--unshare-net",
      "--dev-bind",
      "/",
      "/",
      tools.busybox,
      "true",
    ],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
  if (!probe.success) {
    const err = new TextDecoder().decode(probe.stderr).trim();
    throw new SandboxUnavailableError(
      "user namespaces",
      `bubblewrap cannot create them here: ${err} (check /proc/sys/user/max_user_namespaces` +
        ` and /proc/sys/kernel/unprivileged_userns_clone)`,
    );
  }
  return tools;
}

function mkdirs(path: string): void {
  // As Nix's createDirs: each missing component with mode 0755.
  if (exists(path)) return;
  mkdirs(dirname(path));
  Deno.mkdirSync(path);
  Deno.chmodSync(path, 0o755);
}

/** Nix's default `kvm` system feature: `/dev/kvm` can be opened read-write. */
function kvmAccessible(): boolean {
  try {
    Deno.openSync("/dev/kvm", { read: true, write: true }).close();
    return true;
  } catch {
    return false;
  }
}

function writeFile(path: string, contents: string): void {
  Deno.writeTextFileSync(path, contents);
  Deno.chmodSync(path, 0o644);
}

function entries(
  m: ReadonlyMap<string, string> | Readonly<Record<string, string>>,
): [string, string][] {
  return m instanceof Map ? [...m.entries()] : Object.entries(m);
}

function personality(platform: string): { arch: string; seccomp: SeccompArch } {
  const machine = Deno.build.arch === "aarch64" ? "aarch64" : "x86_64";
  const linux32 = ["i686-linux", "armv7l-linux", "armv6l-linux"].includes(platform);
  return { arch: linux32 ? "linux32" : machine, seccomp: machine };
}

function checkPath(what: string, path: string): void {
  if (!isAbsolute(path) || normalize(path) !== path || path.includes("\0")) {
    throw new SandboxError("check the options", `${what} "${path}" is not a clean absolute path`);
  }
}

/**
 * Remove the sandbox root. Its mounts live only in the sandbox's mount
 * namespace, so on the host it is plain directories; should a mount ever
 * show under it here, refuse rather than delete through it.
 */
async function removeRoot(root: string): Promise<void> {
  const mounted = readHostMounts().find((m) => m.mountPoint.startsWith(root + "/"));
  if (mounted || readHostMounts().some((m) => m.mountPoint === root)) {
    throw new SandboxError(
      "remove the sandbox root",
      `${mounted?.mountPoint ?? root} is mounted on the host; not removing ${root}`,
    );
  }
  await removeTree(root);
}

async function moveTree(from: string, to: string): Promise<void> {
  try {
    Deno.renameSync(from, to);
  } catch (e) {
    if (!(e instanceof Error && /cross-device|EXDEV/i.test(e.message))) throw e;
    const r = new Deno.Command("cp", { args: ["-a", "--", from, to] }).outputSync();
    if (!r.success) {
      throw new SandboxError(
        `move output ${from}`,
        new TextDecoder().decode(r.stderr).trim(),
      );
    }
    await removeTree(from);
  }
}

/** Everything prepared on disk before the sandbox starts. */
interface Prepared {
  plan: MountOp[];
  remount: Map<string, string>;
  parking: string;
}

function prepareRoot(o: SandboxOptions, storeDir: string, readOnly: boolean): Prepared {
  const root = o.rootDir;
  const network = o.network ?? false;
  Deno.mkdirSync(root);
  Deno.chmodSync(root, 0o750);
  Deno.mkdirSync(`${root}/tmp`);
  Deno.chmodSync(`${root}/tmp`, 0o1777);
  Deno.mkdirSync(`${root}/etc`);
  Deno.chmodSync(`${root}/etc`, 0o755);
  writeFile(`${root}/etc/group`, etcGroup());
  if (!network) writeFile(`${root}/etc/hosts`, ETC_HOSTS);
  mkdirs(root + storeDir);
  Deno.chmodSync(root + storeDir, 0o1775);

  const inputBinds: BindSpec[] = [];
  for (const input of o.inputs) {
    const st = Deno.statSync(input.physical);
    if (st.isDirectory || readOnly) {
      inputBinds.push({ target: input.logical, source: input.physical });
    } else {
      try {
        Deno.linkSync(input.physical, root + input.logical);
      } catch {
        Deno.copyFileSync(input.physical, root + input.logical);
      }
    }
  }
  writeFile(`${root}/etc/passwd`, etcPasswd(SANDBOX_BUILD_DIR));

  const sandboxPaths = (o.sandboxPaths ?? []).map((p) => ({ ...p }));
  const devBound = sandboxPaths.some((p) => p.target === "/dev");
  const kvm = o.kvm ?? kvmAccessible();
  const plan = mountPlan({
    storeDir,
    buildDir: o.buildDir,
    sandboxPaths,
    inputDirs: inputBinds,
    outputs: entries(o.outputs).map(([logical]) => logical),
    network,
    kvm,
    readOnly,
    stat: (p) => {
      try {
        return { directory: Deno.statSync(p).isDirectory };
      } catch {
        return null;
      }
    },
  }, { devShm: exists("/dev/shm"), ptmx: exists("/dev/pts/ptmx") });

  if (!devBound) {
    mkdirs(`${root}/dev/shm`);
    mkdirs(`${root}/dev/pts`);
    Deno.symlinkSync("/proc/self/fd", `${root}/dev/fd`);
    Deno.symlinkSync("/proc/self/fd/0", `${root}/dev/stdin`);
    Deno.symlinkSync("/proc/self/fd/1", `${root}/dev/stdout`);
    Deno.symlinkSync("/proc/self/fd/2", `${root}/dev/stderr`);
  }
  if (network) writeFile(`${root}/etc/nsswitch.conf`, NSSWITCH_CONF);

  const hostMounts = readHostMounts();
  const remount = new Map<string, string>();
  const rootMount = mountOf(hostMounts, Deno.realPathSync(root));
  for (const op of plan) {
    const at = root + (op.target === "/" ? "" : op.target);
    switch (op.kind) {
      case "self":
        remount.set(op.target, remountOptions(rootMount, false));
        break;
      case "bind": {
        if (op.directory) mkdirs(at);
        else {
          mkdirs(dirname(at));
          if (!exists(at)) writeFile(at, "");
        }
        remount.set(
          op.target,
          remountOptions(mountOf(hostMounts, Deno.realPathSync(op.source)), op.readOnly),
        );
        break;
      }
      case "proc":
        mkdirs(at);
        break;
      case "tmpfs":
        mkdirs(at);
        break;
      case "devpts":
        mkdirs(at);
        Deno.symlinkSync("/dev/pts/ptmx", `${root}/dev/ptmx`);
        break;
    }
  }
  const targets = new Set(plan.map((op) => op.target));
  const parking = ["/tmp", "/etc", "/dev"].find((d) => !targets.has(d) && exists(root + d));
  if (!parking) {
    throw new SandboxError("prepare the root", "no directory to park the old root on");
  }
  return { plan, remount, parking };
}

/** Parse busybox time's `-o` output. */
function parseStatus(text: string | null): { exitCode: number | null; signal: number | null } {
  if (text === null) return { exitCode: null, signal: null };
  const sig = /Command terminated by signal (\d+)/.exec(text);
  if (sig) return { exitCode: null, signal: Number(sig[1]) };
  const code = /Command exited with non-zero status (\d+)/.exec(text);
  if (code) return { exitCode: Number(code[1]), signal: null };
  const plain = /^(\d+)\s*$/m.exec(text);
  return { exitCode: plain ? Number(plain[1]) : null, signal: null };
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
  const outputs = entries(o.outputs);
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
  const network = o.network ?? false;
  // The control directory (fifos, scripts, status) is locked while in use;
  // those of builds whose process was killed are removed first.
  const tmp = o.tempDir || Deno.env.get("TMPDIR") || "/tmp";
  await reclaimStale(tmp, CONTROL_PREFIX);
  const owned = OwnedTempDir.create(tmp, CONTROL_PREFIX);
  const control = owned.path;
  let pty: Pty | undefined;
  try {
    await removeRoot(o.rootDir);
    const prepared = prepareRoot(o, storeDir, readOnly);
    const { arch, seccomp } = personality(o.platform ?? "x86_64-linux");
    Deno.writeFileSync(`${control}/seccomp.bpf`, nixSeccompFilter(seccomp));
    pty = Pty.open();
    const paths = { root: o.rootDir, control, ptySlave: pty.slavePath };
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
      }),
    );
    fstabs.forEach((text, i) => Deno.writeTextFileSync(`${control}/fstab.${i}`, text));
    const faults = o.faults ?? {};
    const setup = setupScript(tools, paths, tailScript(paths, capLast, faults), faults);

    const env = entries(o.env).sort(([a], [b]) => compareUtf8(a, b));
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
      "--",
      tools.busybox,
      "sh",
      "-c",
      setup,
      "buildhost-sandbox",
      ...tailArgs,
    ];
    const wrapper =
      'ulimit -H -c unlimited 2>/dev/null; ulimit -S -c 0; exec 3<"$1" || exit 125; ' +
      'shift; exec "$@"';
    const child = new Deno.Command(tools.sh, {
      args: [
        "-c",
        wrapper,
        "buildhost-sandbox",
        `${control}/seccomp.bpf`,
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
    }).spawn();
    const startTime = Date.now();
    return await supervise(o, child, pty, control, outputs, startTime);
  } finally {
    pty?.close();
    try {
      await removeRoot(o.rootDir);
    } finally {
      await owned.remove();
    }
  }
}

async function supervise(
  o: SandboxOptions,
  child: Deno.ChildProcess,
  pty: Pty,
  control: string,
  outputs: [string, string][],
  startTime: number,
): Promise<SandboxResult> {
  let builderPid: number | undefined;
  let ready = false;
  const failures: string[] = [];
  let diagnostics = "";
  let reason: SandboxEndReason = "exited";
  let killed = false;

  const kill = (why: SandboxEndReason) => {
    if (killed) return;
    killed = true;
    reason = why;
    if (builderPid !== undefined) {
      try {
        Deno.kill(builderPid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    // bubblewrap's init (pid 1 of the sandbox's outer pid namespace) rather
    // than bubblewrap itself: its death has the kernel kill everything left
    // in the namespace, and bubblewrap exits once that is done, so that
    // when the child's status comes nothing of the build is left. Killing
    // bubblewrap would end it at once, its namespace still being emptied.
    const inits = childrenOf(child.pid);
    for (const pid of inits) {
      try {
        Deno.kill(pid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    const killBubblewrap = () => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone already
      }
    };
    if (inits.length === 0) killBubblewrap();
    else {
      // Should it not exit for a long while all the same, stop waiting.
      const timer = setTimeout(killBubblewrap, KILL_GRACE_MS);
      child.status.finally(() => clearTimeout(timer));
    }
  };
  const onAbort = () => kill("cancelled");
  o.signal?.addEventListener("abort", onAbort);
  if (o.signal?.aborted) kill("cancelled");

  let lastOutput = startTime;
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stderrDone = (async () => {
    let pending = "";
    for (;;) {
      const { value: chunk, done } = await stderr.read();
      if (done) break;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(PROTOCOL + "pid ")) {
          builderPid = Number(line.slice(PROTOCOL.length + 4));
          pty.closeSlave();
          if (killed) kill(reason);
        } else if (line === PROTOCOL + "ready") {
          ready = true;
          lastOutput = Date.now(); // silence is the builder's, not the set-up's
        } else if (line.startsWith(PROTOCOL + "failed")) {
          failures.push(line.slice(PROTOCOL.length));
        } else if (diagnostics.length < 65536) {
          diagnostics += line + "\n";
        }
      }
      if (pending.length > 65536) pending = pending.slice(-65536); // a line without end
    }
    if (pending && diagnostics.length < 65536) diagnostics += pending;
  })();
  /**
   * Wait for the end of stderr, but once bubblewrap is gone no longer than
   * a grace period: nothing of the build is left then (its pid namespace
   * died with it), so the pipe is closed already, and should a process
   * outside it ever hold the pipe, the build still ends.
   */
  const stderrEnded = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        stderr.cancel().catch(() => {});
        resolve();
      }, EXIT_GRACE_MS);
    });
    await Promise.race([stderrDone.catch(() => {}), grace]);
    clearTimeout(timer);
  };
  let exitedAt: number | undefined;
  const status = child.status.then((s) => {
    exitedAt = Date.now();
    pty.closeSlave();
    return s;
  });

  const buf = new Uint8Array(65536);
  let logBytes = 0;
  try {
    for (;;) {
      const now = Date.now();
      let wait = exitedAt !== undefined ? 50 : 1000;
      if (!killed && o.timeoutMs !== undefined) {
        if (now - startTime >= o.timeoutMs) kill("timeout");
        else wait = Math.min(wait, startTime + o.timeoutMs - now);
      }
      if (!killed && o.maxSilentMs !== undefined) {
        if (now - lastOutput >= o.maxSilentMs) kill("silent");
        else wait = Math.min(wait, lastOutput + o.maxSilentMs - now);
      }
      const r = await pty.read(buf, Math.max(wait, 1));
      if (r === "eof") break;
      if (r === "timeout") {
        // Once bubblewrap is gone every holder of the slave is gone too (they
        // all lived in the builder's pid namespace), so EOF follows at once;
        // do not wait for it forever all the same.
        if (exitedAt !== undefined && now - exitedAt > EXIT_GRACE_MS) break;
        continue;
      }
      if (killed) continue; // drain without logging
      logBytes += r;
      if (o.maxLogBytes !== undefined && logBytes > o.maxLogBytes) {
        logBytes -= r;
        kill("logLimit");
        continue;
      }
      lastOutput = Date.now();
      await o.log(buf.slice(0, r));
    }
    await status;
    await stderrEnded();
  } catch (e) {
    // The log sink or the pty failed: stop the build before giving up.
    kill("cancelled");
    await status;
    await stderrEnded();
    throw e;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  const stopTime = Date.now();

  if (!killed && (failures.length > 0 || !ready)) {
    throw new SandboxError(
      "start the builder",
      [...failures, diagnostics.trim()].filter((s) => s !== "").join("\n") ||
        "the sandbox exited before the builder started",
    );
  }
  let statusText: string | null = null;
  try {
    statusText = Deno.readTextFileSync(`${control}/status`);
  } catch {
    // time did not finish (killed)
  }
  // A build that was killed ended by SIGKILL, whatever raced to report it.
  // util-linux's unshare passes a child's death by signal on by killing
  // itself with that signal, except SIGKILL: it cannot reset its handler,
  // says so and exits 1. Its message tells that the builder got SIGKILL.
  const sigkilled = killed || /unshare: sigprocmask unblock failed/.test(diagnostics);
  const { exitCode, signal } = sigkilled ? { exitCode: null, signal: 9 } : parseStatus(statusText);

  const moved: string[] = [];
  for (const [logical, physical] of outputs) {
    // Never through a symlink the builder put on the way (it owns the root).
    const at = locateOutput(o.rootDir, logical);
    if (at === undefined) continue;
    await moveTree(at, physical);
    moved.push(logical);
  }
  return { reason, exitCode, signal, logBytes, outputs: moved, startTime, stopTime };
}
