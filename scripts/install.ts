/**
 * `deno task install` / `deno task uninstall`: a self-contained buildhost
 * under a prefix (`PREFIX`, else `/usr/local` for root and `~/.local`
 * otherwise), which works once the checkout is gone:
 *
 * - `PREFIX/lib/buildhost/main.js`: the program bundled into one minified file
 *   (`deno bundle`; it needs only Deno's built-in `node:` modules, nothing
 *   from the network), and `hash_worker.js`, the hashing worker it starts;
 *   or, with a Deno that has no `deno bundle` (or `INSTALL_MODE=copy`),
 *   `PREFIX/lib/buildhost/src/`: a copy of the modules `deno info` finds
 *   from `main.ts` and from the worker;
 * - `PREFIX/lib/buildhost/serve_relay.pl`: what passes a serve session to
 *   the store's running `buildhost daemon` (see {@linkcode daemonFastPath});
 * - `PREFIX/bin/buildhost`: a shell launcher that passes a session to the
 *   store's daemon when one runs, else execs the Deno this was installed
 *   with (its absolute path, so a session with a minimal `PATH`, such as
 *   non-interactive ssh, finds it), ignoring any `deno.json` in the working
 *   directory and never reaching the network;
 * - `PREFIX/lib/buildhost/MANIFEST`: what was installed, so that installing
 *   again replaces the files in place and uninstalling removes exactly them
 *   (and the directories the install created, when they are empty).
 *
 * The new files are bundled and tried out before anything in place is
 * replaced; each is then renamed over its old version.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";

const REPO = resolve(dirname(new URL(import.meta.url).pathname), "..");
const MANIFEST = "MANIFEST";

/** What a manifest records: the files, and the directories the first install created. */
interface Manifest {
  files: string[];
  dirs: string[];
}

function prefix(): string {
  const given = Deno.env.get("PREFIX");
  if (given) return resolve(given);
  if (Deno.uid() === 0) return "/usr/local";
  const home = Deno.env.get("HOME");
  if (!home) throw new Error("Cannot choose a prefix: PREFIX and HOME are both unset");
  return join(home, ".local");
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

/** `s` quoted for sh. */
function shQuote(s: string): string {
  return `'${s.replaceAll("'", `'\\''`)}'`;
}

/**
 * The manifest in `libDir`, or an empty one. Only paths under `root` are
 * taken: nothing else is ever removed.
 */
function readManifest(libDir: string, root: string): Manifest {
  const manifest: Manifest = { files: [], dirs: [] };
  let text: string;
  try {
    text = Deno.readTextFileSync(join(libDir, MANIFEST));
  } catch {
    return manifest;
  }
  for (const line of text.split("\n")) {
    const m = /^(file|dir) (\/.*)$/.exec(line);
    if (!m) continue;
    const path = m[2]!;
    if ((path !== root && !path.startsWith(root + "/")) || path.split("/").includes("..")) {
      throw new Error(`Cannot read ${join(libDir, MANIFEST)}: ${path} is not in ${root}`);
    }
    (m[1] === "file" ? manifest.files : manifest.dirs).push(path);
  }
  return manifest;
}

function writeManifest(libDir: string, m: Manifest): void {
  const lines = [
    "# Installed by buildhost's `deno task install`; `deno task uninstall` removes these.",
    ...m.files.map((f) => `file ${f}`),
    ...m.dirs.map((d) => `dir ${d}`),
    "",
  ];
  const tmp = join(libDir, `.${MANIFEST}.new`);
  Deno.writeTextFileSync(tmp, lines.join("\n"));
  Deno.renameSync(tmp, join(libDir, MANIFEST));
}

/** Create `dir` and its missing parents; the ones created, outermost first. */
function mkdirs(dir: string): string[] {
  if (exists(dir)) return [];
  const created = mkdirs(dirname(dir));
  Deno.mkdirSync(dir);
  return [...created, dir];
}

async function run(cmd: string, args: string[], cwd = REPO): Promise<string> {
  const out = await new Deno.Command(cmd, { args, cwd, stdout: "piped", stderr: "piped" })
    .output();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim();
    throw new Error(`Cannot install: \`${cmd} ${args.join(" ")}\` failed: ${err}`);
  }
  return new TextDecoder().decode(out.stdout);
}

function describeSource(): Promise<string> {
  return run("git", ["describe", "--always", "--dirty", "--tags"]).then(
    (s) => s.trim(),
    () => "unknown commit",
  );
}

