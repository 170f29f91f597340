/**
 * Tool discovery for the sandbox: find perl (perl-base), which runs its
 * set-up, and check once per process that this machine can make user
 * namespaces. Anything missing is a {@linkcode SandboxUnavailableError}
 * naming it and the package to install. Also finds a static busybox, for
 * what runs a builder of its own (the demo, the doctor's trial build).
 *
 * @module
 */
import { cPath, libcOnFirstUse } from "../libc.ts";
import { SandboxUnavailableError } from "./sandbox_error.ts";

/** The host programs the sandbox uses (absolute paths). */
export interface SandboxTools {
  /** perl (Debian's perl-base, on every Debian system), which runs the set-up. */
  perl: string;
}

/** Where the tools are looked for, in order. */
export const SEARCH_PATH: readonly string[] = ["/usr/bin", "/bin", "/usr/sbin", "/sbin"];

/** libc's `access`, loaded at the first `exists`. */
const libc = libcOnFirstUse({ access: { parameters: ["buffer", "i32"], result: "i32" } });

/**
 * Whether a path exists (following symlinks): libc's `access(F_OK)` through
 * FFI, else Deno's `stat`, whose answer for a missing path is a thrown
 * error (some 20 µs each; a sandbox root's set-up asks for dozens).
 *
 * @param path The path.
 * @returns True when it exists.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { exists } from "./sandbox_tools.ts";
 * assert.equal(exists("/"), true);
 * assert.equal(exists("/no/such/path"), false);
 * ```
 */
export function exists(path: string): boolean {
  const c = libc();
  if (c && !path.includes("\0")) return c.access(cPath(path), 0) === 0;
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Whether a file is a statically linked ELF executable (no `PT_INTERP`).
 *
 * @param path The file.
 * @returns Whether it is.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isStaticElf } from "./sandbox_tools.ts";
 * assert.equal(isStaticElf("/bin/sh"), false);
 * ```
 */
export function isStaticElf(path: string): boolean {
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

/**
 * The first `DIR/name` of `searchPath` that exists.
 *
 * @throws {SandboxUnavailableError} There is none; the message names the
 *   Debian package `pkg` to install.
 */
function findIn(searchPath: readonly string[], name: string, pkg: string): string {
  const found = searchPath.map((d) => `${d}/${name}`).find(exists);
  if (found) return found;
  throw new SandboxUnavailableError(
    name,
    `not found in ${searchPath.join(":")} (install Debian package ${pkg})`,
  );
}

/**
 * A statically linked busybox on this host (a builder that needs nothing
 * else in the sandbox), by its real path.
 *
 * @param searchPath Where to look.
 * @returns Its path.
 * @throws {SandboxUnavailableError} There is none, or it is dynamically linked.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { staticBusybox } from "./sandbox_tools.ts";
 * assert.ok(staticBusybox().includes("busybox"));
 * ```
 */
export function staticBusybox(searchPath: readonly string[] = SEARCH_PATH): string {
  const real = Deno.realPathSync(findIn(searchPath, "busybox", "busybox-static"));
  if (!isStaticElf(real)) {
    throw new SandboxUnavailableError(
      "a static busybox",
      `${real} is dynamically linked (install Debian package busybox-static)`,
    );
  }
  return real;
}

let checked: Promise<SandboxTools> | undefined;

/**
 * Find the sandbox's host programs and check what can be checked without
 * running anything (user namespaces not switched off), once per process
 * (later calls return the same answer). Whether namespaces can be made
 * here is tried by {@linkcode probeNamespaces}, which the sandbox runs when
 * a set-up fails.
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
 * assert.ok(tools.perl.endsWith("perl"));
 * ```
 */
export function sandboxTools(overrides: Partial<SandboxTools> = {}): Promise<SandboxTools> {
  if (Object.keys(overrides).length > 0) return Promise.resolve().then(() => findTools(overrides));
  checked ??= Promise.resolve().then(() => findTools({}));
  return checked;
}

function findTools(overrides: Partial<SandboxTools>): SandboxTools {
  let perl = overrides.perl;
  if (perl !== undefined) {
    if (!exists(perl)) throw new SandboxUnavailableError("perl", `${perl} does not exist`);
  } else {
    perl = findIn(SEARCH_PATH, "perl", "perl-base");
  }
  const max = Deno.readTextFileSync("/proc/sys/user/max_user_namespaces").trim();
  if (max === "0") {
    throw new SandboxUnavailableError(
      "user namespaces",
      "/proc/sys/user/max_user_namespaces is 0",
    );
  }
  return { perl };
}

/** The probes run, by perl's path. */
const probed = new Map<string, Promise<void>>();

/**
 * Check, by a trial run, that the sandbox's user, pid and network
 * namespaces can be made here; once per process and perl.
 *
 * @param tools The programs ({@linkcode sandboxTools}).
 * @throws {SandboxUnavailableError} They cannot, with the kernel's words
 *   and where to look.
 */
export function probeNamespaces(tools: SandboxTools): Promise<void> {
  let probe = probed.get(tools.perl);
  if (!probe) probed.set(tools.perl, probe = runProbe(tools));
  return probe;
}

async function runProbe(tools: SandboxTools): Promise<void> {
  let probe: Deno.CommandOutput;
  try {
    probe = await trialRun(tools);
  } catch (e) {
    throw new SandboxUnavailableError("perl", `cannot run ${tools.perl}: ${(e as Error).message}`);
  }
  if (!probe.success) {
    const err = new TextDecoder().decode(probe.stderr).trim() ||
      `${tools.perl} exited with ${probe.code}`;
    throw new SandboxUnavailableError(
      "user namespaces",
      `they cannot be created here: ${err} (check /proc/sys/user/max_user_namespaces` +
        ` and /proc/sys/kernel/unprivileged_userns_clone)`,
    );
  }
}

/** `unshare(2)` of a user, pid and network namespace, in a perl of its own. */
function trialRun(tools: SandboxTools): Promise<Deno.CommandOutput> {
  const unshare = Deno.build.arch === "aarch64" ? 97 : 272;
  const flags = 0x10000000 | 0x20000000 | 0x40000000;
  return new Deno.Command(tools.perl, {
    args: ["-e", `syscall(${unshare}, ${flags}) == 0 or die "unshare: $!\n"`],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
  }).output();
}
