/**
 * `buildhost doctor`: each check on this machine (where the sandbox works),
 * and each failure named with its remedy when a tool is hidden, busybox is
 * not static, the store has another schema, or a remote does not answer.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { sandboxTools, staticBusybox } from "../../lib/sandbox/sandbox.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";
import { startDaemon } from "../_helpers/daemon.ts";

const HELPERS = new URL("../_helpers/", import.meta.url).pathname;

/** The doctor's lines by check name: [status, detail]. */
function lines(stdout: string): Map<string, [string, string]> {
  const out = new Map<string, [string, string]>();
  for (const line of stdout.trimEnd().split("\n").slice(0, -1)) {
    const m = /^(ok|warn|FAIL|info) +(.+?): (.*)$/.exec(line);
    assert.ok(m, `not a check line: ${line}`);
    out.set(m[2]!, [m[1]!, m[3]!]);
  }
  return out;
}

/** A directory of links to the sandbox's tools, without those in `hide`. */
function toolDir(dir: string, tools: Record<string, string>, hide: string[]): string {
  const path = join(dir, "tools");
  Deno.mkdirSync(path);
  for (const [name, target] of Object.entries(tools)) {
    if (!hide.includes(name)) Deno.symlinkSync(target, join(path, name));
  }
  return path;
}

Deno.test("buildhost doctor passes here, one ok line per check, with the sandbox's own tools", async () => {
  using t = tempDir();
  const store = join(t.path, "store");
  await runBuildhost(["store", "add-text", "x.txt", "/dev/null", "--store", store]);
  const confDir = join(t.path, "conf");
  Deno.mkdirSync(confDir);
  Deno.writeTextFileSync(
    join(confDir, "nix.conf"),
    "system-features = kvm big\nmax-jobs = 3\nextra-platforms = i686-linux\n",
  );
  const r = await runBuildhost(["doctor", "--store", store], {
    env: {
      NIX_CONF_DIR: confDir,
      NIX_USER_CONF_FILES: "",
      NIX_CONFIG: "extra-sandbox-paths = /usr\nkeep-going = true",
    },
  });
  assert.equal(r.code, 0, r.stdout + r.stderr);
  const got = lines(r.stdout);
  for (
    const name of [
      "deno",
      "perl",
      "static busybox",
      "user namespaces",
      "store",
      "store space",
      "sandboxed build",
    ]
  ) {
    assert.equal(got.get(name)?.[0], "ok", `${name}: ${got.get(name)}`);
  }
  assert.match(
    got.get("deno")![1],
    new RegExp(`^deno ${Deno.version.deno.replaceAll(".", "\\.")} at /`),
  );
  // The tools are the ones the sandbox itself uses.
  const tools = await sandboxTools();
  assert.match(got.get("perl")![1], new RegExp(`^perl v5\\.[0-9.]+ at ${tools.perl}$`));
  assert.equal(got.get("static busybox")![1], staticBusybox());
  assert.match(got.get("store")![1], /readable, writable, schema 10, 1 valid paths$/);
  assert.match(got.get("sandboxed build")![1], /"built in the sandbox\\n"/);
  assert.deepEqual(got.get("nix.conf"), [
    "info",
    `read ${join(confDir, "nix.conf")}, NIX_CONFIG; system x86_64-linux, ` +
    "extra-platforms {i686-linux}, system-features {kvm, big}, max-jobs 3, " +
    `cores ${navigator.hardwareConcurrency}, sandbox true, sandbox paths /usr`,
  ]);
  assert.match(r.stdout, /\ndoctor: this machine can be a build host\n$/);
  // Its trivial build left nothing behind in the store it checked.
  const after = await runBuildhost(["store", "ls", "--store", store]);
  assert.equal(after.stdout.trim().split("\n").length, 1);
});

Deno.test("buildhost doctor names a missing tool and a dynamic busybox, and exits 1", async () => {
  using t = tempDir();
  const tools = await sandboxTools();
  const all = { perl: tools.perl, busybox: staticBusybox() };
  const noPerl = toolDir(t.path, all, ["perl"]);
  const r = await runBuildhost([
    "doctor",
    "--store",
    join(t.path, "store"),
    "--tool-path",
    noPerl,
  ]);
  assert.equal(r.code, 1, r.stdout + r.stderr);
  const got = lines(r.stdout);
  assert.deepEqual(got.get("perl"), [
    "FAIL",
    `perl not found in ${noPerl}: install it (apt-get install perl-base)`,
  ]);
  assert.deepEqual(got.get("sandboxed build"), [
    "FAIL",
    "not tried: the sandbox lacks perl (see above)",
  ]);
  assert.equal(got.get("static busybox")?.[0], "ok");
  assert.match(r.stdout, /\ndoctor: 2 needed check\(s\) failed: perl, sandboxed build\n$/);

  // a dynamically linked busybox
  const other = join(t.path, "other");
  Deno.mkdirSync(other);
  const dynamic = Deno.realPathSync("/bin/sh");
  const dir = toolDir(other, { ...all, busybox: dynamic }, []);
  const r2 = await runBuildhost(["doctor", "--store", join(t.path, "store"), "--tool-path", dir]);
  assert.equal(r2.code, 1);
  const got2 = lines(r2.stdout);
  assert.deepEqual(got2.get("static busybox"), [
    "FAIL",
    `${dynamic} is dynamically linked: apt-get install busybox-static`,
  ]);
  assert.equal(got2.get("perl")?.[0], "ok");
  assert.equal(got2.get("user namespaces")?.[0], "ok");
});

