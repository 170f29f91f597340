/**
 * `buildhost doctor [--store ROOT] [--tool-path DIRS] [--ssh-path DIRS]
 * [--remote URI]...`: can this machine be a build host? One line per
 * check, `ok`, `warn` or `FAIL`, each failure with its remedy:
 *
 * - the Deno running buildhost;
 * - `buildhost` on the `PATH` a non-interactive ssh session gets (what
 *   `remote-program=buildhost` needs), and that it runs with only that `PATH`;
 * - user namespaces, perl (which sets the sandbox up) and a static busybox
 *   (the trial build's builder), looked up where the sandbox looks for them
 *   (`--tool-path` overrides the directories);
 * - the store: readable, writable, its schema, its free space; whether its
 *   `buildhost daemon` runs (then sessions are passed to it, warm);
 * - a trivial derivation builds in the sandbox (in a temporary store);
 * - the Nix settings read (nix.conf files and `NIX_CONFIG`, as Nix finds them);
 * - with `--remote ssh://HOST?remote-program=P`, that a serve session opens
 *   on HOST.
 *
 * The exit code is 1 if a needed check failed (a `warn` is not needed).
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { parseArgs } from "./args.ts";
import { printDerivation } from "../derivation/aterm.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { derivationPath, HashModulo } from "../derivation/hash_modulo.ts";
import { Store } from "../store/store.ts";
import { NIX_SCHEMA_VERSION } from "../store/store_db.ts";
import { defaultStoreRoot, storeLayout } from "../store/store_layout.ts";
import { removeTree } from "../store/restore_path.ts";
import { Builder } from "../builder/builder.ts";
import { BuildStatus } from "../derivation/build_result.ts";
import { exists, isStaticElf, probeNamespaces, SEARCH_PATH } from "../sandbox/sandbox_tools.ts";
import { SandboxUnavailableError } from "../sandbox/sandbox_error.ts";
import { nixSandboxRunner } from "../builder/sandbox_runner.ts";
import { parseSandboxPaths } from "../sandbox/sandbox_paths.ts";
import { loadNixConfig, nixConfigFiles, nixSettings } from "./nix_settings.ts";
import { formatProtocolVersion } from "../serve_protocol/protocol.ts";
import { formatWorkerVersion } from "../worker_protocol/protocol.ts";
import {
  daemonCommandFor,
  type Machine,
  parseMachines,
  remoteCommand,
  serveCommandFor,
} from "../remote/machine_spec.ts";
import { startDaemonHost } from "../remote/daemon_host_process.ts";
import { startServeHost } from "../remote/serve_host_process.ts";
import { type Command, printOut, UsageError } from "./command.ts";
import { notListening } from "../daemon/daemon_listener.ts";

const USAGE = "usage: buildhost doctor [--store ROOT] [--store-dir DIR] [--tool-path DIRS] " +
  "[--ssh-path DIRS] [--remote ssh://HOST?remote-program=P | ssh-ng://...]...";

/** Where the sandbox (lib/sandbox/sandbox.ts) looks for its programs. */
export const SANDBOX_TOOL_PATH: string = SEARCH_PATH.join(":");

/**
 * The `PATH` OpenSSH's sshd gives a session as Debian builds it, when
 * neither `/etc/environment` nor `/etc/login.defs` says otherwise.
 */
const SSHD_ROOT_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
const SSHD_USER_PATH = "/usr/local/bin:/usr/bin:/bin:/usr/games";

/** Free space below which the store check warns. */
const LOW_SPACE_BYTES = 1 << 30;

/** The outcome of one check. */
export interface DoctorCheck {
  /** `ok`; `warn`: works, but something is worth knowing; `FAIL`: needed and not there. */
  status: "ok" | "warn" | "FAIL" | "info";
  /** What was checked. */
  name: string;
  /** What was found, and for a failure what to do. */
  detail: string;
}

