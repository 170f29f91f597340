/**
 * The shell programs that set the sandbox up inside bubblewrap, run by a
 * static busybox (it must keep working after the host filesystem is gone).
 *
 * Three processes, all in the user namespace bubblewrap made (uid 1000,
 * gid 100, all capabilities as ambient ones) and in a pid namespace of
 * their own (bubblewrap's `--unshare-pid`), whose first process is
 * bubblewrap's init: when setup ends, that init ends and the kernel kills
 * whatever is left in the namespace. Once bubblewrap has exited, no process
 * of the build is left, whatever race a parent-death signal lost (a helper
 * that outlived its parent once held the log channels open for ever).
 *
 * - **setup** (`-c` program; bubblewrap's child): makes the two sync fifos
 *   (`up`: tail to helper; `go`: helper to tail), opens both ends of both
 *   and removes their names, starts the helper in the background, then
 *   becomes `busybox time` running util-linux
 *   `unshare --pid --fork --kill-child` running the tail. `time` writes the
 *   tail's exact wait status (exit code or signal) to a file. Killing
 *   bubblewrap (`--die-with-parent`: also when the caller dies) kills its
 *   init, and with it everything in the namespace, builder included; no
 *   link needs a parent-death signal of its own. Applets are run by name
 *   (busybox's shell runs them without an exec).
 * - **tail** (`-c` program): pid 1 of the builder's new pid namespace. It
 *   opens the log pty, sends its host pid to the helper on `up`,
 *   waits, closes every other descriptor, enters `/build`, sets umask 022
 *   and a soft core limit of 0, and execs the chain
 *   `setsid` → `setpriv` (drops the inheritable, hence ambient,
 *   capabilities) → `env -i` (the exact environment, in order) →
 *   `start-stop-daemon -S -x BUILDER -a ARGV0` (execs the builder with
 *   `argv[0]` = its base name, as Nix does). Only builtins run before the
 *   exec, so the builder is pid 1 and its first child pid 2, as in Nix.
 * - **helper** (script file; outside the new pid namespace, so its forks
 *   do not use up pids there): once it knows the tail's pid it makes the
 *   mounts in order ({@linkcode MountOp}): runs of them (binds with their
 *   remounts, and on Linux 6.15+ the `proc`, `/dev/shm` and `/dev/pts` too)
 *   each in one util-linux `mount -a` over an fstab. The `proc` is mounted
 *   with `pidns=/proc/PID/ns/pid` so it shows the builder's pid namespace
 *   (Linux 6.15 and later; on older kernels the helper asks the tail to
 *   mount it, which costs a fork in the new pid namespace: the builder's
 *   first child is then pid 3, not 2), then `pivot_root` into the sandbox
 *   root (the old root parked on a directory of the root and unmounted, as
 *   Nix parks it on `real-root`), and tells the tail to go. Lines starting
 *   `buildhost-sandbox:` on stderr report progress (`pid N`, `ready`,
 *   `failed`).
 *
 * @module
 */
import type { MountOp } from "./sandbox_mounts.ts";

/**
 * Quote a string for a POSIX shell (single quotes).
 *
 * @param s Any string.
 * @returns The quoted word.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { shellQuote } from "./sandbox_script.ts";
 * assert.equal(shellQuote("it's"), "'it'\\''s'");
 * ```
 */
export function shellQuote(s: string): string {
  return "'" + s.replaceAll("'", "'\\''") + "'";
}

/** Host tools the scripts run (absolute paths). */
export interface ScriptTools {
  /** Static busybox. */
  busybox: string;
  /** util-linux `mount` (does a list of mounts in one process: `mount -a -T FSTAB`). */
  mount: string;
  /** util-linux `setpriv` (found with the others; the scripts no longer run it). */
  setpriv: string;
  /** util-linux `unshare` (for `--kill-child`). */
  unshare: string;
}

/**
 * Orderings that a loaded machine can produce only rarely, forced for the
 * tests (never set in normal use).
 */
export interface SandboxFaults {
  /** The tail gives up at once, before it reports its pid. */
  tailFails?: boolean;
  /**
   * The helper starts only after the setup process has exited, so that its
   * parent-death signal is armed too late (its parent is already gone).
   */
  lateHelper?: boolean;
}

/** Paths the scripts use. */
export interface ScriptPaths {
  /** The physical sandbox root. */
  root: string;
  /** The control directory (fifos, status file, helper script). */
  control: string;
  /** The log pty's slave. */
  ptySlave: string;
}

