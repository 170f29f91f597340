/**
 * `deno task install` from a throw-away clone into a temporary prefix; the
 * clone is deleted, and the installed `buildhost` then serves, checks and
 * builds with a minimal environment (`env -i PATH=PREFIX/bin:/usr/bin:/bin`),
 * and real Nix reaches it through a real sshd as `remote-program=buildhost`
 * (the bare name, found on the session's PATH). Installing again upgrades
 * in place; `deno task uninstall` removes exactly what was installed.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hash } from "../../lib/hash/hash.ts";
import { SERVE_MAGIC_1, SERVE_MAGIC_2, ServeCommand } from "../../lib/serve_protocol/protocol.ts";
import { Store } from "../../lib/store/store.ts";
import {
  OLDEST_WORKER_VERSION,
  Stderr,
  WORKER_MAGIC_1,
  WORKER_MAGIC_2,
  WORKER_PROTOCOL_VERSION,
  WorkerOp,
} from "../../lib/worker_protocol/protocol.ts";
import { nix, tempDir } from "../_helpers/nix.ts";
import { startSshd } from "../_helpers/sshd.ts";

const REPO = new URL("../..", import.meta.url).pathname;
const SANDBOX_PATHS = "/bin /lib /lib64 /usr";
const decoder = new TextDecoder();

async function run(
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string>; stdin?: Uint8Array } = {},
): Promise<{ code: number; stdout: string; bytes: Uint8Array; stderr: string }> {
  const child = new Deno.Command(cmd, {
    args,
    stdin: options.stdin ? "piped" : "null",
    stdout: "piped",
    stderr: "piped",
    ...(options.cwd ? { cwd: options.cwd } : {}),
    ...(options.env ? { env: options.env } : {}),
  }).spawn();
  if (options.stdin) {
    const w = child.stdin.getWriter();
    await w.write(options.stdin);
    await w.close();
  }
  const out = await child.output();
  return {
    code: out.code,
    stdout: decoder.decode(out.stdout),
    bytes: out.stdout,
    stderr: decoder.decode(out.stderr),
  };
}

async function ok(cmd: string, args: string[], options: Parameters<typeof run>[2] = {}) {
  const r = await run(cmd, args, options);
  assert.equal(r.code, 0, `${cmd} ${args.join(" ")}: ${r.stdout}${r.stderr}`);
  return r;
}

/** Clone this checkout's HEAD to `dir`. */
async function clone(dir: string): Promise<void> {
  await ok("git", ["init", "--quiet", dir]);
  await ok("git", ["-C", dir, "fetch", "--quiet", REPO, "HEAD"]);
  await ok("git", ["-C", dir, "checkout", "--quiet", "FETCH_HEAD"]);
}

/** `deno task TASK` in `dir` with PREFIX (and more environment). */
function task(dir: string, name: string, env: Record<string, string>) {
  return run(Deno.execPath(), ["task", name], {
    cwd: dir,
    env: { ...Deno.env.toObject(), ...env },
  });
}

/** Clone this checkout's HEAD to `dir`, `deno task install` from it with PREFIX, delete it. */
async function installFromClone(dir: string, prefix: string, mode = "bundle"): Promise<string> {
  await clone(dir);
  const r = await task(dir, "install", { PREFIX: prefix, INSTALL_MODE: mode });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  Deno.removeSync(dir, { recursive: true });
  return r.stdout;
}

/** `buildhost ARGS` as a minimal environment runs it: `env -i PATH=PREFIX/bin:/usr/bin:/bin`. */
function minimal(prefix: string, args: string[], stdin?: Uint8Array) {
  return run("env", ["-i", `PATH=${prefix}/bin:/usr/bin:/bin`, "buildhost", ...args], {
    ...(stdin ? { stdin } : {}),
  });
}

function u64(n: number): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(n), true);
  return b;
}

function wireString(s: string): Uint8Array {
  const bytes = new TextEncoder().encode(s);
  const padded = new Uint8Array(Math.ceil(bytes.length / 8) * 8);
  padded.set(bytes);
  return concat([u64(bytes.length), padded]);
}

function concat(parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}

function listTree(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    out.push(p.slice(base.length + 1) + (e.isDirectory ? "/" : ""));
    if (e.isDirectory) out.push(...listTree(p, base));
  }
  return out.sort();
}

