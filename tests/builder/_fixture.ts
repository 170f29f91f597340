/**
 * Shared by the sandbox tests: a chroot store holding Debian's static busybox
 * (as `<store>/…-busybox/bin/busybox`), derivations built in it by real Nix
 * 2.8 (sandboxed: chroot stores always are), and the same derivations run by
 * our sandbox with the inputs taken from that store.
 *
 * @module
 */
import { nix, nixEnv, tempDir } from "../_helpers/nix.ts";
import { nixBuildEnv, writeBuildFiles } from "../../lib/builder/build_env.ts";
import {
  runInSandbox,
  type SandboxOptions,
  type SandboxResult,
} from "../../lib/sandbox/sandbox.ts";
import { removeTree } from "../../lib/store/restore_path.ts";

/**
 * Nix's configuration for the oracle builds here: the harness's, without
 * `extra-sandbox-paths` (busybox is in the store, nothing else is needed).
 */
export const PURE_NIX_CONFIG = [
  "build-users-group =",
  "substituters =",
  "experimental-features = nix-command",
  "sandbox = true",
].join("\n");

/** `NIX_BUILD_CORES` in both sandboxes. */
export const CORES = 3;

/** The parts of a derivation the sandbox needs (from `nix show-derivation`). */
export interface DrvInfo {
  drvPath: string;
  outputs: Map<string, string>;
  inputSrcs: string[];
  platform: string;
  builder: string;
  args: string[];
  env: Map<string, string>;
  fixedOutput: boolean;
}

/** A chroot store with busybox and the test's files. */
export class NixFixture implements Disposable {
  readonly dir: { path: string } & Disposable;
  constructor() {
    this.dir = tempDir("buildhost-sandbox-test-");
    Deno.mkdirSync(`${this.root}/src/bb/bin`, { recursive: true });
    Deno.copyFileSync("/bin/busybox", `${this.root}/src/bb/bin/busybox`);
    Deno.chmodSync(`${this.root}/src/bb/bin/busybox`, 0o555);
  }

  /** The directory holding everything; the chroot store is `root/store`. */
  get root(): string {
    return this.dir.path;
  }

  /** The chroot store's root (`/nix/store/x` is at `store + /nix/store/x`). */
  get store(): string {
    return `${this.root}/store`;
  }

  /** Write a file next to the Nix expressions. */
  write(name: string, text: string): void {
    Deno.writeTextFileSync(`${this.root}/src/${name}`, text);
  }

  /**
   * Instantiate `attr` of `src/file` and return the derivation.
   */
  async instantiate(file: string, attr: string): Promise<DrvInfo> {
    const env = { NIX_CONFIG: PURE_NIX_CONFIG };
    const drvPath = (await nix("nix-instantiate", [
      "--store",
      this.store,
      `${this.root}/src/${file}`,
      "-A",
      attr,
    ], { env })).text;
    const json = JSON.parse(
      (await nix("nix", ["show-derivation", "--store", this.store, drvPath], { env })).text,
    )[drvPath];
    const outputs = new Map<string, string>();
    let fixedOutput = false;
    for (
      const [name, o] of Object.entries(
        json.outputs as Record<string, { path: string; hash?: string }>,
      )
    ) {
      outputs.set(name, o.path);
      if (o.hash) fixedOutput = true;
    }
    return {
      drvPath,
      outputs,
      inputSrcs: json.inputSrcs,
      platform: json.platform,
      builder: json.builder,
      args: json.args,
      env: new Map(Object.entries(json.env as Record<string, string>)),
      fixedOutput,
    };
  }

  /** The build directory Nix uses for a derivation (`$TMPDIR/nix-build-<drv name>-0`). */
  nixBuildDir(drv: DrvInfo): string {
    const name = drv.drvPath.slice(drv.drvPath.indexOf("-") + 1);
    return `${Deno.env.get("TMPDIR") ?? "/tmp"}/nix-build-${name}-0`;
  }

  /**
   * Build with real Nix; returns its log. Fails if Nix fails.
   * `extraConfig` is appended to Nix's configuration.
   */
  async nixBuild(drv: DrvInfo, extraConfig = ""): Promise<Uint8Array> {
    const env = { NIX_CONFIG: `${PURE_NIX_CONFIG}\n${extraConfig}` };
    try {
      Deno.removeSync(this.nixBuildDir(drv), { recursive: true });
    } catch {
      // not there: good
    }
    // Not through nix(): Deno's posix_spawn leaves glibc's signals 32 and 33
    // ignored in the child, which a shell-started Nix does not have; the
    // uid/gid options make Deno fork and exec instead.
    const run = await new Deno.Command("nix-store", {
      args: ["--store", this.store, "--cores", String(CORES), "-r", drv.drvPath],
      env: { ...nixEnv(), ...env },
      uid: Deno.uid() ?? 0,
      gid: Deno.gid() ?? 0,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!run.success) {
      throw new Error(`nix-store -r failed: ${new TextDecoder().decode(run.stderr)}`);
    }
    const log = await nix("nix-store", ["--store", this.store, "-l", drv.drvPath], { env });
    return log.bytes;
  }

  /** Where Nix put an output. */
  nixOutput(drv: DrvInfo, name = "out"): string {
    return this.store + drv.outputs.get(name)!;
  }

  /**
   * Run the derivation in our sandbox with Nix's paths: the root at
   * `<store>/<drv>.chroot`, the build directory at Nix's. Outputs go to
   * `root/ours-<name>`.
   */
  async ourBuild(
    drv: DrvInfo,
    extra: Partial<SandboxOptions> = {},
  ): Promise<{ result: SandboxResult; log: Uint8Array; outputs: Map<string, string> }> {
    const buildDir = this.nixBuildDir(drv);
    // As the Builder makes it (mode 0755 by the umask): the sandbox must
    // give it Nix's mode itself.
    Deno.mkdirSync(buildDir);
    Deno.chmodSync(buildDir, 0o755);
    const outputs = new Map<string, string>();
    const outMap = new Map<string, string>();
    for (const [name, path] of drv.outputs) {
      const physical = `${this.root}/ours-${name}`;
      try {
        Deno.removeSync(physical, { recursive: true });
      } catch {
        // fresh
      }
      outputs.set(name, physical);
      outMap.set(path, physical);
    }
    const be = nixBuildEnv({
      env: drv.env,
      args: drv.args,
      outputs: drv.outputs,
      storeDir: "/nix/store",
      cores: CORES,
      fixedOutput: drv.fixedOutput,
      buildDir,
    });
    writeBuildFiles(buildDir, be.files);
    const chunks: Uint8Array[] = [];
    try {
      const result = await runInSandbox({
        rootDir: `${this.store}${drv.drvPath}.chroot`,
        buildDir,
        inputs: drv.inputSrcs.map((p) => ({ logical: p, physical: this.store + p })),
        outputs: outMap,
        builder: drv.builder,
        args: be.args,
        env: be.env,
        network: drv.fixedOutput,
        platform: drv.platform,
        log: (c) => {
          chunks.push(c);
        },
        ...extra,
      });
      const log = new Uint8Array(chunks.reduce((n, c) => n + c.length, 0));
      let at = 0;
      for (const c of chunks) {
        log.set(c, at);
        at += c.length;
      }
      return { result, log, outputs };
    } finally {
      await removeTree(buildDir);
    }
  }

  [Symbol.dispose](): void {
    this.dir[Symbol.dispose]();
  }
}

/** The busybox store path expression, for Nix files in `src/`. */
export const BUSYBOX_LET = 'let bb = builtins.path { path = ./bb; name = "busybox"; }; in';