/**
 * The setup program (bubblewrap's command, `sh -c`); its arguments are the
 * tail's.
 *
 * @param tools The host tools.
 * @param paths The paths.
 * @param tail The tail program (see {@linkcode tailScript}).
 * @returns The program text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupScript } from "./sandbox_script.ts";
 * const tools = { busybox: "/bin/busybox", setpriv: "/usr/bin/setpriv", unshare: "/usr/bin/unshare", mount: "/usr/bin/mount" };
 * const s = setupScript(tools,
 *   { root: "/r", control: "/c", ptySlave: "/dev/pts/3" }, "exit 0");
 * assert.match(s, /--kill-child/);
 * ```
 */
export function setupScript(
  tools: ScriptTools,
  paths: ScriptPaths,
  tail: string,
  faults: SandboxFaults = {},
): string {
  const q = shellQuote;
  const c = paths.control;
  return [
    "exec 3<&- 4>&-",
    // Applets by name: busybox's shell runs them without an exec.
    `mkfifo ${q(c + "/up")} ${q(c + "/go")} || exit 125`,
    // Both ends of both fifos are opened here, once, before either side
    // exists, and the names removed: nothing opens them by path later, so no
    // late open can block on a fifo or create a regular file in its place.
    `exec 7<>${q(c + "/up")} 8<>${q(c + "/go")} || exit 125`,
    `rm -f ${q(c + "/up")} ${q(c + "/go")}`,
    // No parent-death signals: every process here lives in bubblewrap's pid
    // namespace, which the kernel empties when its init ends (the init ends
    // with this process, and with bubblewrap).
    ...(faults.lateHelper
      ? [
        // Fault injection: start the helper only once this process is gone.
        `p=$$; ( while [ -e /proc/$p ]; do usleep 1000; done; ` +
        `exec ${q(tools.busybox)} sh ${q(c + "/helper.sh")} ) &`,
      ]
      : [`${q(tools.busybox)} sh ${q(c + "/helper.sh")} &`]),
    `exec ${q(tools.busybox)} time -o ${q(c + "/status")} -f %x ` +
    `${q(tools.unshare)} --pid --fork --kill-child -- ` +
    `${q(tools.busybox)} sh -c ${q(tail)} buildhost-sandbox "$@"`,
    "",
  ].join("\n");
}

/**
 * The tail program: pid 1 of the builder's pid namespace until it execs
 * the builder. Its arguments: `NAME=VALUE`... for the environment, then
 * `start-stop-daemon -S -x BUILDER -a ARGV0 -- ARGS...`.
 *
 * @param paths The paths.
 * @param capLast The highest capability number (`/proc/sys/kernel/cap_last_cap`).
 * @returns The program text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tailScript } from "./sandbox_script.ts";
 * const t = tailScript({ root: "/r", control: "/c", ptySlave: "/dev/pts/3" }, 2);
 * assert.match(t, /--inh-caps -cap_0,-cap_1,-cap_2 /);
 * ```
 */
export function tailScript(
  paths: ScriptPaths,
  capLast: number,
  faults: SandboxFaults = {},
): string {
  const q = shellQuote;
  const caps = Array.from({ length: capLast + 1 }, (_, i) => `-cap_${i}`).join(",");
  const fail = (what: string) =>
    `{ echo ${q(`buildhost-sandbox: failed: ${what}`)} >&2; exit 125; }`;
  return [
    ...(faults.tailFails ? [fail("injected fault")] : []),
    `exec 9<>${q(paths.ptySlave)} || ${fail("open the log pty")}`,
    "read -r hp _ </proc/self/stat",
    'echo "pid $hp" >&7',
    // "proc": the kernel cannot mount a proc for another pid namespace
    // (no `pidns=` before Linux 6.15), so this process, inside it, does.
    "while read -r go <&8; do case $go in proc) " +
    `if mount -t proc none ${q(paths.root + "/proc")}; then echo proc-done >&7; ` +
    "else echo proc-failed >&7; fi ;; *) break ;; esac; done",
    `[ "$go" = go ] || exit 125`,
    'for f in /proc/self/fd/*; do n=${f##*/}; case $n in 0|1|2|9) ;; *) eval "exec $n>&-" ;; esac; done',
    `cd /build || ${fail("enter /build")}`,
    "umask 022",
    "ulimit -S -c 0",
    "exec 0<>/dev/null 1>&9 2>&9 9>&-",
    `exec setsid setpriv --inh-caps ${caps} env -i -- "$@"`,
    "",
  ].join("\n");
}