Deno.test("buildhost doctor refuses a store of another schema, and changes nothing in it", async () => {
  using t = tempDir();
  const db = join(t.path, "nix/var/nix/db");
  Deno.mkdirSync(db, { recursive: true });
  Deno.writeTextFileSync(join(db, "schema"), "7");
  const r = await runBuildhost(["doctor", "--store", t.path]);
  assert.equal(r.code, 1);
  const [status, detail] = lines(r.stdout).get("store")!;
  assert.equal(status, "FAIL");
  assert.equal(
    detail,
    `${db}/schema says schema 7, buildhost reads 10 (Nix 2.8's): use a store of Nix 2.8's ` +
      "schema, or another --store",
  );
  assert.deepEqual([...Deno.readDirSync(db)].map((e) => e.name), ["schema"]);
});

Deno.test("buildhost doctor checks buildhost on the ssh PATH by running it with only that PATH", async () => {
  using t = tempDir();
  const empty = join(t.path, "empty");
  Deno.mkdirSync(empty);
  const store = join(t.path, "store");
  const r = await runBuildhost(["doctor", "--store", store, "--ssh-path", empty]);
  assert.equal(r.code, 0, "the ssh PATH is not needed: remote-program can be absolute");
  const [status, detail] = lines(r.stdout).get("buildhost on the ssh PATH")!;
  assert.equal(status, "warn");
  assert.match(detail, new RegExp(`^not found in PATH=${empty}, which a non-interactive ssh`));
  assert.match(detail, /remote-program=\/absolute\/path\/to\/buildhost$/);

  // A buildhost there that works only with more than that PATH (it needs `env` to find deno).
  const bin = join(t.path, "bin");
  Deno.mkdirSync(bin);
  Deno.writeTextFileSync(join(bin, "buildhost"), "#!/bin/sh\nexec deno --version\n", {
    mode: 0o755,
  });
  const r2 = await runBuildhost(["doctor", "--store", store, "--ssh-path", bin]);
  const [status2, detail2] = lines(r2.stdout).get("buildhost on the ssh PATH")!;
  assert.equal(status2, "warn");
  assert.match(detail2, new RegExp(`^${bin}/buildhost does not run with only PATH=${bin}: .*deno`));
});

Deno.test("buildhost doctor --remote opens a serve and a daemon session on the host, or says why not", async () => {
  using t = tempDir();
  const store = join(t.path, "store");
  const good = `ssh://b1?remote-program=${HELPERS}remote-buildhost`;
  const bad = "ssh://b2?remote-program=no-such-buildhost";
  const r = await runBuildhost(
    ["doctor", "--store", store, "--remote", good, "--remote", bad],
    {
      env: {
        PATH: `${HELPERS}bin:${Deno.env.get("PATH")}`, // the ssh stand-in
        BUILDHOST_TEST_REMOTE_STORE: join(t.path, "remote"),
      },
    },
  );
  assert.equal(r.code, 1);
  const got = lines(r.stdout);
  assert.deepEqual(got.get(`remote ${good}`), [
    "ok",
    `a serve session opened (\`${HELPERS}remote-buildhost --serve --write\`, protocol 2.7)`,
  ]);
  assert.deepEqual(got.get(`remote ${good} (ssh-ng)`), [
    "ok",
    `a daemon session opened (\`${HELPERS}remote-buildhost --stdio\`, protocol 1.38)`,
  ]);
  assert.equal(got.get(`remote ${bad} (ssh-ng)`)?.[0], "FAIL");
  const [status, detail] = got.get(`remote ${bad}`)!;
  assert.equal(status, "FAIL");
  assert.match(detail, /no-such-buildhost: not found/);
  assert.match(detail, /check that `ssh b2` logs in without a prompt and that no-such-buildhost/);
  assert.match(
    r.stdout,
    /failed: remote ssh:\/\/b2\?remote-program=no-such-buildhost, remote ssh:\/\/b2\?remote-program=no-such-buildhost \(ssh-ng\)\n$/,
  );
  // The session really reached the remote store.
  assert.ok(Deno.statSync(join(t.path, "remote/nix/var/nix/db/db.sqlite")).isFile);
});

Deno.test("buildhost doctor says whether the store's daemon runs, and a dead daemon's socket", async () => {
  using t = tempDir();
  const store = join(t.path, "store");
  const line = async () => {
    const r = await runBuildhost(["doctor", "--store", store]);
    return lines(r.stdout).get("store daemon");
  };
  assert.deepEqual(await line(), [
    "ok",
    "not running: each session starts a process of its own (`buildhost daemon` serves them in one warm process)",
  ]);
  const daemon = await startDaemon(store);
  assert.deepEqual(await line(), [
    "ok",
    `listening on ${daemon.socket} (pid ${daemon.child.pid}): the launcher passes sessions to it`,
  ]);
  daemon.child.kill("SIGKILL");
  await daemon.stop();
  const [status, detail] = (await line())!;
  assert.equal(status, "warn");
  assert.match(
    detail!,
    /buildhost-socket is there but no daemon accepts \(.*\): start `buildhost daemon` again/,
  );
});
