/**
 * Reaching a serve host: a command whose stdin/stdout speak the protocol
 * (`ssh HOST nix-store --serve --write`, `ssh HOST buildhost --serve
 * --write`, or a local `buildhost --serve --write --store ROOT`), its stderr
 * (errors, build logs) passed to a log sink as it comes.
 *
 * @module
 */
import { RemoteError } from "./remote_error.ts";
import { ServeClient } from "./serve_client.ts";

/** A session with a host program. */
export interface ServeHostProcess extends AsyncDisposable {
  /** The protocol session. */
  client: ServeClient;
  /** Close the session and wait for the program; its exit code. */
  close(): Promise<number>;
}

/**
 * Start `command` and open a session with it.
 *
 * @param command The program and its arguments.
 * @param options Where its stderr goes (default: this process's stderr),
 *   its name in messages, the store directory, the version to offer.
 * @returns The session; dispose of it (or `close()`) to end it.
 * @throws {RemoteError} The program cannot be started or does not speak the protocol.
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
  options: {
    log?: (chunk: Uint8Array) => void;
    host?: string;
    storeDir?: string;
    version?: number;
  } = {},
): Promise<ServeHostProcess> {
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
    throw new RemoteError(host, "start the serve host", (e as Error).message);
  }
  const log = options.log ?? ((c: Uint8Array) => void Deno.stderr.writeSync(c));
  const logged = (async () => {
    for await (const chunk of child.stderr) log(chunk);
  })();
  let client: ServeClient;
  try {
    client = await ServeClient.connect(
      { readable: child.stdout, writable: child.stdin },
      {
        host,
        ...(options.storeDir ? { storeDir: options.storeDir } : {}),
        ...(options.version ? { version: options.version } : {}),
      },
    );
  } catch (e) {
    try {
      child.kill("SIGKILL");
    } catch { /* gone */ }
    await child.status;
    await logged;
    throw new RemoteError(host, "open a serve session", (e as Error).message);
  }
  const close = async () => {
    await client.close();
    const status = await child.status;
    await logged;
    return status.code;
  };
  return { client, close, [Symbol.asyncDispose]: async () => void await close() };
}