/** How the helper remounts binds: `remount,...` options per host source. */
export interface HelperInput {
  /** The host tools. */
  tools: ScriptTools;
  /** The paths. */
  paths: ScriptPaths;
  /** The mounts, in order (root first). */
  plan: readonly MountOp[];
  /** `mount -o` options for the remount of each bind/self mount, by target. */
  remount: ReadonlyMap<string, string>;
  /** A directory of the root (not a mount point) where the old root is parked. */
  parking: string;
  /** The host's real path of busybox (found under the parked root). */
  busyboxRealPath: string;
  /** `/dev/shm` size (`sandbox-shm-size`, default `50%`). */
  shmSize: string;
  /** Have the tail mount `/proc` (as on kernels without `pidns=`), costing it pid 2. */
  legacyProc?: boolean;
  /**
   * The kernel mounts a `proc` for another pid namespace (`pidns=`, Linux
   * 6.15+): the `proc` joins the other mounts' `mount -a`. Otherwise the
   * helper tries it on its own and, should the kernel refuse, has the tail
   * mount it.
   */
  procPidns?: boolean;
  /**
   * Receives the fstab files the script uses, in order: the caller writes
   * them as `<control>/fstab.<index>`.
   */
  fstabs: string[];
}

/**
 * A path as an fstab field: white space and backslashes as octal escapes.
 *
 * @param path The path.
 * @returns The field.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fstabField } from "./sandbox_script.ts";
 * assert.equal(fstabField("/a b\\c"), "/a\\040b\\134c");
 * ```
 */
export function fstabField(path: string): string {
  return path.replace(/[ \t\n\\]/g, (c) => "\\" + c.charCodeAt(0).toString(8).padStart(3, "0"));
}

/**
 * The helper script (see the module doc).
 *
 * @param h What it needs.
 * @returns The script text.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { helperScript } from "./sandbox_script.ts";
 * const fstabs: string[] = [];
 * const s = helperScript({
 *   tools: { busybox: "/bin/busybox", setpriv: "/usr/bin/setpriv", unshare: "/usr/bin/unshare", mount: "/usr/bin/mount" },
 *   paths: { root: "/r", control: "/c", ptySlave: "/dev/pts/3" },
 *   plan: [{ kind: "self", target: "/", shared: false }, { kind: "proc", target: "/proc" }],
 *   remount: new Map([["/", "remount,bind,rw,suid,dev,exec"]]),
 *   parking: "/tmp", busyboxRealPath: "/usr/bin/busybox", shmSize: "50%", fstabs,
 * });
 * assert.match(s, /pidns=\/proc\/\$hp\/ns\/pid none '\/r\/proc'/);
 * assert.match(s, /'\/usr\/bin\/mount' -a -T '\/c\/fstab.0'/);
 * assert.equal(fstabs[0], "/r /r none bind 0 0\nnone /r none remount,bind,rw,suid,dev,exec 0 0\n");
 * ```
 *
 * @example With `pidns=` (Linux 6.15+): one `mount -a` for every mount
 * ```ts
 * import assert from "node:assert/strict";
 * import { helperScript } from "./sandbox_script.ts";
 * const fstabs: string[] = [];
 * const s = helperScript({
 *   tools: { busybox: "/bin/busybox", setpriv: "/usr/bin/setpriv", unshare: "/usr/bin/unshare", mount: "/usr/bin/mount" },
 *   paths: { root: "/r", control: "/c", ptySlave: "/dev/pts/3" },
 *   plan: [{ kind: "self", target: "/", shared: false }, { kind: "proc", target: "/proc" },
 *     { kind: "tmpfs", target: "/dev/shm" }],
 *   remount: new Map(), parking: "/tmp", busyboxRealPath: "/usr/bin/busybox", shmSize: "50%",
 *   procPidns: true, fstabs,
 * });
 * assert.deepEqual(fstabs, ["/r /r none bind 0 0\n"]);
 * assert.match(s, /printf '%s\\n' 'none \/r\/proc proc pidns=\/proc\/'"\$hp"'\/ns\/pid 0 0' 'none \/r\/dev\/shm tmpfs size=50% 0 0' >>'\/c\/fstab.0'\n'\/usr\/bin\/mount' -a -T '\/c\/fstab.0'/);
 * assert.equal(s.match(/mount' -a/g)?.length, 1);
 * ```
 */