/**
 * How the launcher runs the program. A young generation of 1 MiB (V8's
 * semi-space; 16 MiB by default) keeps a host's peak memory low while
 * megabytes of NAR chunks pass through it (a 1 GiB copy: about 70 MiB
 * instead of 100), at no measurable cost in time.
 */
export const V8_FLAGS = "--v8-flags=--max-semi-space-size=1";
const RUN_FLAGS = [
  "run",
  "--allow-all",
  "--no-config",
  "--no-lock",
  "--no-remote",
  "--no-npm",
  V8_FLAGS,
];

/**
 * The launcher's first lines: a session for a store whose daemon is running
 * (`buildhost daemon`: its socket, and a live pid in the file beside it; see
 * `StoreLayout.daemonSocket`) is passed to the daemon before any Deno starts, as
 * `nix-daemon --stdio` passes its session to nix-daemon: `buildhost --stdio
 * [--store /ROOT]` with socat, byte for byte, and `buildhost --serve
 * [--write] [--store /ROOT]` (in any order) with the serve relay, which
 * keeps its stderr apart (`serve_relay.pl`). Any other arguments, no daemon,
 * or neither tool: the program runs and serves the session itself (so too
 * when the relay finds no daemon accepting: it exits 75 having read
 * nothing). `BUILDHOST_NO_DAEMON=1` turns this off.
 *
 * @param relay The installed serve relay.
 * @returns The lines.
 */
export function daemonFastPath(relay: string): string[] {
  return [
    "bh_mode= bh_write=0 bh_store= bh_next= bh_s=",
    `[ -n "\${BUILDHOST_NO_DAEMON:-}" ] && bh_mode=x`,
    `for a in "$@"; do`,
    `  if [ -n "$bh_next" ]; then bh_store=$a; bh_next=; continue; fi`,
    `  case $a in`,
    `    --stdio|--serve) if [ -z "$bh_mode" ]; then bh_mode=$a; else bh_mode=x; fi ;;`,
    `    --write) bh_write=1 ;;`,
    `    --store) bh_next=1 ;;`,
    `    *) bh_mode=x ;;`,
    `  esac`,
    `done`,
    `[ -n "$bh_next" ] && bh_mode=x`,
    `[ "$bh_mode$bh_write" = --stdio1 ] && bh_mode=x`,
    `case $bh_store in`,
    `  "") [ -n "\${NIX_REMOTE:-}\${NIX_STATE_DIR:-}" ] || bh_s=/nix/var/nix/daemon-socket/buildhost-socket ;;`,
    `  /*) bh_s=$bh_store/nix/var/nix/daemon-socket/buildhost-socket ;;`,
    `esac`,
    `if [ "$bh_mode" = --stdio ] || [ "$bh_mode" = --serve ]; then`,
    `  if [ -n "$bh_s" ] && [ -S "$bh_s" ] && [ -w "$bh_s" ] &&`,
    `    { read -r bh_p < "$bh_s.pid"; } 2>/dev/null && kill -0 "$bh_p" 2>/dev/null; then`,
    // From the socket's directory: its full path may be longer than a socket address holds.
    `    if [ "$bh_mode" = --stdio ]; then`,
    `      command -v socat >/dev/null && cd "\${bh_s%/*}" && exec socat STDIO UNIX-CONNECT:buildhost-socket`,
    `    elif command -v perl >/dev/null; then`,
    `      (cd "\${bh_s%/*}" && exec perl ${shQuote(relay)} buildhost-socket "$bh_write")`,
    `      bh_rc=$?`,
    `      [ "$bh_rc" = 75 ] || exit "$bh_rc"`,
    `    fi`,
    `  fi`,
    `fi`,
  ];
}

/** Whether this deno has `deno bundle` (Deno 2.4 and later). */
async function canBundle(): Promise<boolean> {
  const help = await new Deno.Command(Deno.execPath(), {
    args: ["bundle", "--help"],
    stdout: "null",
    stderr: "null",
  }).output();
  return help.success;
}

/**
 * The program as one file, `main.js`, and its worker, `hash_worker.js`
 * (bundles cannot follow `new Worker(new URL(...))`, so the worker is
 * bundled on its own and the one reference to it renamed).
 *
 * Minified, with function and class names kept (stack traces of `--debug`
 * still name them): every session is a new process that loads the whole
 * bundle, and half the size (no comments, short local names) starts it
 * some 9 ms sooner, a tenth of a serve session that only shakes hands.
 */
