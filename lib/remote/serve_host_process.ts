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
 * is killed, so that whatever waited on it fails at once, and
 * {@linkcode ServeHostProcess.lostReason} says why. With a host timeout, a
 * heartbeat is offered (see `serve/heartbeat.ts`): a buildhost host then
 * shows it is alive during a build that prints nothing.
 *
 * @module
 */
import { HostLostError } from "./host_lost_error.ts";
import { ProcessTree } from "./_process_tree.ts";
import { ServeClient } from "./serve_client.ts";
import { HEARTBEAT_BYTE, heartbeatOffer } from "../serve/heartbeat.ts";

/** A session with a host program. */
export interface ServeHostProcess extends AsyncDisposable {
  /** The protocol session. */
  client: ServeClient;
  /** Close the session and wait for the program; its exit code. */
  close(): Promise<number>;
  /** Why the host was lost, once it is (undefined while it is alive). */
  readonly lostReason?: HostLostError | undefined;
  /**
   * Cancel the session: close the host's input (a buildhost host then
   * cancels its build), give it `graceMs` to end, then SIGTERM, then SIGKILL.
   */
  cancel?(graceMs?: number): Promise<void>;
}

/** Options of {@linkcode startServeHost}. */
export interface ServeHostOptions {
  /** Where its stderr goes (default: this process's stderr). */
  log?: (chunk: Uint8Array) => void;
  /** Its name in messages. */
  host?: string;
  /** The store directory. */
  storeDir?: string;
  /** The version to offer. */
  version?: number;
  /** Seconds for the program to start and finish the handshake (0: no limit). */
  connectTimeout?: number;
  /** Seconds the host may send nothing and take nothing before it is lost (0: no limit). */
  hostTimeout?: number;
  /** Aborting it while the session opens kills the program (then use `cancel`). */
  signal?: AbortSignal;
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
    throw new HostLostError(host, "start the serve host", (e as Error).message);
  }
  let last = Date.now();
  const touch = () => void (last = Date.now());
  let closing = false;
  let lostReason: HostLostError | undefined;
  const status = child.status;
  const tree = new ProcessTree(child.pid);
  const kill = (signal: Deno.Signal) => tree.kill(signal);
  const log = options.log ?? ((c: Uint8Array) => void Deno.stderr.writeSync(c));
  const errors = child.stderr.getReader();
  let beating = false;
  const logged = (async () => {
    try {
      for (;;) {
        const { done, value } = await errors.read();
        if (done) return;
        touch();
        const chunk = beating ? value.filter((b) => b !== HEARTBEAT_BYTE) : value;
        if (chunk.length > 0) log(chunk);
      }
    } catch { /* cancelled */ }
  })();
  let output: TransformStreamDefaultController<Uint8Array> | undefined;
  const lose = (detail: string) => {
    if (closing || lostReason) return;
    lostReason = new HostLostError(host, "keep the session", detail);
    kill("SIGKILL");
    // Whatever waits on the host fails now, even if a process that
    // escaped the kill still holds its pipes open.
    output?.error(lostReason);
    void errors.cancel().catch(() => {});
  };
  const readable = child.stdout.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      start(c) {
        output = c;
      },
      transform(chunk, c) {
        touch();
        c.enqueue(chunk);
      },
      flush() {
        lose("its connection closed");
      },
    }),
  );
  const stdin = child.stdin.getWriter();
  const writable = new WritableStream<Uint8Array>({
    async write(chunk) {
      await stdin.write(chunk);
      touch();
    },
    close: () => stdin.close(),
    abort: (reason) => stdin.abort(reason),
  });

  const hostTimeout = (options.hostTimeout ?? 0) * 1000;
  const connectTimeout = (options.connectTimeout ?? 0) * 1000;
  let watchdog: ReturnType<typeof setInterval> | undefined;
  const watch = (limitMs: number, what: string) => {
    clearInterval(watchdog);
    last = Date.now();
    watchdog = setInterval(() => {
      if (Date.now() - last > limitMs) lose(`${what} ${limitMs / 1000} seconds`);
    }, Math.max(50, Math.min(1000, limitMs / 4)));
  };
  if (connectTimeout > 0) watch(connectTimeout, "it did not answer the handshake within");
  const onAbort = () => lose("the session was cancelled while it opened");
  options.signal?.addEventListener("abort", onAbort);
  if (options.signal?.aborted) onAbort();

  let client: ServeClient;
  try {
    client = await ServeClient.connect(
      { readable, writable },
      {
        host,
        ...(options.storeDir ? { storeDir: options.storeDir } : {}),
        ...(options.version ? { version: options.version } : {}),
      },
    );
    if (hostTimeout > 0) {
      // A buildhost host then beats while it builds (see heartbeat.ts).
      const offer = heartbeatOffer(client.storeDir, Math.max(1, Math.floor(hostTimeout / 3000)));
      beating = (await client.queryValidPaths([offer])).includes(offer);
    }
  } catch (e) {
    clearInterval(watchdog);
    options.signal?.removeEventListener("abort", onAbort);
    const why = lostReason?.detail ?? (e as Error).message;
    kill("SIGKILL");
    closing = true;
    void errors.cancel().catch(() => {});
    await status;
    await logged;
    throw new HostLostError(host, "open a serve session", why);
  }
  clearInterval(watchdog);
  options.signal?.removeEventListener("abort", onAbort);
  if (hostTimeout > 0) watch(hostTimeout, "it sent nothing for");

  let closed: Promise<number> | undefined;
  const close = () =>
    closed ??= (async () => {
      closing = true;
      await client.close();
      const { code } = await status;
      clearInterval(watchdog);
      if (lostReason) void errors.cancel().catch(() => {});
      await logged;
      return code;
    })();
  const cancel = async (graceMs = 2000) => {
    closing = true;
    clearInterval(watchdog);
    void client.close();
    const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
    // Ends: the program, and every process of the tree that was signalled.
    let ended = false;
    void status.then(() => void (ended = true));
    const until = async (ms: number) => {
      for (let waited = 0; waited < ms && (!ended || tree.running()); waited += 100) {
        await sleep(100);
        tree.remember(); // what the host started meanwhile (a build it was starting)
      }
    };
    tree.remember(); // the host and its builds, as they are now
    await until(graceMs); // a buildhost host cancels its build when its input ends
    kill("SIGTERM");
    await until(2000);
    kill("SIGKILL");
    await until(5000);
    await status;
    void errors.cancel().catch(() => {});
    await logged;
  };
  return {
    client,
    close,
    cancel,
    get lostReason() {
      return lostReason;
    },
    [Symbol.asyncDispose]: async () => void await close(),
  };
}