export function helperScript(h: HelperInput): string {
  const q = shellQuote;
  const at = (target: string) => q(target === "/" ? h.paths.root : h.paths.root + target);
  const physical = (target: string) => (target === "/" ? h.paths.root : h.paths.root + target);
  const lines: string[] = [
    "read -r what hp <&7 || exit 1",
    '[ "$what" = pid ] || exit 1',
    'echo "buildhost-sandbox: pid $hp" >&2',
    "(",
    "set -e",
    // Written to /proc (a builtin, no process) where the caller is root; else
    // setdomainname(2) through Debian's `domainname` (package hostname),
    // which needs only CAP_SYS_ADMIN in the UTS namespace's owner, where the
    // /proc file also needs its owner (root) mapped.
    "{ echo '(none)' >/proc/sys/kernel/domainname; } 2>/dev/null || domainname '(none)'",
    "mount --make-rprivate /",
  ];
  // Every run of mounts goes through one util-linux `mount -a` over an
  // fstab: one process for all of them, where a mount(8) per mount cost a
  // fork and an exec each. The fstab is written beforehand up to its first
  // line that needs the tail's pid (the `proc`); the helper appends that
  // line and the rest with the shell's `printf`, no process either.
  let written: string[] = [];
  let appended: string[] = [];
  const add = (line: string) => {
    if (appended.length > 0) appended.push(q(line.replace(/\n$/, "")));
    else written.push(line);
  };
  const flush = () => {
    if (written.length === 0 && appended.length === 0) return;
    const file = `${h.paths.control}/fstab.${h.fstabs.length}`;
    h.fstabs.push(written.join(""));
    if (appended.length > 0) lines.push(`printf '%s\\n' ${appended.join(" ")} >>${q(file)}`);
    lines.push(`${q(h.tools.mount)} -a -T ${q(file)}`);
    written = [];
    appended = [];
  };
  const after: string[] = [];
  /** The remount that gives a bind its flags (util-linux does not for `suid`, `dev`, ...). */
  const remount = (target: string) => {
    const opts = h.remount.get(target);
    return opts ? `none ${fstabField(physical(target))} none ${opts} 0 0\n` : "";
  };
  for (const op of h.plan) {
    switch (op.kind) {
      case "self":
        add(
          `${fstabField(physical(op.target))} ${fstabField(physical(op.target))} none ` +
            `bind${op.shared ? ",shared" : ""} 0 0\n` + remount(op.target),
        );
        break;
      case "bind":
        add(
          `${fstabField(op.source)} ${fstabField(physical(op.target))} none rbind 0 0\n` +
            remount(op.target),
        );
        break;
      case "proc":
        if (h.procPidns && !h.legacyProc) {
          // The first line that needs the pid: appended by the helper.
          const line = `none ${fstabField(physical(op.target))} proc pidns=/proc/`;
          appended.push(`${q(line)}"$hp"'/ns/pid 0 0'`);
          break;
        }
        flush();
        lines.push(
          (h.legacyProc
            ? "if false"
            : `if mount -t proc -o pidns=/proc/$hp/ns/pid none ${at(op.target)}`) +
            '; then :; else echo proc >&8; read -r r <&7; [ "$r" = proc-done ]; fi',
        );
        break;
      case "tmpfs":
        add(`none ${fstabField(physical(op.target))} tmpfs size=${h.shmSize} 0 0\n`);
        break;
      case "devpts":
        add(`none ${fstabField(physical(op.target))} devpts newinstance,mode=0620 0 0\n`);
        after.push(`chmod 0666 ${at(op.target + "/ptmx")}`);
        break;
    }
  }
  flush();
  lines.push(
    ...after,
    `cd ${q(h.paths.root)}`,
    `pivot_root . ${q(h.parking.slice(1))}`,
    `${q(h.parking + h.busyboxRealPath)} umount -l ${q(h.parking)}`,
    ")",
    "rc=$?",
    'if [ "$rc" = 0 ]; then echo "buildhost-sandbox: ready" >&2; echo go >&8;',
    'else echo "buildhost-sandbox: failed: setup exited with $rc" >&2; echo fail >&8; fi',
    "",
  );
  return lines.join("\n");
}