async function stageBundle(stage: string): Promise<string[]> {
  const bundle = (entry: string, output: string) =>
    run(Deno.execPath(), [
      "bundle",
      "--quiet",
      "--platform",
      "deno",
      "--minify",
      "--keep-names",
      "-o",
      output,
      entry,
    ]);
  await bundle("main.ts", join(stage, "main.js"));
  await bundle("lib/hash/hash_worker.ts", join(stage, "hash_worker.js"));
  const main = Deno.readTextFileSync(join(stage, "main.js"));
  const workerRef = /new URL\("\.\/hash_worker\.ts", ?import\.meta\.url\)/g;
  if (main.match(workerRef)?.length !== 1) {
    throw new Error(
      `Cannot install: the bundle does not start its worker as new URL("./hash_worker.ts", import.meta.url) once`,
    );
  }
  Deno.writeTextFileSync(
    join(stage, "main.js"),
    main.replace(workerRef, `new URL("./hash_worker.js",import.meta.url)`),
  );
  return ["hash_worker.js", "main.js"];
}

/** What `deno info` finds from `entry`: local modules (relative to the checkout), npm packages. */
interface ModuleGraph {
  files: string[];
  /** Each npm package the modules import: its name and where Deno's cache has it. */
  npm: { name: string; localPath: string }[];
}

async function moduleGraph(entry: string): Promise<ModuleGraph> {
  const info = JSON.parse(await run(Deno.execPath(), ["info", "--json", entry])) as {
    modules: { specifier: string }[];
    npmPackages?: Record<string, { name: string; localPath: string }>;
  };
  const specifiers = info.modules.map((m) => m.specifier);
  const files = specifiers.filter((s) => s.startsWith("file://")).map((s) =>
    relative(REPO, new URL(s).pathname)
  );
  const npm = Object.entries(info.npmPackages ?? {})
    .filter(([id]) => specifiers.some((s) => s.startsWith(`npm:/${id}/`)))
    .map(([, p]) => ({ name: p.name, localPath: p.localPath }));
  return { files, npm };
}

/**
 * Without `deno bundle`: a copy of the program's module graph (and the
 * worker's) under `src/`. npm packages are copied from Deno's cache to
 * `src/npm/NAME/` (their top-level modules, package.json, licence), and the
 * copied modules import them there by relative path, as the launcher runs
 * with neither config nor npm.
 */
async function stageCopy(stage: string): Promise<string[]> {
  const graphs = [await moduleGraph("main.ts"), await moduleGraph("lib/hash/hash_worker.ts")];
  const files = [...new Set(graphs.flatMap((g) => g.files))].sort();
  const npm = new Map(graphs.flatMap((g) => g.npm).map((p) => [p.name, p.localPath]));
  const imports =
    (JSON.parse(Deno.readTextFileSync(join(REPO, "deno.json"))).imports ?? {}) as Record<
      string,
      string
    >;
  const placed: string[] = [];
  for (const [name, localPath] of npm) {
    for (const e of Deno.readDirSync(localPath)) {
      if (!e.isFile || !/(\.js|^package\.json|^LICENSE)$/.test(e.name)) continue;
      const f = join("npm", name, e.name);
      Deno.mkdirSync(dirname(join(stage, "src", f)), { recursive: true });
      Deno.copyFileSync(join(localPath, e.name), join(stage, "src", f));
      placed.push(join("src", f));
    }
  }
  for (const f of files) {
    if (f.startsWith("..")) throw new Error(`Cannot install: ${f} is outside the checkout`);
    Deno.mkdirSync(dirname(join(stage, "src", f)), { recursive: true });
    let text = Deno.readTextFileSync(join(REPO, f));
    for (const [key, target] of Object.entries(imports)) {
      const name = /^npm:(@?[^@]+)/.exec(target)?.[1];
      if (!name || !npm.has(name) || !text.includes(`from "${key}/`)) continue;
      const rel = relative(dirname(join("src", f)), join("src", "npm", name));
      text = text.replaceAll(`from "${key}/`, `from "${rel.startsWith(".") ? rel : `./${rel}`}/`);
    }
    Deno.writeTextFileSync(join(stage, "src", f), text);
  }
  return [...files.map((f) => join("src", f)), ...placed];
}

