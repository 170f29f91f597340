/**
 * Run a host's daemon-protocol program (`ssh HOST 'nix-daemon --stdio'`, or
 * `buildhost --stdio` locally) and open a session with it.
 *
 * @module
 */
import { RemoteError } from "./remote_error.ts";
import { DaemonClient } from "./daemon_client.ts";
import type { RemoteHostProcess } from "./remote_client.ts";

/** A running daemon-protocol program and its session. */
export interface DaemonHostProcess extends RemoteHostProcess {
  client: DaemonClient;
}

/**
 * Start `command` and open a daemon-protocol session over its stdin/stdout.
 * Its stderr (ssh's messages) and the session's log messages go to `log`.
 *
 * @param command The program and its arguments.
 * @param options Log sink, host name for messages, store directory.
 * @returns The session; `close()` ends it and returns the exit code.
 */
export async function startDaemonHost(
  command: string[],
  options: { log?: (chunk: Uint8Array) => void; host?: string; storeDir?: string } = {},
): Promise<DaemonHostProcess> {
  const host = options.host ?? command.join(" ");
  let child: Deno.ChildProcess;
  try {
    child = new Deno.Command(command[0]!, {
      args: command.slice(1),
      stdin: "piped",
      stdout: "piped",
      stderr: "piped",
    }).spawn();
  } catch (e) {
    throw new RemoteError(host, "start the daemon host", (e as Error).message);
  }
  const log = options.log ?? ((c: Uint8Array) => void Deno.stderr.writeSync(c));
  const encoder = new TextEncoder();
  const logged = (async () => {
    for await (const chunk of child.stderr) log(chunk);
  })();
  let client: DaemonClient;
  try {
    client = await DaemonClient.connect({ readable: child.stdout, writable: child.stdin }, {
      host,
      log: (text) => log(encoder.encode(text)),
      ...(options.storeDir ? { storeDir: options.storeDir } : {}),
    });
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await logged;
    if (e instanceof RemoteError) throw e;
    throw new RemoteError(host, "open a daemon session", (e as Error).message);
  }
  const close = async () => {
    await client.close();
    const status = await child.status;
    await logged;
    return status.code;
  };
  return { client, close, [Symbol.asyncDispose]: async () => void await close() };
}
