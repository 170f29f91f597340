/**
 * A sandbox runner on bubblewrap: the builder runs in new user (uid 1000,
 * gid 100), mount, pid, ipc, uts (hostname `localhost`) and, unless the
 * derivation is fixed-output, network namespaces. It sees an empty root with
 * the store directory holding only its input closure (read-only) and room
 * for its outputs, `/build` as its working directory, `/tmp`, a minimal
 * `/dev`, a fresh `/proc`, Nix's `/etc/passwd`, `/etc/group` and
 * `/etc/hosts`, and the configured extra sandbox paths. Its environment is
 * Nix's (see `buildEnvironment`).
 *
 * The sandbox's store directory is a fresh directory of the build; outputs
 * the builder creates there are moved to their scratch locations when it
 * exits. bwrap runs with `--die-with-parent`, and killing it ends the pid
 * namespace, so a timeout or cancellation leaves no process behind.
 *
 * @module
 */
import { join } from "node:path";
import { BuildhostError } from "../errors.ts";
import type { SandboxOutcome, SandboxRunner, SandboxSpec } from "./builder.ts";
import { buildEnvironment } from "./build_environment.ts";

/** The sandbox cannot be set up on this machine. */
export class SandboxUnavailable extends BuildhostError {
  override name = "SandboxUnavailable";
}

/** Options of {@linkcode bwrapRunner}. */
export interface BwrapOptions {
  /** Host paths to bind read-only at the same path (Nix's `sandbox-paths`), `target=source` allowed. */
  sandboxPaths?: string[];
  /** The bwrap program (default `bwrap` on PATH). */
  bwrap?: string;
}

/**
 * Check that bubblewrap can create the namespaces a build needs.
 *
 * @param bwrap The bwrap program.
 * @throws {SandboxUnavailable} Saying what is missing.
 */
export async function checkSandbox(bwrap = "bwrap"): Promise<void> {
  let out: Deno.CommandOutput;
  try {
    out = await new Deno.Command(bwrap, {
      args: ["--unshare-all", "--uid", "1000", "--gid", "100", "--ro-bind", "/", "/", "true"],
      stdout: "null",
      stderr: "piped",
    }).output();
  } catch {
    throw new SandboxUnavailable(
      `Cannot build in a sandbox: bubblewrap ("${bwrap}") is not installed (apt-get install bubblewrap), or use --no-sandbox`,
    );
  }
  if (!out.success) {
    throw new SandboxUnavailable(
      `Cannot build in a sandbox: bubblewrap cannot create user namespaces here (${
        new TextDecoder().decode(out.stderr).trim()
      }); enable unprivileged user namespaces, or use --no-sandbox`,
    );
  }
}

function etcFiles(): Record<string, string> {
  return {
    passwd: "root:x:0:0:Nix build user:/build:/noshell\n" +
      "nixbld:x:1000:100:Nix build user:/build:/noshell\n" +
      "nobody:x:65534:65534:Nobody:/:/noshell\n",
    group: "root:x:0:\nnixbld:!:100:\nnogroup:x:65534:\n",
    hosts: "127.0.0.1 localhost\n::1 localhost\n",
  };
}

/**
 * A runner that builds with bubblewrap.
 *
 * @param options Extra sandbox paths and the bwrap program.
 * @returns The runner.
 */
