/**
 * The mounts of the sandbox, in the order Nix 2.8's mount table shows them.
 *
 * Nix builds its list of host paths to bind ("dirsInChroot", a map sorted by
 * the path inside) from:
 * 1. `sandbox-paths` (`target=source`, a trailing `?` makes one optional);
 * 2. the build directory at `/build`;
 * 3. input store paths that are directories (file inputs are hard-linked);
 * 4. without a `/dev` entry: `/dev/full`, `/dev/kvm` (when the `kvm` feature
 *    is on and the host has it), `/dev/null`, `/dev/random`, `/dev/tty`,
 *    `/dev/urandom`, `/dev/zero`; with network (fixed-output derivations)
 *    also `/etc/resolv.conf`, `/etc/services`, `/etc/hosts` if they exist
 *    (these never replace an entry already there).
 *
 * Its child process then mounts, in this order: the chroot directory onto
 * itself (the future `/`), the store directory onto itself (made shared),
 * every entry of the map (recursive binds, `/proc` as a source skipped), a
 * new `proc` on `/proc`, a `tmpfs` on `/dev/shm` (if the host has one) and a
 * new `devpts` instance on `/dev/pts` (if the host has `/dev/pts/ptmx` and
 * neither `/dev/ptmx` nor a `/dev/pts` entry exists). It then unshares the
 * mount namespace again, which copies the tree depth first: that is the
 * order the builder's `/proc/self/mountinfo` lists. The plan here is in that
 * depth-first order, so mounting it in order gives the same table without
 * the extra copy.
 *
 * @module
 */
import { compareUtf8 } from "../wire/utf8_order.ts";

/** A host path to make visible inside. */
export interface BindSpec {
  /** Path inside the sandbox. */
  target: string;
  /** Path on the host. */
  source: string;
  /** Skip it when the source does not exist. */
  optional?: boolean;
  /** Mount it read-only. */
  readOnly?: boolean;
}

/** One mount of the plan; `target` is the path inside the sandbox. */
export type MountOp =
  /** The sandbox root or the store directory bound onto itself. */
  | { kind: "self"; target: string; shared: boolean }
  /** A recursive bind of a host file or directory. */
  | { kind: "bind"; target: string; source: string; directory: boolean; readOnly: boolean }
  /** A new `proc` for the builder's pid namespace. */
  | { kind: "proc"; target: "/proc" }
  /** A new `tmpfs` (`/dev/shm`). */
  | { kind: "tmpfs"; target: string }
  /** A new `devpts` instance, with `/dev/ptmx` pointing into it. */
  | { kind: "devpts"; target: string };

/** What the plan depends on. */
export interface MountPlanInput {
  /** The logical store directory, e.g. `/nix/store`. */
  storeDir: string;
  /** The physical build directory (appears at `/build`). */
  buildDir: string;
  /** Extra host paths (Nix's `sandbox-paths`). */
  sandboxPaths: readonly BindSpec[];
  /** Input store paths that are directories. */
  inputDirs: readonly BindSpec[];
  /** Logical output paths: never bound from the host. */
  outputs: readonly string[];
  /** The build has network (fixed-output derivation). */
  network: boolean;
  /** Bind `/dev/kvm` (Nix: the `kvm` system feature is on). */
  kvm: boolean;
  /** Make every bind but the build directory and devices read-only. */
  readOnly: boolean;
  /** Whether a host path exists, and is a directory (following symlinks). */
  stat: (path: string) => { directory: boolean } | null;
}

/** The device nodes Nix binds when `/dev` is not a sandbox path. */
export const SANDBOX_DEVICES: readonly string[] = [
  "/dev/full",
  "/dev/kvm",
  "/dev/null",
  "/dev/random",
  "/dev/tty",
  "/dev/urandom",
  "/dev/zero",
];

function isUnder(path: string, dir: string): boolean {
  return dir === "/" || path === dir || path.startsWith(dir + "/");
}

/**
 * Nix's map of host paths to bind, in its order (sorted by target bytes).
 *
 * @param input What the build needs.
 * @returns The binds, sources checked; missing optional ones dropped.
 * @throws {Error} A required source is missing (the message names it).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { bindMap } from "./sandbox_mounts.ts";
 * const binds = bindMap({
 *   storeDir: "/nix/store", buildDir: "/tmp/b", sandboxPaths: [], outputs: [],
 *   inputDirs: [{ target: "/nix/store/x-a", source: "/s/x-a" }],
 *   network: false, kvm: false, readOnly: true, stat: () => ({ directory: true }),
 * });
 * assert.deepEqual(binds.map((b) => b.target), [
 *   "/build", "/dev/full", "/dev/null", "/dev/random", "/dev/tty", "/dev/urandom", "/dev/zero",
 *   "/nix/store/x-a",
 * ]);
 * ```
 */
