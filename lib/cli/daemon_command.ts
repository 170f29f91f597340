/**
 * `buildhost daemon [--store URL] [--listen PATH] [--sandbox-paths P]... [--no-sandbox]`:
 * the store's daemon, as `nix-daemon` is: it listens on a Unix socket
 * (default `<state>/daemon-socket/buildhost-socket`, e.g.
 * `/nix/var/nix/daemon-socket/buildhost-socket`) and serves each connection
 * as one session (worker protocol, or serve protocol from the installed
 * launcher's relay: see `daemon_connection.ts`), all in this process, so a
 * session costs no process start. SIGTERM or SIGINT stops accepting and removes the
 * socket; the sessions in progress go on to their end (a second signal
 * ends them too). Nix's settings are read once, when it starts.
 *
 * `buildhost --stdio [--store URL] ...` (also `buildhost daemon --stdio ...`):
 * a drop-in for `nix-daemon --stdio`, the remote program of Nix's `ssh-ng://`
 * stores, speaking the worker protocol on stdin/stdout. When the store's
 * daemon is running, the session is passed to it byte for byte (as
 * `nix-daemon --stdio` passes it to nix-daemon; the installed launcher does
 * this with socat before Deno starts); otherwise it is served here. Builds
 * run in Nix's sandbox (see `runnerFromFlags`); their logs are kept in the
 * store as Nix keeps them (`buildhost log`, `nix log`), and the sessions and
 * their builds are in the store's build record (`buildhost status`).
 *
 * @module
 */
import { parseArgs } from "./args.ts";
import { DaemonServer } from "../daemon/daemon_server.ts";
import { DaemonListener } from "../daemon/daemon_listener.ts";
import { socketPath } from "../daemon/socket_path.ts";
import { type DaemonContext, serveConnection } from "./daemon_connection.ts";
import { BuildRecord } from "../store/build_record.ts";
import { Store } from "../store/store.ts";
import { runStdioSession } from "./stdio_session.ts";
import { hostBuilder } from "./host_builder.ts";
import { RUNNER_FLAGS } from "./runner_options.ts";
import { STORE_FLAGS, storeLocationFromFlags } from "./store_options.ts";
import { loadNixConfig, nixSettings } from "./nix_settings.ts";
import type { Command } from "./command.ts";

/** `buildhost daemon ...` / `buildhost --stdio ...` */
export const daemonCommand: Command = async (args) => {
  const { values } = parseArgs({
    args,
    allowPositionals: false,
    options: {
      stdio: { type: "boolean", default: false },
      listen: { type: "string" },
      ...STORE_FLAGS,
      ...RUNNER_FLAGS,
    },
  });
  const encoder = new TextEncoder();
  const log = (text: string) => void Deno.stderr.writeSync(encoder.encode(text));
  const location = storeLocationFromFlags(values);
  const socket = values.listen ?? location.layout.daemonSocket;
  if (values.stdio) {
    const relayed = await relayToDaemon(socket);
    if (relayed !== undefined) return relayed;
  }
  const settings = nixSettings(loadNixConfig(Deno.env.toObject()));
  if (values.stdio) {
    const store = await Store.open(location.layout);
    const builder = hostBuilder(values, settings, store, location, log, { spares: true });
    const server = new DaemonServer(store, { log, builder });
    return await runStdioSession(store, "daemon", (input, output) => server.serve(input, output));
  }

  // The store is made (or its schema checked) before the first client comes, and
  // dead processes' temporaries removed, then again every SWEEP_MS (not per session).
  const store = await Store.open(location.layout);
  const sweep = setInterval(
    () => void store.removeStaleTemporaries().catch((e) => log(`buildhost daemon: ${e}\n`)),
    SWEEP_MS,
  );
  const listener = await DaemonListener.listen(socket);
  log(`buildhost daemon: listening on ${socket} (pid ${Deno.pid})\n`);
  let signals = 0;
  const onSignal = () => {
    if (++signals > 1) Deno.exit(1);
    log(`buildhost daemon: stopping (${listener.sessions} sessions in progress)\n`);
    void listener.close();
  };
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.addSignalListener(sig, onSignal);
  const record = BuildRecord.of(location.layout.stateDir);
  let count = 0;
  const ctx: DaemonContext = { location, settings, runnerFlags: values, record, log };
  await listener.serve(
    (conn) => serveConnection(conn, ++count, ctx),
    (e) => log(`buildhost daemon: ${e instanceof Error ? e.message : String(e)}\n`),
  );
  for (const sig of ["SIGINT", "SIGTERM"] as const) Deno.removeSignalListener(sig, onSignal);
  clearInterval(sweep);
  store.close();
  return 0;
};

/** How often the daemon removes the temporaries of dead processes. */
const SWEEP_MS = 10 * 60 * 1000;

/**
 * Pass this process's stdin/stdout session to the daemon listening on
 * `socket`, byte for byte.
 *
 * @returns 0 once the session ended; undefined when no daemon accepts
 *   (none, or a dead one's socket): nothing was read.
 */
async function relayToDaemon(socket: string): Promise<number | undefined> {
  let conn: Deno.UnixConn;
  try {
    using p = socketPath(socket);
    conn = await Deno.connect({ transport: "unix", path: p.path });
  } catch {
    return undefined;
  }
  await Promise.all([
    Deno.stdin.readable.pipeTo(conn.writable, { preventClose: true })
      .then(() => conn.closeWrite()).catch(() => {}),
    conn.readable.pipeTo(Deno.stdout.writable, { preventClose: true }).catch(() => {}),
  ]);
  try {
    conn.close();
  } catch { /* closed by the stream */ }
  return 0;
}