/** The first `dir/name` over `dirs` that is an executable file. */
function which(name: string, dirs: string): string | undefined {
  for (const dir of dirs.split(":").filter((d) => d !== "")) {
    const p = join(dir, name);
    try {
      const st = Deno.statSync(p);
      if (st.isFile && ((st.mode ?? 0) & 0o111) !== 0) return p;
    } catch { /* not here */ }
  }
  return undefined;
}

async function output(
  cmd: string,
  args: string[],
  options: { env?: Record<string, string>; clearEnv?: boolean } = {},
): Promise<{ ok: boolean; text: string }> {
  try {
    const out = await new Deno.Command(cmd, {
      args,
      stdin: "null",
      stdout: "piped",
      stderr: "piped",
      ...options,
    }).output();
    const decode = (b: Uint8Array) => new TextDecoder().decode(b).trim();
    return { ok: out.success, text: out.success ? decode(out.stdout) : decode(out.stderr) };
  } catch (e) {
    return { ok: false, text: (e as Error).message };
  }
}

/** A `KEY VALUE` or `KEY=VALUE` setting of a config file like login.defs or /etc/environment. */
function setting(file: string, key: RegExp): string | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(file);
  } catch {
    return undefined;
  }
  for (const line of text.split("\n")) {
    const m = key.exec(line.trim());
    if (m) return m[1]!.replace(/^"(.*)"$/, "$1");
  }
  return undefined;
}

/**
 * The `PATH` a non-interactive ssh session gets here: `/etc/environment`'s
 * (pam_env), else `/etc/login.defs`' `ENV_SUPATH` / `ENV_PATH`, else sshd's
 * default, for root or for other users.
 *
 * @param root Whether the session is root's.
 * @returns The directories, `:`-separated.
 */
export function sshSessionPath(root: boolean = Deno.uid() === 0): string {
  return setting("/etc/environment", /^PATH=(.*)$/) ??
    setting("/etc/login.defs", root ? /^ENV_SUPATH\s+PATH=(\S+)$/ : /^ENV_PATH\s+PATH=(\S+)$/) ??
    (root ? SSHD_ROOT_PATH : SSHD_USER_PATH);
}

function checkDeno(): DoctorCheck {
  const [major = 0, minor = 0] = Deno.version.deno.split(".").map(Number);
  const at = `deno ${Deno.version.deno} at ${Deno.execPath()}`;
  if (major < 2 || (major === 2 && minor < 2)) {
    return {
      status: "FAIL",
      name: "deno",
      detail: `${at} is too old (buildhost needs 2.2 or later, for node:sqlite): upgrade deno`,
    };
  }
  return { status: "ok", name: "deno", detail: at };
}

async function checkSshPath(sshPath: string): Promise<DoctorCheck> {
  const name = "buildhost on the ssh PATH";
  const found = which("buildhost", sshPath);
  const remedy = "run `deno task install` as root (it installs in /usr/local/bin), or install " +
    "with PREFIX=DIR and put DIR/bin on the ssh PATH (sshd_config SetEnv, or PATH in " +
    "/etc/environment), or give the client remote-program=/absolute/path/to/buildhost";
  if (!found) {
    return {
      status: "warn",
      name,
      detail:
        `not found in PATH=${sshPath}, which a non-interactive ssh session gets here: ${remedy}`,
    };
  }
  const run = await output(found, ["--help"], { clearEnv: true, env: { PATH: sshPath } });
  if (!run.ok) {
    return {
      status: "warn",
      name,
      detail: `${found} does not run with only PATH=${sshPath}: ${run.text}: reinstall it`,
    };
  }
  return { status: "ok", name, detail: `${found} runs with only PATH=${sshPath}` };
}

function missingTool(name: string, file: string, toolPath: string, pkg: string): DoctorCheck {
  return {
    status: "FAIL",
    name,
    detail: `${file} not found in ${toolPath}: install it (apt-get install ${pkg})`,
  };
}

/** The programs the doctor found: the sandbox's perl, and a static busybox for its trial build. */
interface DoctorTools {
  perl?: string;
  busybox?: string;
}

