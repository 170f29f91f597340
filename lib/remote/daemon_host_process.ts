/**
 * Run a host's daemon-protocol program (`ssh HOST 'nix-daemon --stdio'`, or
 * `buildhost --stdio` locally) and open a session with it, watched as any
 * host process is (connect and host timeouts, lost host, cancel: see
 * `host_process.ts`).
 *
 * @module
 */
import { DaemonClient } from "./daemon_client.ts";
import { type HostProcess, type HostProcessOptions, startHostProcess } from "./host_process.ts";

/** A running daemon-protocol program and its session. */
export type DaemonHostProcess = HostProcess<DaemonClient>;

/** Options of {@linkcode startDaemonHost}. */
export interface DaemonHostOptions extends HostProcessOptions {
  /** The store directory. */
  storeDir?: string;
}

/**
 * Start `command` and open a daemon-protocol session over its stdin/stdout.
 * Its stderr (ssh's messages) and the session's log messages go to `log`.
 *
 * @param command The program and its arguments.
 * @param options Log sink, host name for messages, store directory,
 *   timeouts, cancellation.
 * @returns The session; `close()` ends it and returns the exit code.
 * @throws {HostLostError} The program cannot be started, does not speak the
 *   protocol, or does not finish the handshake in time.
 */
export function startDaemonHost(
  command: string[],
  options: DaemonHostOptions = {},
): Promise<DaemonHostProcess> {
  const encoder = new TextEncoder();
  return startHostProcess(command, "daemon", async (transport, { host, log }) => ({
    client: await DaemonClient.connect(transport, {
      host,
      log: (text) => log(encoder.encode(text)),
      ...(options.storeDir ? { storeDir: options.storeDir } : {}),
    }),
  }), options);
}
