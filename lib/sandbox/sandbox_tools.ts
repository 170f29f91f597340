/**
 * Tool discovery for the sandbox: find the host programs it runs
 * (bubblewrap, a static busybox, util-linux's `setarch`, `setpriv`,
 * `unshare` and `mount`, `/bin/sh`) and check once per process that this
 * machine can make user namespaces. Anything missing is a
 * {@linkcode SandboxUnavailableError} naming it and the package to install.
 *
 * @module
 */
import { SandboxUnavailableError } from "./sandbox_error.ts";
import { SANDBOX_GID, SANDBOX_UID } from "./sandbox_files.ts";

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

/** Where the tools are looked for, in order. */
export const SEARCH_PATH: readonly string[] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** Whether a path exists (following symlinks). */
export function exists(path: string): boolean {
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
 * Find the sandbox's host programs and check what can be checked without
 * running anything (a static busybox, user namespaces not switched off),
 * once per process (later calls return the same answer). Whether
 * bubblewrap can make its namespaces here is tried by
 * {@linkcode probeNamespaces}, which the sandbox runs when a set-up fails:
 * a trial run at every session's first build cost some 20 ms.
 *
 * @param overrides Paths to use instead of searching.
 * @returns The programs.
 * @throws {SandboxUnavailableError} Something is missing.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { sandboxTools } from "./sandbox_tools.ts";
 * const tools = await sandboxTools();
 * assert.ok(tools.bwrap.endsWith("bwrap"));
 * ```
 */
export function sandboxTools(overrides: Partial<SandboxTools> = {}): Promise<SandboxTools> {
  if (Object.keys(overrides).length > 0) return Promise.resolve().then(() => findTools(overrides));
  checked ??= Promise.resolve().then(() => findTools({}));
  return checked;
}

function findTools(overrides: Partial<SandboxTools>): SandboxTools {
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
  return tools;
}

/** The probes run, by bubblewrap's path. */
const probed = new Map<string, Promise<void>>();

/**
 * Check, by a trial run, that bubblewrap can make the sandbox's user,
 * pid and network namespaces here; once per process and bubblewrap.
 *
 * @param tools The programs ({@linkcode sandboxTools}).
 * @throws {SandboxUnavailableError} It cannot, with bubblewrap's words and
 *   where to look.
 */
export function probeNamespaces(tools: SandboxTools): Promise<void> {
  let probe = probed.get(tools.bwrap);
  if (!probe) probed.set(tools.bwrap, probe = runProbe(tools));
  return probe;
}

async function runProbe(tools: SandboxTools): Promise<void> {
  let probe: Deno.CommandOutput;
  try {
    probe = await trialRun(tools);
  } catch (e) {
    throw new SandboxUnavailableError(
      "bwrap",
      `cannot run ${tools.bwrap}: ${(e as Error).message}`,
    );
  }
  if (!probe.success) {
    const err = new TextDecoder().decode(probe.stderr).trim();
    throw new SandboxUnavailableError(
      "user namespaces",
      `bubblewrap cannot create them here: ${err} (check /proc/sys/user/max_user_namespaces` +
        ` and /proc/sys/kernel/unprivileged_userns_clone)`,
    );
  }
}

/** bubblewrap making the sandbox's namespaces around `busybox true`. */
function trialRun(tools: SandboxTools): Promise<Deno.CommandOutput> {
  return new Deno.Command(tools.bwrap, {
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
}