async function checkUserNamespaces(tools: DoctorTools): Promise<DoctorCheck> {
  const name = "user namespaces";
  const remedy = "enable them: sysctl user.max_user_namespaces=15000 " +
    "(and kernel.unprivileged_userns_clone=1 where it exists)";
  let max = "";
  try {
    max = Deno.readTextFileSync("/proc/sys/user/max_user_namespaces").trim();
  } catch {
    return { status: "FAIL", name, detail: `this kernel has no user namespaces: ${remedy}` };
  }
  if (max === "0") {
    return { status: "FAIL", name, detail: `user.max_user_namespaces is 0: ${remedy}` };
  }
  if (tools.perl === undefined) {
    return { status: "warn", name, detail: `max ${max}; not tried (no perl)` };
  }
  try {
    await probeNamespaces({ perl: tools.perl });
  } catch (e) {
    if (!(e instanceof SandboxUnavailableError)) throw e;
    return { status: "FAIL", name, detail: `cannot create one: ${e.detail}: ${remedy}` };
  }
  return { status: "ok", name, detail: `a user namespace can be created (max ${max})` };
}

async function checkTools(
  toolPath: string,
): Promise<{ checks: DoctorCheck[]; tools: DoctorTools }> {
  const checks: DoctorCheck[] = [];
  const tools: DoctorTools = {};
  const perl = which("perl", toolPath);
  if (perl) {
    tools.perl = perl;
    const v = await output(perl, ["-e", "print $^V"]);
    checks.push(
      v.ok
        ? { status: "ok", name: "perl", detail: `perl ${v.text} at ${perl}` }
        : { status: "FAIL", name: "perl", detail: `${perl} does not run: ${v.text}` },
    );
  } else checks.push(missingTool("perl", "perl", toolPath, "perl-base"));

  const busybox = which("busybox", toolPath);
  if (!busybox) checks.push(missingTool("static busybox", "busybox", toolPath, "busybox-static"));
  else {
    const real = Deno.realPathSync(busybox);
    if (isStaticElf(real)) {
      tools.busybox = real;
      checks.push({ status: "ok", name: "static busybox", detail: real });
    } else {
      checks.push({
        status: "FAIL",
        name: "static busybox",
        detail: `${real} is dynamically linked: apt-get install busybox-static`,
      });
    }
  }
  checks.push(await checkUserNamespaces(tools));
  return { checks, tools };
}

/** The nearest existing directory at or above `path`. */
function existingAncestor(path: string): string {
  let p = path;
  while (!exists(p) && p !== "/") p = join(p, "..");
  return p;
}

async function freeBytes(path: string): Promise<number | undefined> {
  const df = await output("df", ["-Pk", existingAncestor(path)]);
  const avail = df.ok ? df.text.split("\n")[1]?.split(/\s+/)[3] : undefined;
  return avail !== undefined && /^\d+$/.test(avail) ? Number(avail) * 1024 : undefined;
}

