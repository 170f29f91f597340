/**
 * The sandbox root on disk, prepared by the host before the sandbox starts
 * (as Nix 2.8 prepares its `<drv>.chroot`): `/` 0750, `/tmp` 1777, `/etc`
 * with `group`, `passwd` and `hosts` (or `nsswitch.conf` with network), the
 * store directory 1775, the mount points of every bind of the
 * {@linkcode mountPlan}, `/dev`'s symlinks; file inputs hard-linked when
 * inputs are writable. Also the mount flags each bind is remounted with
 * (its host source's flags), the directory the old root is parked on, and
 * the end of a run: outputs moved out of the root, the root removed.
 *
 * @module
 */
import { dirname } from "../posix_path.ts";
import { removeTree } from "../store/restore_path.ts";
import { type HostMount, mountOf, readHostMounts, remountFlags } from "./host_mounts.ts";
import { locateOutput } from "./output_location.ts";
import { SandboxError } from "./sandbox_error.ts";
import {
  ETC_HOSTS,
  etcGroup,
  etcPasswd,
  NSSWITCH_CONF,
  SANDBOX_BUILD_DIR,
} from "./sandbox_files.ts";
import { type BindSpec, type MountOp, mountPlan } from "./sandbox_mounts.ts";
import { entriesOf, type SandboxOptions } from "./sandbox_options.ts";
import { exists } from "./sandbox_tools.ts";

/**
 * As Nix's createDirs: each missing component with mode 0755. `known`
 * holds directories known to exist (the root and what was made in it), so
 * that a root's many mount points cost one `mkdir` each, not a `stat` of
 * every ancestor (a missing one a thrown error).
 */
function mkdirs(path: string, known: Set<string>): void {
  if (known.has(path)) return;
  if (!exists(path)) {
    mkdirs(dirname(path), known);
    Deno.mkdirSync(path);
    Deno.chmodSync(path, 0o755);
  }
  known.add(path);
}

/**
 * Where a path of the sandbox (a mount's target) is on the host, under the
 * physical root.
 *
 * @param root The physical sandbox root.
 * @param target The path inside (`/` is the root itself).
 * @returns The host path.
 */
export function physicalTarget(root: string, target: string): string {
  return target === "/" ? root : root + target;
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

/**
 * Remove the sandbox root. Its mounts live only in the sandbox's mount
 * namespace, so on the host it is plain directories; should a mount ever
 * show under it here, refuse rather than delete through it.
 *
 * @param root The physical sandbox root.
 * @param mounts The host's mounts (default: read now).
 * @throws {SandboxError} Something is mounted on or under it on the host.
 */
export async function removeSandboxRoot(
  root: string,
  mounts: HostMount[] = readHostMounts(),
): Promise<void> {
  const mounted = mounts.find((m) => m.mountPoint.startsWith(root + "/"));
  if (mounted || mounts.some((m) => m.mountPoint === root)) {
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
export interface PreparedRoot {
  /** The mounts, in Nix's order. */
  plan: MountOp[];
  /** `mount(2)` flags of the remount of each bind and self mount, by target. */
  remount: Map<string, number>;
  /** A directory of the root (not a mount point) to park the old root on. */
  parking: string;
}

/**
 * Make the sandbox root `o.rootDir` (which must not exist) and plan its mounts.
 *
 * @param o The run's options.
 * @param storeDir The logical store directory.
 * @param readOnly Inputs and sandbox paths read-only.
 * @param hostMounts The host's mounts (whose flags the binds get).
 * @returns The plan, the remount flags and the parking directory.
 * @throws {SandboxError} No directory of the root is free to park the old root on.
 */
export function prepareSandboxRoot(
  o: SandboxOptions,
  storeDir: string,
  readOnly: boolean,
  hostMounts: HostMount[],
): PreparedRoot {
  const root = o.rootDir;
  const network = o.network ?? false;
  Deno.mkdirSync(root);
  Deno.chmodSync(root, 0o750);
  const known = new Set([root]);
  Deno.mkdirSync(`${root}/tmp`);
  Deno.chmodSync(`${root}/tmp`, 0o1777);
  Deno.mkdirSync(`${root}/etc`);
  Deno.chmodSync(`${root}/etc`, 0o755);
  writeFile(`${root}/etc/group`, etcGroup());
  if (!network) writeFile(`${root}/etc/hosts`, ETC_HOSTS);
  mkdirs(root + storeDir, known);
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
    outputs: entriesOf(o.outputs).map(([logical]) => logical),
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
    mkdirs(`${root}/dev/shm`, known);
    mkdirs(`${root}/dev/pts`, known);
    Deno.symlinkSync("/proc/self/fd", `${root}/dev/fd`);
    Deno.symlinkSync("/proc/self/fd/0", `${root}/dev/stdin`);
    Deno.symlinkSync("/proc/self/fd/1", `${root}/dev/stdout`);
    Deno.symlinkSync("/proc/self/fd/2", `${root}/dev/stderr`);
  }
  if (network) writeFile(`${root}/etc/nsswitch.conf`, NSSWITCH_CONF);

  const remount = new Map<string, number>();
  const rootMount = mountOf(hostMounts, Deno.realPathSync(root));
  for (const op of plan) {
    const at = physicalTarget(root, op.target);
    switch (op.kind) {
      case "self":
        remount.set(op.target, remountFlags(rootMount, false));
        break;
      case "bind": {
        if (op.directory) mkdirs(at, known);
        else {
          mkdirs(dirname(at), known);
          if (!exists(at)) writeFile(at, "");
        }
        remount.set(
          op.target,
          remountFlags(mountOf(hostMounts, Deno.realPathSync(op.source)), op.readOnly),
        );
        break;
      }
      case "proc":
        mkdirs(at, known);
        break;
      case "tmpfs":
        mkdirs(at, known);
        break;
      case "devpts":
        mkdirs(at, known);
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

/**
 * Move the outputs the builder made out of the root to their physical
 * paths, never through a symlink the builder put on the way (it owns the
 * root).
 *
 * @param rootDir The physical sandbox root.
 * @param outputs Logical path → physical path.
 * @returns The logical paths of the outputs that existed and were moved.
 */
export async function moveOutputs(
  rootDir: string,
  outputs: readonly [string, string][],
): Promise<string[]> {
  const moved: string[] = [];
  for (const [logical, physical] of outputs) {
    const at = locateOutput(rootDir, logical);
    if (at === undefined) continue;
    await moveTree(at, physical);
    moved.push(logical);
  }
  return moved;
}
