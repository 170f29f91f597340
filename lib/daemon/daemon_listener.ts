/**
 * A daemon's socket: a Unix socket on which each connection is one session,
 * served concurrently in this process, as `nix-daemon` serves
 * `/nix/var/nix/daemon-socket/socket`. A session here costs no process
 * start: `buildhost --stdio` and `--serve` pass their sessions to the
 * store's daemon when one is running (as `nix-daemon --stdio` does), and
 * real Nix can use the socket as a store (`--store unix://PATH`). What each
 * connection is served with is the caller's (`cli/daemon_connection.ts`).
 *
 * Who may connect is who may open the socket: it is made mode 0600 inside
 * a directory made mode 0700 (the daemon's user, and root), so every
 * connection is trusted as that user. Next to it, `PATH.pid` holds the
 * daemon's pid while it listens (the launcher checks it before passing a
 * session on).
 *
 * A socket left by a daemon that died is replaced; a live daemon's is not.
 * A path longer than a socket address holds is reached through its
 * directory ({@linkcode socketPath}).
 * {@linkcode DaemonListener.close} stops accepting, removes the socket and
 * waits for the sessions in progress; an error in one session never ends
 * another.
 *
 * @module
 */
import { dirname } from "../posix_path.ts";
import { BuildhostError } from "../errors.ts";
import { socketPath } from "./socket_path.ts";

/** The socket cannot be listened on: the message names it and why. */
export class DaemonListenError extends BuildhostError {
  override name = "DaemonListenError";
}

/** Serves one connection to its end. */
export type ConnectionHandler = (conn: Deno.UnixConn) => Promise<void>;

/**
 * Why nothing accepts connections on the socket at `path` (any length).
 *
 * @param path The socket.
 * @returns The error connecting gave; undefined when something accepts.
 */
export async function notListening(path: string): Promise<Error | undefined> {
  try {
    using p = socketPath(path);
    (await Deno.connect({ transport: "unix", path: p.path })).close();
    return undefined;
  } catch (e) {
    return e instanceof Error ? e : new Error(String(e));
  }
}

/** Make `path` free for a new socket: absent, or a dead daemon's socket (removed). */
async function claim(path: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = Deno.lstatSync(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (!st.isSocket) {
    throw new DaemonListenError(`cannot listen on "${path}": it exists and is not a socket`);
  }
  if (!await notListening(path)) {
    throw new DaemonListenError(`cannot listen on "${path}": a daemon is already listening there`);
  }
  Deno.removeSync(path);
}

/** A daemon's socket and the sessions it serves. */
export class DaemonListener {
  readonly #listener: Deno.UnixListener;
  readonly #sessions = new Set<Promise<void>>();
  #closed = false;

  private constructor(readonly path: string, listener: Deno.UnixListener) {
    this.#listener = listener;
  }

  /**
   * Listen on `path` (its directory is made, mode 0700, if missing, and its parents).
   *
   * @param path The socket.
   * @returns The listener; start it with {@linkcode DaemonListener.serve}.
   * @throws {DaemonListenError} `path` is not a socket, or a live daemon's.
   *
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { DaemonListener } from "./daemon_listener.ts";
   * const dir = await Deno.makeTempDir();
   * const d = await DaemonListener.listen(`${dir}/sock/socket`);
   * const served = d.serve(async (conn) => {
   *   await conn.write(new TextEncoder().encode("hello"));
   * });
   * const conn = await Deno.connect({ transport: "unix", path: d.path });
   * assert.equal(await new Response(conn.readable).text(), "hello");
   * await d.close();
   * await served;
   * assert.throws(() => Deno.statSync(d.path));
   * await Deno.remove(dir, { recursive: true });
   * ```
   */
  static async listen(path: string): Promise<DaemonListener> {
    try {
      Deno.mkdirSync(dirname(dirname(path)), { recursive: true });
      Deno.mkdirSync(dirname(path), { mode: 0o700 });
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) {
        throw new DaemonListenError(`cannot listen on "${path}": ${(e as Error).message}`);
      }
    }
    await claim(path);
    let listener: Deno.UnixListener;
    try {
      using p = socketPath(path);
      listener = Deno.listen({ transport: "unix", path: p.path });
    } catch (e) {
      throw new DaemonListenError(`cannot listen on "${path}": ${(e as Error).message}`);
    }
    Deno.chmodSync(path, 0o600);
    const pidFile = `${path}.pid`;
    Deno.writeTextFileSync(`${pidFile}.new`, `${Deno.pid}\n`);
    Deno.renameSync(`${pidFile}.new`, pidFile);
    return new DaemonListener(path, listener);
  }

  /** How many sessions are in progress. */
  get sessions(): number {
    return this.#sessions.size;
  }

  /**
   * Accept connections until {@linkcode DaemonListener.close}, serving each
   * with `handle`; resolves once closed and every session has ended.
   *
   * @param handle Serves one connection (closed after it returns or throws).
   * @param onError Told of an error a session threw.
   */
  async serve(
    handle: ConnectionHandler,
    onError: (e: unknown) => void = () => {},
  ): Promise<void> {
    for (;;) {
      let conn: Deno.UnixConn;
      try {
        conn = await this.#listener.accept();
      } catch (e) {
        if (this.#closed) break;
        onError(e);
        continue;
      }
      const session: Promise<void> = handle(conn).catch(onError).finally(() => {
        try {
          conn.close();
        } catch { /* the handler closed it */ }
        this.#sessions.delete(session);
      });
      this.#sessions.add(session);
    }
    while (this.#sessions.size > 0) await Promise.all([...this.#sessions]);
  }

  /** Stop accepting and remove the socket; the sessions in progress go on to their end. */
  close(): Promise<void> {
    if (!this.#closed) {
      this.#closed = true;
      for (const f of [this.path, `${this.path}.pid`]) {
        try {
          Deno.removeSync(f);
        } catch { /* already gone */ }
      }
      this.#listener.close();
    }
    return Promise.all([...this.#sessions]).then(() => {});
  }
}