async function checkStore(root: string, storeDir: string | undefined): Promise<DoctorCheck[]> {
  const name = "store";
  const layout = storeLayout(root, storeDir);
  const checks: DoctorCheck[] = [];
  if (!exists(root)) {
    const parent = existingAncestor(root);
    const probe = join(parent, `.buildhost-doctor-${Deno.pid}`);
    try {
      Deno.mkdirSync(probe);
      Deno.removeSync(probe);
      checks.push({
        status: "ok",
        name,
        detail: `${root} does not exist yet; it will be created (${parent} is writable)`,
      });
    } catch (e) {
      checks.push({
        status: "FAIL",
        name,
        detail: `${root} does not exist and ${parent} is not writable ` +
          `(${(e as Error).message}): create ${root} for this user, or choose another --store`,
      });
    }
  } else {
    const schemaFile = join(layout.dbDir, "schema");
    let schema: string | undefined;
    try {
      schema = Deno.readTextFileSync(schemaFile).trim();
    } catch { /* a store not used yet */ }
    if (schema !== undefined && schema !== String(NIX_SCHEMA_VERSION)) {
      checks.push({
        status: "FAIL",
        name,
        detail: `${schemaFile} says schema ${schema}, buildhost reads ${NIX_SCHEMA_VERSION} ` +
          `(Nix 2.8's): use a store of Nix 2.8's schema, or another --store`,
      });
    } else {
      try {
        const store = await Store.open(root, storeDir);
        try {
          const count = store.allValidPaths().length;
          const probe = join(layout.stateDir, `.doctor-${Deno.pid}`);
          Deno.writeTextFileSync(probe, "");
          Deno.removeSync(probe);
          const probe2 = join(layout.realStoreDir, `.doctor-${Deno.pid}`);
          Deno.writeTextFileSync(probe2, "");
          Deno.removeSync(probe2);
          checks.push({
            status: "ok",
            name,
            detail:
              `${root}: readable, writable, schema ${NIX_SCHEMA_VERSION}, ${count} valid paths`,
          });
        } finally {
          store.close();
        }
      } catch (e) {
        checks.push({
          status: "FAIL",
          name,
          detail: `${root}: ${(e as Error).message}: ` +
            `make it readable and writable by this user, or choose another --store`,
        });
      }
    }
  }
  const free = await freeBytes(layout.realStoreDir);
  const gib = (n: number) => `${(n / (1 << 30)).toFixed(1)} GiB`;
  if (free === undefined) {
    checks.push({
      status: "warn",
      name: "store space",
      detail: "df could not tell the free space",
    });
  } else if (free < LOW_SPACE_BYTES) {
    checks.push({
      status: "warn",
      name: "store space",
      detail: `${gib(free)} free under ${existingAncestor(layout.realStoreDir)}: ` +
        "free some (buildhost store gc) or move the store",
    });
  } else {
    checks.push({
      status: "ok",
      name: "store space",
      detail: `${gib(free)} free under ${existingAncestor(layout.realStoreDir)}`,
    });
  }
  return checks;
}

/**
 * Whether the store's `buildhost daemon` is listening, and whether the
 * launcher can pass sessions to it (socat for ssh-ng, Perl for ssh://).
 * Not running is fine (each session then starts a process of its own); a
 * socket left by a daemon that died is worth knowing.
 */
async function checkDaemon(socket: string): Promise<DoctorCheck> {
  const name = "store daemon";
  if (!exists(socket)) {
    return {
      status: "ok",
      name,
      detail: `not running: each session starts a process of its own ` +
        `(\`buildhost daemon\` serves them in one warm process)`,
    };
  }
  const refused = await notListening(socket);
  if (refused) {
    return {
      status: "warn",
      name,
      detail: `${socket} is there but no daemon accepts (${refused.message}): ` +
        "start `buildhost daemon` again (it takes the socket over)",
    };
  }
  let pid = "?";
  try {
    pid = Deno.readTextFileSync(`${socket}.pid`).trim();
  } catch { /* an older daemon, or --listen elsewhere */ }
  const path = Deno.env.get("PATH") ?? "";
  const missing = [["socat", "ssh-ng"], ["perl", "ssh://"]].filter(([tool]) => !which(tool!, path));
  if (missing.length > 0) {
    return {
      status: "warn",
      name,
      detail: `listening on ${socket} (pid ${pid}), but ${
        missing.map(([tool, proto]) => `${tool} (for ${proto} sessions)`).join(" and ")
      } not on the PATH: those sessions start a process of their own`,
    };
  }
  return {
    status: "ok",
    name,
    detail: `listening on ${socket} (pid ${pid}): the launcher passes sessions to it`,
  };
}

