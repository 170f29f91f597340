/**
 * `buildhost daemon`: sessions on its socket, served concurrently in one
 * process, each in the store's record; its stop; its socket's claim; and
 * `buildhost --stdio` passing its session to it.
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { DaemonClient } from "../../lib/remote/daemon_client.ts";
import { MAX_SOCKET_PATH, socketPath } from "../../lib/daemon/socket_path.ts";
import { runBuildhost } from "../_helpers/buildhost.ts";
import { startDaemon } from "../_helpers/daemon.ts";
import { MAIN } from "../_helpers/buildhost.ts";
import { tempDir } from "../_helpers/nix.ts";

const MISSING = "/nix/store/ffffffffffffffffffffffffffffffff-missing";

/** A connection to the socket at `path`, however long. */
async function dial(path: string): Promise<Deno.UnixConn> {
  using p = socketPath(path);
  return await Deno.connect({ transport: "unix", path: p.path });
}

async function connect(socket: string): Promise<DaemonClient> {
  return await DaemonClient.connect(await dial(socket), { log: () => {} });
}

/** `buildhost --stdio --store STORE` and a client session through it. */
async function stdioSession(store: string) {
  const child = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", MAIN, "--stdio", "--store", store],
    stdin: "piped",
    stdout: "piped",
    stderr: "inherit",
  }).spawn();
  const client = await DaemonClient.connect({ readable: child.stdout, writable: child.stdin }, {
    log: () => {},
  });
  return { child, client };
}

async function openSessions(store: string): Promise<{ pid: number; kind: string }[]> {
  const r = await runBuildhost(["status", "--json", "--store", store]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout).sessions;
}

async function until(what: string, test: () => boolean | Promise<boolean>): Promise<void> {
  for (let i = 0; i < 600; i++) {
    if (await test()) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

Deno.test("buildhost daemon: sessions at once on its socket, each in the record; a bad one ends alone", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  await using daemon = await startDaemon(store);
  const st = Deno.statSync(daemon.socket);
  assert.equal(st.mode! & 0o777, 0o600);
  assert.equal(Deno.statSync(join(daemon.socket, "..")).mode! & 0o777, 0o700);
  assert.equal(Deno.readTextFileSync(`${daemon.socket}.pid`).trim(), String(daemon.child.pid));

  const [a, b] = await Promise.all([connect(daemon.socket), connect(daemon.socket)]);
  const open = await openSessions(store);
  assert.equal(open.length, 2);
  for (const s of open) assert.deepEqual([s.pid, s.kind], [daemon.child.pid, "daemon"]);

  // A client that is not speaking the protocol: its session ends, the others go on.
  const bad = await dial(daemon.socket);
  await bad.write(new Uint8Array(8).fill(0xff));
  assert.equal(
    await bad.read(new Uint8Array(64)).then(async function drain(n): Promise<null> {
      return n === null ? null : drain(await bad.read(new Uint8Array(64)));
    }),
    null,
  );
  bad.close();
  await until(
    "the bad session's end",
    () => /session 3 ended after an error/.test(daemon.stderr()),
  );

  assert.deepEqual(await a.queryValidPaths([MISSING]), []);
  assert.deepEqual(await b.queryValidPaths([MISSING]), []);
  await a.close();
  await b.close();
  await until("the sessions' end", async () => (await openSessions(store)).length === 0);
  assert.equal(await daemon.stop(), 0);
  assert.throws(() => Deno.lstatSync(daemon.socket), Deno.errors.NotFound);
  assert.throws(() => Deno.lstatSync(`${daemon.socket}.pid`), Deno.errors.NotFound);
});

Deno.test("buildhost daemon: SIGTERM stops it accepting at once; the session in progress goes on to its end", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  await using daemon = await startDaemon(store);
  const client = await connect(daemon.socket);
  daemon.child.kill("SIGTERM");
  await until("the socket's removal", () => {
    try {
      Deno.lstatSync(daemon.socket);
      return false;
    } catch {
      return true;
    }
  });
  await assert.rejects(dial(daemon.socket));
  assert.deepEqual(await client.queryValidPaths([MISSING]), []);
  await daemon.said(/stopping \(1 sessions in progress\)/);
  await client.close();
  assert.equal((await daemon.child.status).code, 0);
});

Deno.test("buildhost daemon: a live daemon's socket is refused, a dead one's is taken over", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  const first = await startDaemon(store);
  const second = await runBuildhost(["daemon", "--store", store]);
  assert.equal(second.code, 1);
  assert.match(
    second.stderr,
    /cannot listen on ".*\/daemon-socket\/buildhost-socket": a daemon is already listening there/,
  );
  first.child.kill("SIGKILL");
  await first.child.status;
  assert.ok(Deno.lstatSync(first.socket).isSocket); // left behind
  await using third = await startDaemon(store);
  const client = await connect(third.socket);
  assert.deepEqual(await client.queryValidPaths([MISSING]), []);
  await client.close();
});

Deno.test("buildhost daemon: --listen on a path that is not a socket changes nothing", async () => {
  using tmp = tempDir();
  const file = join(tmp.path, "not-a-socket");
  Deno.writeTextFileSync(file, "keep me");
  const r = await runBuildhost(["daemon", "--store", join(tmp.path, "store"), "--listen", file]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, /cannot listen on ".*\/not-a-socket": it exists and is not a socket/);
  assert.equal(Deno.readTextFileSync(file), "keep me");
});

Deno.test("buildhost --stdio: with the store's daemon running, the session is the daemon's", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "store");
  await using daemon = await startDaemon(store);
  const { child, client } = await stdioSession(store);
  assert.deepEqual(await client.queryValidPaths([MISSING]), []);
  const open = await openSessions(store);
  assert.deepEqual(open.map((s) => s.pid), [daemon.child.pid]);
  await daemon.said(/session 1 started/);
  await client.close();
  assert.equal((await child.status).code, 0);
  await daemon.said(/session 1 ended\n/);
});

Deno.test("buildhost daemon: a store whose socket path is longer than a socket address holds", async () => {
  using tmp = tempDir();
  const store = join(tmp.path, "a-directory-with-a-long-name-".repeat(3), "store");
  await using daemon = await startDaemon(store);
  assert.ok(new TextEncoder().encode(daemon.socket).length > MAX_SOCKET_PATH);
  assert.ok(Deno.lstatSync(daemon.socket).isSocket);
  const client = await connect(daemon.socket);
  assert.deepEqual(await client.queryValidPaths([MISSING]), []);
  await client.close();
  // buildhost --stdio finds it too.
  const { child, client: relayed } = await stdioSession(store);
  assert.deepEqual(await relayed.queryValidPaths([MISSING]), []);
  await relayed.close();
  assert.equal((await child.status).code, 0);
  await daemon.said(/session 2 ended\n/);
});
