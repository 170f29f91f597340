/**
 * Open a session with a build machine in the protocol its URI names: the
 * serve protocol for `ssh://` (`P --serve --write`), the daemon protocol for
 * `ssh-ng://` (`P --stdio`). Either way the session is watched (connect and
 * host timeouts, lost host, cancel: see `host_process.ts`).
 *
 * @module
 */
import { daemonCommandFor, type Machine, serveCommandFor } from "./machine_spec.ts";
import type { SessionTimeouts } from "./machine_spec.ts";
import type { HostProcessOptions } from "./host_process.ts";
import type { RemoteHostProcess } from "./remote_client.ts";
import { startServeHost } from "./serve_host_process.ts";
import { startDaemonHost } from "./daemon_host_process.ts";

/**
 * Start `machine`'s remote program and open a session with it.
 *
 * @param machine The machine; its protocol picks the command and the client.
 * @param options Log sink, name in messages (default: its URI), timeouts
 *   (also passed to ssh), cancellation.
 * @returns The session.
 * @throws {HostLostError} The machine cannot be reached or does not answer.
 */
export function startMachineHost(
  machine: Machine,
  options: HostProcessOptions = {},
): Promise<RemoteHostProcess> {
  const timeouts: SessionTimeouts = {
    ...(options.connectTimeout !== undefined ? { connectTimeout: options.connectTimeout } : {}),
    ...(options.hostTimeout !== undefined ? { hostTimeout: options.hostTimeout } : {}),
  };
  const named = { host: machine.uri, ...options };
  return machine.protocol === "ssh-ng"
    ? startDaemonHost(daemonCommandFor(machine, undefined, timeouts), named)
    : startServeHost(serveCommandFor(machine, undefined, timeouts), named);
}
