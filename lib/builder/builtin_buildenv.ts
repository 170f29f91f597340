/**
 * `builtin:buildenv`: the user environment (profile) Nix 2.8's `nix-env`
 * builds, a tree of symlinks into the installed packages.
 *
 * The attribute `derivations` lists, for each package, `active priority
 * N path1 … pathN`; `manifest` is a store path linked as `manifest.nix`.
 * Packages are linked by ascending priority (then path); a directory met
 * in two packages becomes a real directory holding both's entries; two
 * files at one name keep the one of lower priority number, and the same
 * priority is an error. Names starting with `.` and the files Nix leaves
 * out (`nix-support`, `log`, `manifest.nix`, …) are skipped; the paths
 * named in a package's `nix-support/propagated-user-env-packages` follow,
 * with priorities from 1000.
 *
 * The packages are read through the build's input closure (logical store
 * paths, physical locations): what Nix's sandbox shows its builtin.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A buildenv failure (a collision, a bad attribute); Nix's words. */
export class BuildenvError extends BuildhostError {
  override name = "BuildenvError";
}

/** The files Nix keeps out of a profile. */
const SKIPPED = [
  "/propagated-build-inputs",
  "/nix-support",
  "/perllocal.pod",
  "/info/dir",
  "/log",
  "/manifest.nix",
  "/manifest.json",
];

/** What the build sees: logical paths of the input closure and where they are. */
export interface BuildenvView {
  /** The input closure: logical store path → physical location. */
  inputs: Map<string, string>;
  /** The output: its logical path and its physical location (absent yet). */
  out: { path: string; physical: string };
  /** Receives warnings (Nix's `warning:` lines). */
  warn: (message: string) => void;
}

/**
 * Build the profile of a `builtin:buildenv` derivation.
 *
 * @param env The derivation's environment.
 * @param view The inputs, the output location, the warning sink.
 */
export function buildenv(env: Map<string, string>, view: BuildenvView): void {
  const attr = (name: string) => {
    const v = env.get(name);
    if (v === undefined) throw new BuildenvError(`attribute '${name}' missing`);
    return v;
  };
  const words = attr("derivations").split(/[ \t\n\r]+/).filter((w) => w !== "");
  const manifest = attr("manifest");
  const pkgs: { path: string; active: boolean; priority: number }[] = [];
  while (words.length > 0) {
    const active = words.shift()!;
    const priority = Number.parseInt(words.shift() ?? "", 10);
    const count = Number.parseInt(words.shift() ?? "", 10);
    if (!Number.isFinite(priority) || !Number.isFinite(count) || count > words.length) {
      throw new BuildenvError("attribute 'derivations' is malformed");
    }
    for (const path of words.splice(0, count)) {
      pkgs.push({ path, active: active !== "false", priority });
    }
  }
  const links = new Links(view);
  Deno.mkdirSync(view.out.physical, { recursive: true });
  const done = new Set<string>();
  let postponed = new Set<string>();
  const add = (pkg: string, priority: number) => {
    if (done.has(pkg)) return;
    done.add(pkg);
    links.create(pkg, view.out.path, priority);
    const propagated = links.readText(`${pkg}/nix-support/propagated-user-env-packages`);
    for (const p of (propagated ?? "").split(/[ \n]+/)) {
      if (p !== "" && !done.has(p)) postponed.add(p);
    }
  };
  pkgs.sort((a, b) =>
    a.priority !== b.priority
      ? a.priority - b.priority
      : a.path < b.path
      ? -1
      : a.path > b.path
      ? 1
      : 0
  );
  for (const p of pkgs) if (p.active) add(p.path, p.priority);
  let counter = 1000;
  while (postponed.size > 0) {
    const batch = [...postponed].sort();
    postponed = new Set();
    for (const p of batch) add(p, counter++);
  }
  Deno.symlinkSync(manifest, `${view.out.physical}/manifest.nix`);
}

/** The symlink tree being made, and reads through the input closure. */
class Links {
  readonly #priorities = new Map<string, number>();
  constructor(readonly view: BuildenvView) {}