Deno.test("deno task install: a buildhost that works without its checkout, with a minimal PATH and over a real sshd; upgrade and uninstall", async (t) => {
  using tmp = tempDir();
  const prefix = join(tmp.path, "prefix");
  // Something of the operator's already in the prefix: it must survive.
  Deno.mkdirSync(join(prefix, "bin"), { recursive: true });
  Deno.writeTextFileSync(join(prefix, "bin/other-tool"), "#!/bin/sh\n", { mode: 0o755 });

  const said = await installFromClone(join(tmp.path, "clone"), prefix);
  assert.match(
    said,
    new RegExp(`installed buildhost .* in ${prefix} \\(bundled\\): ${prefix}/bin/buildhost runs`),
  );
  const manifest = () => Deno.readTextFileSync(join(prefix, "lib/buildhost/MANIFEST"));
  const installed = manifest();
  assert.deepEqual(installed.split("\n").filter((l) => l && !l.startsWith("#")), [
    `file ${prefix}/lib/buildhost/hash_worker.js`,
    `file ${prefix}/lib/buildhost/main.js`,
    `file ${prefix}/bin/buildhost`,
    `file ${prefix}/lib/buildhost/MANIFEST`,
    `dir ${prefix}/lib`,
    `dir ${prefix}/lib/buildhost`,
  ]);
  // The launcher names deno by its absolute path (a minimal PATH has no deno).
  assert.ok(Deno.readTextFileSync(join(prefix, "bin/buildhost")).includes(`'${Deno.execPath()}'`));
  const store = join(tmp.path, "store");

  await t.step("serve handshake and a query with env -i, the clone gone", async () => {
    const added = await minimal(prefix, [
      "store",
      "add-text",
      "x.txt",
      "/dev/null",
      "--store",
      store,
    ]);
    assert.equal(added.code, 0, added.stderr);
    const path = added.stdout.trim();
    const hello = concat([
      u64(SERVE_MAGIC_1),
      u64(0x207),
      u64(ServeCommand.QueryValidPaths),
      u64(0),
      u64(0),
      u64(1),
      wireString(path),
    ]);
    const r = await minimal(prefix, ["--serve", "--write", "--store", store], hello);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.bytes, concat([u64(SERVE_MAGIC_2), u64(0x207), u64(1), wireString(path)]));
  });

  await t.step("daemon-protocol handshake and IsValidPath with env -i (ssh-ng)", async () => {
    const listed = await minimal(prefix, ["store", "ls", "--store", store]);
    assert.equal(listed.code, 0, listed.stderr);
    const path = listed.stdout.trim();
    // A Nix 2.3 client (1.21): magic, version, CPU affinity (none), reserve space (no); then
    // IsValidPath. nix-daemon --stdio answers these bytes too, with its own version.
    const hello = concat([
      u64(WORKER_MAGIC_1),
      u64(OLDEST_WORKER_VERSION),
      u64(0),
      u64(0),
      u64(WorkerOp.IsValidPath),
      wireString(path),
    ]);
    const r = await minimal(prefix, ["--stdio", "--store", store], hello);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(
      r.bytes,
      concat([
        u64(WORKER_MAGIC_2),
        u64(WORKER_PROTOCOL_VERSION),
        u64(Stderr.LAST),
        u64(Stderr.LAST),
        u64(1),
      ]),
    );
  });

  await t.step("the hashing worker is part of the install", async () => {
    const file = join(tmp.path, "f.txt");
    Deno.writeTextFileSync(file, "hashed by the installed worker\n");
    const r = await minimal(prefix, ["hash", "file", file]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(
      r.stdout.trim(),
      Hash.of("sha256", "hashed by the installed worker\n").toString("sri"),
    );
  });

  await t.step("doctor with env -i: all needed checks pass", async () => {
    const sshPath = `${prefix}/bin:/usr/bin:/bin`;
    const r = await minimal(prefix, ["doctor", "--store", store, "--ssh-path", sshPath]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^ok   buildhost on the ssh PATH: ${prefix}/bin/buildhost runs with only PATH=`,
        "m",
      ),
    );
    assert.match(r.stdout, /^ok {3}sandboxed build: a trivial derivation built in the sandbox/m);
    assert.match(r.stdout, /\ndoctor: this machine can be a build host\n$/);
  });

  await t.step("doctor with env -i and no bwrap where it looks: says so, exits 1", async () => {
    const tools = join(tmp.path, "tools");
    Deno.mkdirSync(tools);
    for (const tool of ["busybox", "setarch", "setpriv", "unshare", "mount"]) {
      Deno.symlinkSync(`/usr/bin/${tool}`, join(tools, tool));
    }
    const r = await minimal(prefix, ["doctor", "--store", store, "--tool-path", tools]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^FAIL bubblewrap: bwrap not found in ${tools}: install it \\(apt-get install bubblewrap\\)$`,
        "m",
      ),
    );
    assert.match(r.stdout, /\ndoctor: 2 needed check\(s\) failed: bubblewrap, sandboxed build\n$/);
  });

  await t.step(
    "real Nix copies and builds through sshd with remote-program=buildhost",
    async () => {
      const dir = join(tmp.path, "sshd");
      Deno.mkdirSync(dir);
      const hostStore = join(tmp.path, "host-store");
      // The session's environment, as an operator would set it for a prefix of their own:
      // the prefix on PATH and the sandbox paths. The store is the URL's remote-store (as root,
      // buildhost's default store would be the machine's real /nix, as for nix-store).
      const sshd = await startSshd(dir, [
        `SetEnv PATH=${prefix}/bin:/usr/bin:/bin ` +
        `"NIX_CONFIG=extra-sandbox-paths = ${SANDBOX_PATHS}"`,
      ]);
      try {
        const url = `ssh://127.0.0.1?remote-program=buildhost&remote-store=${hostStore}`;
        const env = { NIX_SSHOPTS: sshd.sshOpts };
        const client = join(tmp.path, "client");
        const src = (await nix("nix", [
          "eval",
          "--store",
          client,
          "--raw",
          "--expr",
          `builtins.toFile "installed.txt" "copied to an installed buildhost\\n"`,
        ])).text;
        await nix("nix", ["copy", "--store", client, "--to", url, src], { env });
        const file = join(tmp.path, "d.nix");
        Deno.writeTextFileSync(
          file,
          `derivation { name = "on-installed"; system = "x86_64-linux"; builder = "/bin/sh";
          src = builtins.toFile "src.txt" "source\\n";
          args = [ "-c" "PATH=/bin:/usr/bin; echo building on the installed host; cat $src > $out" ]; }`,
        );
        const built = await nix("nix-build", [
          "--store",
          client,
          "--no-out-link",
          file,
          "--max-jobs",
          "0",
          "--builders",
          `${url} x86_64-linux`,
        ], { env });
        assert.equal(Deno.readTextFileSync(join(client, built.text)), "source\n");
        assert.match(built.stderr, /building on the installed host/);
        // Both landed in the store the client named (remote-store), not in the real /nix.
        const remote = await Store.open(hostStore);
        try {
          assert.ok(remote.isValid(src), "the copied path is on the host");
          assert.ok(remote.isValid(built.text), "the output is registered on the host");
        } finally {
          remote.close();
        }
      } finally {
        const log = await sshd.stop();
        assert.match(log, /Accepted publickey for root from 127\.0\.0\.1/);
      }
    },
  );

  await t.step("installing again upgrades in place, also as a copy of the modules", async () => {
    const before = Deno.statSync(join(prefix, "lib/buildhost/main.js")).ino;
    // Without `deno bundle` (forced here): the module graph is copied; it works the same.
    const said = await installFromClone(join(tmp.path, "clone2"), prefix, "copy");
    assert.match(
      said,
      /\(a copy of its modules\): .* runs .*\/lib\/buildhost\/src\/main\.ts with /,
    );
    assert.ok(!exists(join(prefix, "lib/buildhost/main.js")), "the bundle it replaced is gone");
    const hashed = await minimal(prefix, ["hash", "file", join(tmp.path, "f.txt")]);
    assert.equal(hashed.code, 0, hashed.stderr);
    assert.equal(
      hashed.stdout.trim(),
      Hash.of("sha256", "hashed by the installed worker\n").toString("sri"),
    );
    const served = await minimal(
      prefix,
      ["--serve", "--store", store],
      concat([u64(SERVE_MAGIC_1), u64(0x207)]),
    );
    assert.deepEqual(served.bytes, concat([u64(SERVE_MAGIC_2), u64(0x207)]));
    // And back to the bundle: the same files as the first install, nothing of the copy left.
    await installFromClone(join(tmp.path, "clone3"), prefix);
    assert.equal(manifest(), installed);
    assert.notEqual(Deno.statSync(join(prefix, "lib/buildhost/main.js")).ino, before);
    assert.equal((await minimal(prefix, ["--help"])).code, 0);
    assert.deepEqual(listTree(prefix), [
      "bin/",
      "bin/buildhost",
      "bin/other-tool",
      "lib/",
      "lib/buildhost/",
      "lib/buildhost/MANIFEST",
      "lib/buildhost/hash_worker.js",
      "lib/buildhost/main.js",
    ]);
  });

  await t.step("uninstall removes exactly what was installed", async () => {
    const dir = join(tmp.path, "clone4");
    await clone(dir);
    const r = await task(dir, "uninstall", { PREFIX: prefix });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`uninstalled buildhost from ${prefix}`));
    assert.deepEqual(listTree(prefix), ["bin/", "bin/other-tool"]);
    // Nothing is left to uninstall.
    const again = await task(dir, "uninstall", { PREFIX: prefix });
    assert.equal(again.code, 1);
    assert.match(again.stderr, /Cannot uninstall: no buildhost installed in/);
  });
});