async function install(): Promise<void> {
  const root = prefix();
  const binDir = join(root, "bin"), libDir = join(root, "lib/buildhost");
  const old = readManifest(libDir, root);
  // The prefix's own parents, when they had to be made, are not the install's:
  // they stay on uninstall (and a manifest naming them could not be read back).
  const createdDirs = [...mkdirs(binDir), ...mkdirs(libDir)]
    .filter((d) => d === root || d.startsWith(root + "/"));
  const stage = Deno.makeTempDirSync({ dir: libDir, prefix: ".install-" });
  try {
    const mode = Deno.env.get("INSTALL_MODE") ?? (await canBundle() ? "bundle" : "copy");
    if (mode !== "bundle" && mode !== "copy") {
      throw new Error(`Cannot install: INSTALL_MODE is "${mode}", not "bundle" or "copy"`);
    }
    const files = mode === "bundle" ? await stageBundle(stage) : await stageCopy(stage);
    Deno.copyFileSync(join(REPO, "scripts/serve_relay.pl"), join(stage, "serve_relay.pl"));
    files.push("serve_relay.pl");
    const entry = join(libDir, mode === "bundle" ? "main.js" : "src/main.ts");
    // The launcher: this Deno by its absolute path, no config, no lock, no network.
    const source = await describeSource();
    const launcher = [
      "#!/bin/sh",
      `# buildhost ${source}, installed by \`deno task install\` from ${REPO}`,
      `# with deno ${Deno.version.deno}. The program is ${entry}.`,
      ...daemonFastPath(join(libDir, "serve_relay.pl")),
      "DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 exec " +
      [Deno.execPath(), ...RUN_FLAGS].map(shQuote).join(" ") + ` ${shQuote(entry)} "$@"`,
      "",
    ].join("\n");
    // Try it before replacing anything.
    await run(Deno.execPath(), [...RUN_FLAGS, join(stage, relative(libDir, entry)), "--help"]);
    // In place: each file renamed over its old version, the launcher last.
    const placed: string[] = [];
    for (const f of files) {
      const target = join(libDir, f);
      createdDirs.push(...mkdirs(dirname(target)));
      Deno.chmodSync(join(stage, f), 0o644);
      Deno.renameSync(join(stage, f), target);
      placed.push(target);
    }
    const tmp = join(binDir, ".buildhost.new");
    Deno.writeTextFileSync(tmp, launcher);
    Deno.chmodSync(tmp, 0o755);
    Deno.renameSync(tmp, join(binDir, "buildhost"));
    placed.push(join(binDir, "buildhost"), join(libDir, MANIFEST));
    for (const f of old.files) {
      if (!placed.includes(f) && exists(f)) Deno.removeSync(f);
    }
    const dirs = [...new Set([...old.dirs, ...createdDirs])];
    for (const d of [...dirs].sort((a, b) => b.length - a.length)) {
      if (
        d.startsWith(libDir + "/") && exists(d) &&
        Deno.readDirSync(d)[Symbol.iterator]().next().done
      ) {
        Deno.removeSync(d); // emptied by this upgrade
        dirs.splice(dirs.indexOf(d), 1);
      }
    }
    writeManifest(libDir, { files: placed, dirs });
    console.log(
      `installed buildhost ${source} in ${root} (${
        mode === "bundle" ? "bundled" : "a copy of its modules"
      }): ` +
        `${binDir}/buildhost runs ${entry} with ${Deno.execPath()}`,
    );
    const path = (Deno.env.get("PATH") ?? "").split(":");
    if (!path.includes(binDir)) console.log(`note: ${binDir} is not on this PATH`);
  } finally {
    Deno.removeSync(stage, { recursive: true });
  }
}

function uninstall(): void {
  const root = prefix();
  const libDir = join(root, "lib/buildhost");
  if (!exists(join(libDir, MANIFEST))) {
    throw new Error(
      `Cannot uninstall: no buildhost installed in ${root} (no ${libDir}/${MANIFEST})`,
    );
  }
  const m = readManifest(libDir, root);
  const manifestPath = join(libDir, MANIFEST);
  for (const f of m.files) {
    if (f !== manifestPath && exists(f)) Deno.removeSync(f);
  }
  Deno.removeSync(manifestPath);
  // The directories the install created, innermost first, when nothing else is in them.
  for (const d of [...m.dirs].sort((a, b) => b.length - a.length)) {
    try {
      Deno.removeSync(d);
    } catch { /* not empty: something else lives there */ }
  }
  console.log(`uninstalled buildhost from ${root}`);
}

if (import.meta.main) {
  const [what] = Deno.args;
  try {
    if (what === "install") await install();
    else if (what === "uninstall") uninstall();
    else throw new Error("usage: deno run -A scripts/install.ts install|uninstall");
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(1);
  }
}
