/**
 * `deno task install` from a throw-away clone into a temporary prefix; the
 * clone is deleted, and the installed `buildhost` then serves, checks and
 * builds with a minimal environment (`env -i PATH=PREFIX/bin:/usr/bin:/bin`).
 * Installing again upgrades in place; `deno task uninstall` removes exactly
 * what was installed. (Real Nix reaching it through a real sshd:
 * install_interop_test.ts.)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { Hash } from "../../lib/hash/hash.ts";
import { SERVE_MAGIC_1, SERVE_MAGIC_2, ServeCommand } from "../../lib/serve_protocol/protocol.ts";
import {
  OLDEST_WORKER_VERSION,
  Stderr,
  WORKER_MAGIC_1,
  WORKER_MAGIC_2,
  WORKER_PROTOCOL_VERSION,
  WorkerOp,
} from "../../lib/worker_protocol/protocol.ts";
import { tempDir } from "../_helpers/nix.ts";
import { startDaemon } from "../_helpers/daemon.ts";
import { exists } from "../_helpers/fs.ts";
import { clone, installFromClone, run, task } from "./_install.ts";

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

function listTree(dir: string, base = dir): string[] {
  const out: string[] = [];
  for (const e of Deno.readDirSync(dir)) {
    const p = join(dir, e.name);
    out.push(p.slice(base.length + 1) + (e.isDirectory ? "/" : ""));
    if (e.isDirectory) out.push(...listTree(p, base));
  }
  return out.sort();
}

/**
 * A Nix 2.3 client's session (1.21): magic, version, CPU affinity (none),
 * reserve space (no), then IsValidPath of `path`; and the answer when it is
 * valid. nix-daemon --stdio answers these bytes too, with its own version.
 */
function isValidPathSession(path: string): { hello: Uint8Array; answer: Uint8Array } {
  return {
    hello: concat([
      u64(WORKER_MAGIC_1),
      u64(OLDEST_WORKER_VERSION),
      u64(0),
      u64(0),
      u64(WorkerOp.IsValidPath),
      wireString(path),
    ]),
    answer: concat([
      u64(WORKER_MAGIC_2),
      u64(WORKER_PROTOCOL_VERSION),
      u64(Stderr.LAST),
      u64(Stderr.LAST),
      u64(1),
    ]),
  };
}

Deno.test("deno task install: a buildhost that works without its checkout, with a minimal PATH; upgrade and uninstall", async (t) => {
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
    `file ${prefix}/lib/buildhost/serve_relay.pl`,
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
    const { hello, answer } = isValidPathSession(path);
    const r = await minimal(prefix, ["--stdio", "--store", store], hello);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.bytes, answer);
  });

  await t.step(
    "--stdio with the store's daemon running: the launcher passes the session on with socat; a dead daemon's socket is passed over",
    async () => {
      const listed = await minimal(prefix, ["store", "ls", "--store", store]);
      const path = listed.stdout.trim();
      const { hello, answer } = isValidPathSession(path);
      /** The launcher under `sh -x`: what it ran is in the trace. */
      const traced = () =>
        run("env", [
          "-i",
          `PATH=${prefix}/bin:/usr/bin:/bin`,
          "sh",
          "-x",
          join(prefix, "bin/buildhost"),
          "--stdio",
          "--store",
          store,
        ], { stdin: hello });
      const daemon = await startDaemon(store, [], { PATH: `${prefix}/bin:/usr/bin:/bin` }, [
        join(prefix, "bin/buildhost"),
      ]);
      const relayed = await traced();
      assert.equal(relayed.code, 0, relayed.stderr);
      assert.deepEqual(relayed.bytes, answer);
      assert.match(relayed.stderr, /\+ cd .*\/daemon-socket\n/);
      assert.match(relayed.stderr, /exec socat STDIO UNIX-CONNECT:buildhost-socket\n/);
      assert.doesNotMatch(relayed.stderr, /deno/);
      await daemon.said(/session 1 started/);
      // Killed: its socket and pid file stay, and the launcher serves the session itself.
      daemon.child.kill("SIGKILL");
      await daemon.stop();
      const served = await traced();
      assert.equal(served.code, 0, served.stderr);
      assert.deepEqual(served.bytes, answer);
      assert.doesNotMatch(served.stderr, /socat/);
      assert.match(served.stderr, /exec .*deno.* run /);
    },
  );

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

  await t.step("doctor with env -i and no perl where it looks: says so, exits 1", async () => {
    const tools = join(tmp.path, "tools");
    Deno.mkdirSync(tools);
    Deno.symlinkSync("/usr/bin/busybox", join(tools, "busybox"));
    const r = await minimal(prefix, ["doctor", "--store", store, "--tool-path", tools]);
    assert.equal(r.code, 1, r.stdout + r.stderr);
    assert.match(
      r.stdout,
      new RegExp(
        `^FAIL perl: perl not found in ${tools}: install it \\(apt-get install perl-base\\)$`,
        "m",
      ),
    );
    assert.match(r.stdout, /\ndoctor: 2 needed check\(s\) failed: perl, sandboxed build\n$/);
  });

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
      "lib/buildhost/serve_relay.pl",
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

Deno.test("deno task install: into a prefix whose parents are missing, again, then uninstall; the parents stay", async () => {
  using tmp = tempDir();
  const prefix = join(tmp.path, "made/for/prefix");
  await installFromClone(join(tmp.path, "clone"), prefix);
  const manifest = Deno.readTextFileSync(join(prefix, "lib/buildhost/MANIFEST"));
  assert.doesNotMatch(manifest, new RegExp(`^dir ${join(tmp.path, "made")}(/for)?$`, "m"));
  assert.match(manifest, new RegExp(`^dir ${prefix}$`, "m"));
  // Installing again reads that manifest back (it names nothing outside the prefix).
  await installFromClone(join(tmp.path, "clone2"), prefix);
  const dir = join(tmp.path, "clone3");
  await clone(dir);
  const r = await task(dir, "uninstall", { PREFIX: prefix });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  assert.ok(exists(join(tmp.path, "made/for")));
  assert.ok(!exists(prefix));
});