/** Build a one-line derivation with the sandbox, in a temporary store. */
async function checkSandboxBuild(tools: DoctorTools): Promise<DoctorCheck> {
  const name = "sandboxed build";
  const lacking = (["perl", "busybox"] as const).filter((t) => tools[t] === undefined);
  if (lacking.length > 0) {
    return {
      status: "FAIL",
      name,
      detail: `not tried: the sandbox lacks ${lacking.join(", ")} (see above)`,
    };
  }
  const dir = await Deno.makeTempDir({ prefix: "buildhost-doctor-" });
  try {
    const bb = join(dir, "busybox");
    await Deno.mkdir(join(bb, "bin"), { recursive: true });
    await Deno.copyFile(tools.busybox!, join(bb, "bin/busybox"));
    await Deno.chmod(join(bb, "bin/busybox"), 0o755);
    const store = await Store.open(join(dir, "store"));
    try {
      const busybox = await store.addPath(bb, { name: "busybox" });
      const builder = `${busybox.path}/bin/busybox`;
      const drv: Derivation = {
        name: "doctor",
        outputs: new Map([["out", { kind: "deferred" }]]),
        inputDrvs: new Map(),
        inputSrcs: [busybox.path],
        platform: "x86_64-linux",
        builder,
        args: ["sh", "-c", "echo built in the sandbox > $out"],
        env: new Map([
          ["builder", builder],
          ["name", "doctor"],
          ["out", ""],
          ["system", "x86_64-linux"],
        ]),
      };
      const full = await new HashModulo(() => {
        throw new Error("the doctor's derivation has no input derivations");
      }).withOutputPaths(drv);
      const drvPath = derivationPath(full);
      await store.addText("doctor.drv", printDerivation(full), [busybox.path]);
      const log: Uint8Array[] = [];
      const result = await new Builder(store, nixSandboxRunner({ tools: { perl: tools.perl! } }))
        .build(drvPath, full, {
          buildTimeout: 60,
          log: (c) => void log.push(c.slice()),
        });
      const out = full.env.get("out")!;
      if (result.status !== BuildStatus.Built) {
        const text = new TextDecoder().decode(
          new Uint8Array(log.flatMap((c) => [...c])),
        ).trim();
        return {
          status: "FAIL",
          name,
          detail: `${result.status}: ${result.errorMsg || text}` +
            " (buildhost build --no-sandbox works without the sandbox, for a store at /nix only)",
        };
      }
      const content = Deno.readTextFileSync(join(store.layout.root, out));
      return {
        status: "ok",
        name,
        detail: `a trivial derivation built in the sandbox (${JSON.stringify(content)})`,
      };
    } finally {
      store.close();
    }
  } catch (e) {
    return { status: "FAIL", name, detail: (e as Error).message };
  } finally {
    await removeTree(dir);
  }
}

function checkNixConfig(): DoctorCheck {
  const name = "nix.conf";
  const env = Deno.env.toObject();
  const read = nixConfigFiles(env).filter((f) => {
    try {
      return Deno.statSync(f).isFile;
    } catch {
      return false;
    }
  });
  if (env.NIX_CONFIG !== undefined) read.push("NIX_CONFIG");
  try {
    const s = nixSettings(loadNixConfig(env));
    const paths = parseSandboxPaths(s.sandboxPaths).map((p) => p.target);
    return {
      status: "info",
      name,
      detail: `read ${read.length > 0 ? read.join(", ") : "nothing (Nix's defaults)"}; ` +
        `system ${s.system}, extra-platforms {${s.extraPlatforms.join(", ")}}, ` +
        `system-features {${s.systemFeatures.join(", ")}}, max-jobs ${s.maxJobs}, ` +
        `cores ${s.cores}, sandbox ${s.sandbox}, ` +
        `sandbox paths ${paths.length > 0 ? paths.join(" ") : "none"}` +
        (s.postBuildHook ? `, post-build-hook ${s.postBuildHook}` : ""),
    };
  } catch (e) {
    return { status: "FAIL", name, detail: `${(e as Error).message} (fix the setting)` };
  }
}

/** The daemon-protocol (`ssh-ng://`) twin of an `ssh://` machine: `nix-store` pairs with `nix-daemon`. */
function daemonTwin(machine: Machine): Machine {
  const program = machine.remoteProgram;
  return {
    ...machine,
    protocol: "ssh-ng",
    remoteProgram: program.replace(/(^|\/)nix-store$/, "$1nix-daemon"),
  };
}