  /** The physical location of a logical path (symlinks not followed), or null if unseen. */
  #physical(logical: string): string | null {
    const { out, inputs } = this.view;
    if (logical === out.path || logical.startsWith(`${out.path}/`)) {
      return out.physical + logical.slice(out.path.length);
    }
    const storeDir = out.path.slice(0, out.path.lastIndexOf("/"));
    if (!logical.startsWith(`${storeDir}/`)) return null;
    const slash = logical.indexOf("/", storeDir.length + 1);
    const top = slash < 0 ? logical : logical.slice(0, slash);
    const at = inputs.get(top);
    return at === undefined ? null : at + logical.slice(top.length);
  }

  /** A logical path with every symlink resolved (as `canonPath(p, true)`), or null if dangling. */
  resolve(logical: string): string | null {
    let todo = logical.split("/").filter((c) => c !== "" && c !== ".");
    let done = "";
    for (let hops = 0; todo.length > 0;) {
      const c = todo.shift()!;
      if (c === "..") {
        done = done.slice(0, Math.max(0, done.lastIndexOf("/")));
        continue;
      }
      const next = `${done}/${c}`;
      const phys = this.#physical(next);
      let target: string | null = null;
      try {
        if (phys === null) {
          // the directories above the store are there; nothing else is
          const storeDir = this.view.out.path.slice(0, this.view.out.path.lastIndexOf("/"));
          if (storeDir !== next && !storeDir.startsWith(`${next}/`)) return null;
          done = next;
          continue;
        }
        if (Deno.lstatSync(phys).isSymlink) target = Deno.readLinkSync(phys);
      } catch {
        return null;
      }
      if (target === null) {
        done = next;
        continue;
      }
      if (++hops > 40) return null;
      const parts = target.split("/").filter((x) => x !== "" && x !== ".");
      todo = [...parts, ...todo];
      if (target.startsWith("/")) done = "";
    }
    return done === "" ? "/" : done;
  }

  /** `stat` through symlinks: the kind of what a logical path leads to, or null. */
  kind(logical: string): "directory" | "other" | null {
    const real = this.resolve(logical);
    const phys = real === null ? null : this.#physical(real);
    if (phys === null) return null;
    try {
      return Deno.statSync(phys).isDirectory ? "directory" : "other";
    } catch {
      return null;
    }
  }

  /** A file's text through symlinks, or null if there is none. */
  readText(logical: string): string | null {
    const real = this.resolve(logical);
    const phys = real === null ? null : this.#physical(real);
    if (phys === null) return null;
    try {
      return Deno.readTextFileSync(phys);
    } catch {
      return null;
    }
  }

  /** Link the entries of `src` (logical) into `dst` (logical, in the output). */
  create(src: string, dst: string, priority: number): void {
    const srcReal = this.resolve(src);
    const srcPhys = srcReal === null ? null : this.#physical(srcReal);
    if (srcPhys === null || !Deno.statSync(srcPhys).isDirectory) {
      this.view.warn(
        `not including '${src}' in the user environment because it's not a directory`,
      );
      return;
    }
    // Nix reads directories unsorted; sorted here, so that the result never depends on it.
    const names = [...Deno.readDirSync(srcPhys)].map((e) => e.name).sort();
    for (const name of names) {
      if (name.startsWith(".")) continue;
      const srcFile = `${src}/${name}`, dstFile = `${dst}/${name}`;
      const dstPhys = this.#physical(dstFile)!;
      const kind = this.kind(srcFile);
      if (kind === null) {
        this.view.warn(`skipping dangling symlink '${dstFile}'`);
        continue;
      }
      if (SKIPPED.some((s) => srcFile.endsWith(s))) continue;
      let existing: Deno.FileInfo | null = null;
      try {
        existing = Deno.lstatSync(dstPhys);
      } catch { /* absent */ }
      if (kind === "directory" && existing !== null) {
        if (existing.isDirectory) {
          this.create(srcFile, dstFile, priority);
          continue;
        }
        if (existing.isSymlink) {
          const target = this.resolve(dstFile);
          if (target === null || this.kind(target) !== "directory") {
            throw new BuildenvError(
              `collision between '${srcFile}' and non-directory '${target ?? dstFile}'`,
            );
          }
          Deno.removeSync(dstPhys);
          Deno.mkdirSync(dstPhys, { mode: 0o755 });
          this.create(target, dstFile, this.#priorities.get(dstFile) ?? 0);
          this.create(srcFile, dstFile, priority);
          continue;
        }
      } else if (kind !== "directory" && existing !== null) {
        if (existing.isSymlink) {
          const previous = this.#priorities.get(dstFile) ?? 0;
          if (previous === priority) {
            throw new BuildenvError(
              `packages '${srcFile}' and '${
                Deno.readLinkSync(dstPhys)
              }' have the same priority ${priority}; ` +
                "use 'nix-env --set-flag priority NUMBER INSTALLED_PKGNAME' " +
                "to change the priority of one of the conflicting packages (0 being the highest priority)",
            );
          }
          if (previous < priority) continue;
          Deno.removeSync(dstPhys);
        } else if (existing.isDirectory) {
          throw new BuildenvError(
            `collision between non-directory '${srcFile}' and directory '${dstFile}'`,
          );
        }
      }
      Deno.symlinkSync(srcFile, dstPhys);
      this.#priorities.set(dstFile, priority);
    }
  }
}
