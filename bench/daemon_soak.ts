/**
 * `deno task soak:daemon [--count N] [--clients K]`: N sessions (default
 * 1000) on one `buildhost daemon`, K at a time (default 4), each a client
 * connecting to its socket, asking for a path, building a trivial
 * derivation in the sandbox (BuildDerivation) and hanging up. Not part of
 * `deno task test`: a daemon lives for weeks, so whatever a session leaves
 * behind adds up.
 *
 * It prints, after the first sessions (warm-up), halfway and at the end, the
 * daemon's open file descriptors, its resident memory, the entries of the
 * store's `temproots`, `builds` and the record's open sessions (the first
 * two samples are taken while other sessions are in flight; the last once
 * all have ended). It fails
 * when a session hangs (a watchdog), a build fails, or descriptors,
 * temporary roots, build directories or open sessions grow from the
 * warm-up to the end, or memory by more than 32 MiB (the allocator's and
 * the database's caches), or when the daemon does not stop cleanly.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { DaemonClient } from "../lib/remote/daemon_client.ts";
import { socketPath } from "../lib/daemon/socket_path.ts";
import { BuildStatus } from "../lib/derivation/build_result.ts";
import { count, growth, hashPart, soakLoop, WARM_UP } from "./_soak.ts";

const MAIN = new URL("../main.ts", import.meta.url).pathname;

interface Figures {
  sessions: number;
  fds: number;
  rssKiB: number;
  tempRoots: number;
  buildsDir: number;
  openSessions: number;
}

function figures(sessions: number, pid: number, state: string): Figures {
  const status = Deno.readTextFileSync(`/proc/${pid}/status`);
  return {
    sessions,
    fds: count(`/proc/${pid}/fd`),
    rssKiB: Number(/^VmRSS:\s+(\d+) kB$/m.exec(status)![1]),
    tempRoots: count(join(state, "temproots")),
    buildsDir: count(join(state, "builds")),
    openSessions: count(join(state, "build-record/sessions")),
  };
}

function show(label: string, f: Figures): void {
  console.log(
    `${label.padEnd(7)} after ${String(f.sessions).padStart(5)} sessions: fds ${f.fds}, ` +
      `RSS ${(f.rssKiB / 1024).toFixed(1)} MiB, temproots ${f.tempRoots}, ` +
      `builds/ ${f.buildsDir}, open sessions ${f.openSessions}`,
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      count: { type: "string", default: "1000" },
      clients: { type: "string", default: "4" },
    },
  });
  const total = Number(values.count);
  const clients = Number(values.clients);
  if (!Number.isInteger(total) || total < WARM_UP * 2 || !(clients >= 1)) {
    console.error(`soak:daemon: --count must be an integer of at least ${WARM_UP * 2}`);
    Deno.exit(2);
  }
  const root = Deno.makeTempDirSync({ prefix: "buildhost-daemon-soak-" });
  const store = join(root, "store");
  const state = join(store, "nix/var/nix");
  const socket = join(state, "daemon-socket/buildhost-socket");
  const daemon = new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--v8-flags=--max-semi-space-size=1", MAIN, "daemon", "--store", store],
    env: { NIX_CONFIG: "extra-sandbox-paths = /bin /lib /lib64 /usr" },
    stdin: "null",
    stdout: "null",
    stderr: "null",
  }).spawn();
  // Its pid file is written once it listens.
  for (let i = 0; count(join(state, "daemon-socket")) < 2; i++) {
    if (i > 3000) throw new Error("soak:daemon: the daemon never listened");
    await new Promise((r) => setTimeout(r, 10));
  }

  const failures: string[] = [];
  const started = Date.now();

  const one = async (i: number) => {
    const hash = hashPart(i);
    const out = `/nix/store/${hash}-daemon-soak-${i}`;
    let log = "";
    using path = socketPath(socket);
    const client = await DaemonClient.connect(
      await Deno.connect({ transport: "unix", path: path.path }),
      { log: (t) => void (log += t) },
    );
    try {
      await client.queryValidPaths([out]);
      const result = await client.buildDerivation(`/nix/store/${hash}-daemon-soak-${i}.drv`, {
        name: `daemon-soak-${i}`,
        outputs: new Map([["out", { kind: "inputAddressed", path: out }]]),
        inputSrcs: [],
        platform: "x86_64-linux",
        builder: "/bin/sh",
        args: ["-c", `echo ${i}; echo ${i} > $out`],
        env: new Map([["out", out]]),
      });
      if (result.status !== BuildStatus.Built || !log.includes(`${i}\n`)) {
        failures.push(`session ${i}: status ${result.status} ${result.errorMsg} log ${log}`);
      }
    } finally {
      await client.close();
    }
  };

  // Sampled once the sessions before have ended in the daemon too.
  const settled = async (done: number) => {
    await new Promise((r) => setTimeout(r, done === total ? 500 : 300));
    return figures(done, daemon.pid, state);
  };
  let samples: [string, Figures][];
  try {
    samples = await soakLoop(total, clients, "session", one, settled);
  } catch (e) {
    console.error(`soak:daemon: FAILED: ${(e as Error).message}`);
    daemon.kill("SIGKILL");
    Deno.exit(1);
  }
  const seconds = (Date.now() - started) / 1000;
  console.log(
    `soak:daemon: ${total} sessions with a sandboxed build each, ${clients} at a time, in ${
      seconds.toFixed(0)
    } s`,
  );
  for (const [label, f] of samples) show(label, f);
  failures.push(...growth(samples, ["fds", "tempRoots", "buildsDir", "openSessions"]));
  daemon.kill("SIGTERM");
  const status = await daemon.status;
  if (status.code !== 0) failures.push(`the daemon exited with ${status.code} on SIGTERM`);
  if (count(join(state, "daemon-socket")) !== 0) failures.push("its socket was left behind");
  await Deno.remove(root, { recursive: true }).catch(() => {});
  if (failures.length > 0) {
    console.error(`soak:daemon: FAILED\n${failures.join("\n")}`);
    Deno.exit(1);
  }
  console.log(
    "soak:daemon: ok (no hang, no failure; fds, roots, build dirs, sessions, memory flat)",
  );
}