export function bwrapRunner(options: BwrapOptions = {}): SandboxRunner {
  // The builder's environment is cleared, so the program is found here.
  const program = findProgram(options.bwrap ?? "bwrap");
  return async (spec: SandboxSpec): Promise<SandboxOutcome> => {
    const work = `${spec.buildDir}.sandbox`;
    const storeView = join(work, "store");
    const etc = join(work, "etc");
    await Deno.mkdir(storeView, { recursive: true });
    await Deno.chmod(storeView, 0o1775); // as Nix's store dir
    await Deno.chmod(spec.buildDir, 0o700);
    await Deno.mkdir(etc, { recursive: true });
    for (const [name, text] of Object.entries(etcFiles())) {
      await Deno.writeTextFile(join(etc, name), text);
    }
    const args = [
      "--die-with-parent",
      "--unshare-user",
      "--uid",
      "1000",
      "--gid",
      "100",
      "--unshare-pid",
      "--unshare-ipc",
      "--unshare-uts",
      "--hostname",
      "localhost",
      ...(spec.network ? [] : ["--unshare-net"]),
      "--proc",
      "/proc",
      "--dev",
      "/dev",
      "--perms",
      "1777",
      "--tmpfs",
      "/tmp",
      "--bind",
      storeView,
      spec.storeDir,
    ];
    for (const i of spec.inputs) args.push("--ro-bind", i.physical, i.path);
    args.push("--bind", spec.buildDir, "/build");
    for (const name of ["passwd", "group", "hosts"]) {
      args.push("--ro-bind", join(etc, name), `/etc/${name}`);
    }
    for (const p of options.sandboxPaths ?? []) {
      const [target, source] = p.includes("=") ? p.split("=", 2) as [string, string] : [p, p];
      args.push("--ro-bind-try", source, target);
    }
    args.push("--chdir", "/build", "--", spec.drv.builder, ...spec.drv.args);

    const env = await buildEnvironment(spec);
    const child = new Deno.Command(program, {
      args,
      clearEnv: true,
      env,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
    }).spawn();

    let outcome: SandboxOutcome | undefined;
    const kill = (why: SandboxOutcome) => {
      outcome ??= why;
      try {
        child.kill("SIGKILL");
      } catch { /* already gone */ }
    };
    let logged = 0;
    let silence: ReturnType<typeof setTimeout> | undefined;
    const armSilence = () => {
      if (spec.maxSilentTime <= 0) return;
      clearTimeout(silence);
      silence = setTimeout(() => kill({ kind: "silent" }), spec.maxSilentTime * 1000);
    };
    armSilence();
    const timeout = spec.buildTimeout > 0
      ? setTimeout(() => kill({ kind: "timedOut" }), spec.buildTimeout * 1000)
      : undefined;
    const onAbort = () => kill({ kind: "cancelled" });
    spec.signal.addEventListener("abort", onAbort);
    if (spec.signal.aborted) onAbort();
    const pump = async (stream: ReadableStream<Uint8Array>) => {
      for await (const chunk of stream) {
        logged += chunk.length;
        if (spec.maxLogSize > 0 && logged > spec.maxLogSize) {
          kill({ kind: "logLimit" });
          continue;
        }
        armSilence();
        spec.log(chunk);
      }
    };
    try {
      const [status] = await Promise.all([child.status, pump(child.stdout), pump(child.stderr)]);
      if (outcome) return outcome;
      if (status.signal) return { kind: "signaled", signal: status.signal };
      // Outputs the builder made go to their scratch places.
      for (const o of spec.outputs) {
        const made = join(storeView, o.path.slice(spec.storeDir.length + 1));
        try {
          Deno.lstatSync(made);
        } catch {
          continue;
        }
        await Deno.rename(made, o.physical);
      }
      return { kind: "exited", code: status.code };
    } finally {
      clearTimeout(silence);
      clearTimeout(timeout);
      spec.signal.removeEventListener("abort", onAbort);
      await removeAll(work);
    }
  };
}

/** `name` as an absolute path, searched in this process's PATH when it has no slash. */
export function findProgram(name: string): string {
  if (name.includes("/")) return name;
  for (const dir of (Deno.env.get("PATH") ?? "/usr/bin:/bin").split(":")) {
    try {
      if (Deno.statSync(join(dir, name)).isFile) return join(dir, name);
    } catch { /* not here */ }
  }
  return name;
}

async function removeAll(path: string): Promise<void> {
  await new Deno.Command("chmod", { args: ["-R", "u+w", path], stderr: "null" }).output()
    .catch(() => {});
  await Deno.remove(path, { recursive: true }).catch(() => {});
}
