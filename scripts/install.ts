/**
 * `deno task install` / `deno task uninstall`: a self-contained buildhost
 * under a prefix (`PREFIX`, else `/usr/local` for root and `~/.local`
 * otherwise), which works once the checkout is gone:
 *
 * - `PREFIX/lib/buildhost/main.js`: the program bundled into one file
 *   (`deno bundle`; it needs only Deno's built-in `node:` modules, nothing
 *   from the network), and `hash_worker.js`, the hashing worker it starts;
 * - `PREFIX/bin/buildhost`: a shell launcher that execs the Deno this was
 *   installed with (its absolute path, so a session with a minimal `PATH`,
 *   such as non-interactive ssh, finds it), ignoring any `deno.json` in the
 *   working directory and never reaching the network;
 * - `PREFIX/lib/buildhost/MANIFEST`: what was installed, so that installing
 *   again replaces the files in place and uninstalling removes exactly them
 *   (and the directories the install created, when they are empty).
 *
 * The new files are bundled and tried out before anything in place is
 * replaced; each is then renamed over its old version.
 *
 * @module
 */
import { dirname, join, resolve } from "node:path";

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

function readManifest(libDir: string): Manifest {
  const manifest: Manifest = { files: [], dirs: [] };
  let text: string;
  try {
    text = Deno.readTextFileSync(join(libDir, MANIFEST));
  } catch {
    return manifest;
  }
  for (const line of text.split("\n")) {
    const m = /^(file|dir) (\/.*)$/.exec(line);
    if (m) (m[1] === "file" ? manifest.files : manifest.dirs).push(m[2]!);
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

async function bundle(entry: string, output: string): Promise<void> {
  const deno = Deno.execPath();
  const help = await new Deno.Command(deno, {
    args: ["bundle", "--help"],
    stdout: "null",
    stderr: "null",
  })
    .output();
  if (!help.success) {
    throw new Error(
      `Cannot install: deno ${Deno.version.deno} has no \`deno bundle\` (Deno 2.4 and later have it)`,
    );
  }
  await run(deno, ["bundle", "--quiet", "--platform", "deno", "-o", output, entry]);
}

async function install(): Promise<void> {
  const root = prefix();
  const binDir = join(root, "bin"), libDir = join(root, "lib/buildhost");
  const old = readManifest(libDir);
  const createdDirs = [...mkdirs(binDir), ...mkdirs(libDir)];
  const stage = Deno.makeTempDirSync({ dir: libDir, prefix: ".install-" });
  try {
    // The program and its worker, each one file.
    await bundle("main.ts", join(stage, "main.js"));
    await bundle("lib/hash/hash_worker.ts", join(stage, "hash_worker.js"));
    const main = Deno.readTextFileSync(join(stage, "main.js"));
    const workerRef = `new URL("./hash_worker.ts", import.meta.url)`;
    if (main.split(workerRef).length !== 2) {
      throw new Error(`Cannot install: the bundle does not start its worker as ${workerRef} once`);
    }
    Deno.writeTextFileSync(
      join(stage, "main.js"),
      main.replace(workerRef, `new URL("./hash_worker.js", import.meta.url)`),
    );
    // The launcher: this Deno by its absolute path, no config, no lock, no network.
    const source = await describeSource();
    const launcher = [
      "#!/bin/sh",
      `# buildhost ${source}, installed by \`deno task install\` from ${REPO}`,
      `# with deno ${Deno.version.deno}. The program is ${libDir}/main.js.`,
      "DENO_NO_UPDATE_CHECK=1 DENO_NO_PROMPT=1 exec " +
      [Deno.execPath(), "run", "--allow-all", "--no-config", "--no-lock", "--no-remote", "--no-npm"]
        .map(shQuote).join(" ") +
      ` ${shQuote(join(libDir, "main.js"))} "$@"`,
      "",
    ].join("\n");
    Deno.writeTextFileSync(join(stage, "buildhost"), launcher, { mode: 0o755 });
    Deno.chmodSync(join(stage, "buildhost"), 0o755);
    // Try it before replacing anything.
    await run(Deno.execPath(), [
      "run",
      "--allow-all",
      "--no-config",
      "--no-lock",
      "--no-remote",
      "--no-npm",
      join(stage, "main.js"),
      "--help",
    ]);
    // In place: each file renamed over its old version.
    const placed: [string, string][] = [
      ["hash_worker.js", join(libDir, "hash_worker.js")],
      ["main.js", join(libDir, "main.js")],
      ["buildhost", join(binDir, "buildhost")],
    ];
    for (const [name, target] of placed) {
      if (dirname(target) === binDir) {
        const tmp = join(binDir, ".buildhost.new");
        Deno.copyFileSync(join(stage, name), tmp);
        Deno.chmodSync(tmp, 0o755);
        Deno.renameSync(tmp, target);
      } else {
        Deno.chmodSync(join(stage, name), 0o644);
        Deno.renameSync(join(stage, name), target);
      }
    }
    const files = [...placed.map(([, t]) => t), join(libDir, MANIFEST)];
    for (const f of old.files) {
      if (!files.includes(f)) Deno.removeSync(f);
    }
    writeManifest(libDir, { files, dirs: [...new Set([...old.dirs, ...createdDirs])] });
    console.log(
      `installed buildhost ${source} in ${root}: ${binDir}/buildhost runs ${libDir}/main.js` +
        ` with ${Deno.execPath()}`,
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
  const m = readManifest(libDir);
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