async function checkSession(uri: string, machine: Machine): Promise<DoctorCheck> {
  const daemon = machine.protocol === "ssh-ng";
  const name = `remote ${uri}${daemon ? " (ssh-ng)" : ""}`;
  // ssh must fail rather than ask for a password.
  const sshOpts = `-o BatchMode=yes ${Deno.env.get("NIX_SSHOPTS") ?? ""}`;
  const command = daemon ? daemonCommandFor(machine, sshOpts) : serveCommandFor(machine, sshOpts);
  const log: string[] = [];
  const decoder = new TextDecoder();
  const onLog = (c: Uint8Array) => void log.push(decoder.decode(c, { stream: true }));
  try {
    let detail: string;
    if (daemon) {
      await using session = await startDaemonHost(command, { host: uri, log: onLog });
      await session.client.queryValidPaths([]);
      detail = `a daemon session opened (\`${remoteCommand(machine)}\`, protocol ` +
        `${formatWorkerVersion(session.client.version)})`;
    } else {
      await using session = await startServeHost(command, { host: uri, log: onLog });
      await session.client.queryValidPaths([]);
      detail = `a serve session opened (\`${remoteCommand(machine)}\`, protocol ` +
        `${formatProtocolVersion(session.client.version)})`;
    }
    return { status: "ok", name, detail };
  } catch (e) {
    const said = log.join("").trim().split("\n").slice(-3).join(" | ");
    return {
      status: "FAIL",
      name,
      detail:
        `${(e as Error).message}${
          said ? ` (${said})` : ""
        }: check that \`ssh ${machine.host}\` logs in without a prompt and that ${machine.remoteProgram} is on the PATH there ` +
        "(buildhost doctor there says)",
    };
  }
}

/**
 * Sessions on a remote host: for `ssh://`, a serve session and a daemon
 * session with the same program (`nix-daemon` for `nix-store`); for
 * `ssh-ng://`, a daemon session.
 */
async function checkRemote(uri: string): Promise<DoctorCheck[]> {
  const [machine] = parseMachines(uri);
  if (!machine || !(uri.startsWith("ssh://") || uri.startsWith("ssh-ng://"))) {
    throw new UsageError(`${USAGE}\n(bad --remote ${uri})`);
  }
  if (machine.protocol === "ssh-ng") return [await checkSession(uri, machine)];
  return [await checkSession(uri, machine), await checkSession(uri, daemonTwin(machine))];
}

/** `buildhost doctor ...` */
export const doctorCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: "string" },
      "store-dir": { type: "string" },
      "tool-path": { type: "string", default: SANDBOX_TOOL_PATH },
      "ssh-path": { type: "string" },
      remote: { type: "string", multiple: true, default: [] },
    },
  });
  if (positionals.length > 0) throw new UsageError(USAGE);
  const failed: string[] = [];
  const say = async (c: DoctorCheck) => {
    if (c.status === "FAIL") failed.push(c.name);
    await printOut(`${c.status.padEnd(4)} ${c.name}: ${c.detail}\n`);
  };
  await say(checkDeno());
  await say(await checkSshPath(values["ssh-path"] ?? sshSessionPath()));
  const { checks, tools } = await checkTools(values["tool-path"]);
  for (const c of checks) await say(c);
  const root = values.store ?? defaultStoreRoot();
  for (const c of await checkStore(root, values["store-dir"])) {
    await say(c);
  }
  await say(await checkDaemon(storeLayout(root, values["store-dir"]).daemonSocket));
  await say(await checkSandboxBuild(tools));
  await say(checkNixConfig());
  for (const uri of values.remote) {
    for (const check of await checkRemote(uri)) await say(check);
  }
  await printOut(
    failed.length === 0
      ? "doctor: this machine can be a build host\n"
      : `doctor: ${failed.length} needed check(s) failed: ${failed.join(", ")}\n`,
  );
  return failed.length === 0 ? 0 : 1;
};