export function bindMap(input: MountPlanInput): Array<Extract<MountOp, { kind: "bind" }>> {
  const map = new Map<string, BindSpec>();
  for (const p of input.sandboxPaths) {
    map.set(p.target, { ...p, readOnly: p.readOnly ?? input.readOnly });
  }
  map.set("/build", { target: "/build", source: input.buildDir, readOnly: false });
  for (const p of input.inputDirs) {
    map.set(p.target, { ...p, readOnly: p.readOnly ?? input.readOnly });
  }
  for (const o of input.outputs) map.delete(o);
  const extra: BindSpec[] = [];
  if (!map.has("/dev")) {
    for (const d of SANDBOX_DEVICES) {
      if (d === "/dev/kvm" && !(input.kvm && input.stat(d))) continue;
      extra.push({ target: d, source: d, readOnly: false });
    }
  }
  if (input.network) {
    for (const f of ["/etc/resolv.conf", "/etc/services", "/etc/hosts"]) {
      if (input.stat(f)) extra.push({ target: f, source: f, readOnly: input.readOnly });
    }
  }
  for (const e of extra) if (!map.has(e.target)) map.set(e.target, e);

  const out: Array<Extract<MountOp, { kind: "bind" }>> = [];
  for (const key of [...map.keys()].sort(compareUtf8)) {
    const spec = map.get(key)!;
    if (spec.source === "/proc") continue;
    const st = input.stat(spec.source);
    if (!st) {
      if (spec.optional) continue;
      throw new Error(`getting attributes of path '${spec.source}': No such file or directory`);
    }
    out.push({
      kind: "bind",
      target: key,
      source: spec.source,
      directory: st.directory,
      readOnly: spec.readOnly ?? false,
    });
  }
  return out;
}

/**
 * The whole mount sequence in depth-first order (see the module doc).
 *
 * @param input What the build needs.
 * @param host What the host has: `devShm` (`/dev/shm` exists), `ptmx`
 *   (`/dev/pts/ptmx` exists).
 * @returns The mounts to make, in order; the first is the root.
 *
 * @example Inputs come right after the store, before `/build`
 * ```ts
 * import assert from "node:assert/strict";
 * import { mountPlan } from "./sandbox_mounts.ts";
 * const plan = mountPlan({
 *   storeDir: "/nix/store", buildDir: "/tmp/b", sandboxPaths: [], outputs: [],
 *   inputDirs: [{ target: "/nix/store/x-a", source: "/s/x-a" }],
 *   network: false, kvm: false, readOnly: false, stat: () => ({ directory: true }),
 * }, { devShm: true, ptmx: true });
 * assert.deepEqual(plan.slice(0, 4).map((m) => m.target), ["/", "/nix/store", "/nix/store/x-a", "/build"]);
 * assert.deepEqual(plan.slice(-3).map((m) => m.kind), ["proc", "tmpfs", "devpts"]);
 * ```
 */
export function mountPlan(
  input: MountPlanInput,
  host: { devShm: boolean; ptmx: boolean },
): MountOp[] {
  const binds = bindMap(input);
  const created: MountOp[] = [
    { kind: "self", target: "/", shared: false },
    { kind: "self", target: input.storeDir, shared: true },
    ...binds,
    { kind: "proc", target: "/proc" },
  ];
  if (host.devShm) created.push({ kind: "tmpfs", target: "/dev/shm" });
  const devBound = binds.some((b) => b.target === "/dev");
  const ptsBound = binds.some((b) => b.target === "/dev/pts");
  if (host.ptmx && !devBound && !ptsBound) created.push({ kind: "devpts", target: "/dev/pts" });

  // Parent of each mount: the latest earlier mount whose target contains it.
  const children = new Map<number, number[]>();
  for (let i = 1; i < created.length; i++) {
    let parent = 0;
    for (let j = 0; j < i; j++) {
      const t = created[j]!.target;
      if (isUnder(created[i]!.target, t) && t.length >= created[parent]!.target.length) parent = j;
    }
    children.set(parent, [...(children.get(parent) ?? []), i]);
  }
  const order: MountOp[] = [];
  const visit = (i: number) => {
    order.push(created[i]!);
    for (const c of children.get(i) ?? []) visit(c);
  };
  visit(0);
  return order;
}
