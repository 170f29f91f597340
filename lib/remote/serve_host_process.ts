/**
 * Reaching a serve host: a command whose stdin/stdout speak the protocol
 * (`ssh HOST nix-store --serve --write`, `ssh HOST buildhost --serve
 * --write`, or a local `buildhost --serve --write --store ROOT`), its stderr
 * (errors, build logs) passed to a log sink as it comes.
 *
 * The session watches its host: the handshake must end within the connect
 * timeout; with a host timeout, a host that sends nothing (protocol bytes
 * or log) and takes nothing (our writes do not complete) for that long is
 * lost; so is one whose output ends while the session is open. A lost host
 * is killed, so that whatever waited on it fails at once, and its
 * `lostReason` says why (see `host_process.ts`). With a host timeout, a
 * heartbeat is offered (see `serve/heartbeat.ts`): a buildhost host then
 * shows it is alive during a build that prints nothing.
 *
 * @module
 */
import { ServeClient } from "./serve_client.ts";
import { HEARTBEAT_BYTE, heartbeatOffer } from "../serve/heartbeat.ts";
import { type HostProcess, type HostProcessOptions, startHostProcess } from "./host_process.ts";

/** A session with a serve host program. */
export type ServeHostProcess = HostProcess<ServeClient>;

/** Options of {@linkcode startServeHost}. */
export interface ServeHostOptions extends HostProcessOptions {
  /** The store directory. */
  storeDir?: string;
  /** The version to offer. */
  version?: number;
}

/**
 * Start `command` and open a session with it.
 *
 * @param command The program and its arguments.
 * @param options Where its stderr goes (default: this process's stderr),
 *   its name in messages, the store directory, the version to offer, the
 *   connect and host timeouts.
 * @returns The session; dispose of it (or `close()`) to end it.
 * @throws {HostLostError} The program cannot be started, does not speak the
 *   protocol, or does not finish the handshake in time.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { startServeHost } from "./serve_host_process.ts";
 * const main = new URL("../../main.ts", import.meta.url).pathname;
 * const root = await Deno.makeTempDir();
 * const host = await startServeHost([Deno.execPath(), "run", "-A", main, "--serve", "--store", root]);
 * assert.equal(host.client.version, 0x207);
 * assert.deepEqual(await host.client.queryValidPaths(["/nix/store/00000000000000000000000000000000-x"]), []);
 * assert.equal(await host.close(), 0);
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export async function startServeHost(
  command: string[],
  options: ServeHostOptions = {},
): Promise<ServeHostProcess> {
  return await startHostProcess(command, "serve", async (transport, { host, hostTimeout }) => {
    const client = await ServeClient.connect(transport, {
      host,
      ...(options.storeDir ? { storeDir: options.storeDir } : {}),
      ...(options.version ? { version: options.version } : {}),
    });
    if (hostTimeout <= 0) return { client };
    // A buildhost host then beats while it builds (see heartbeat.ts).
    const offer = heartbeatOffer(client.storeDir, Math.max(1, Math.floor(hostTimeout / 3)));
    if (!(await client.queryValidPaths([offer])).includes(offer)) return { client };
    return { client, stderrFilter: (chunk) => chunk.filter((b) => b !== HEARTBEAT_BYTE) };
  }, options);
}
