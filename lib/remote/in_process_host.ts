/**
 * A serve host in this process: a {@linkcode ServeServer} joined to a
 * client by two pipes of web streams, for embedding buildhost as a library
 * and for tests (no process, no ssh; the same bytes).
 *
 * @module
 */
import type { ServeOutcome, ServeServer } from "../serve/server.ts";
import type { ServeTransport } from "./serve_client.ts";

/** The client's ends of an in-process session, and the server's run. */
export interface InProcessHost {
  /** Give this to `ServeClient.connect`. */
  transport: ServeTransport;
  /** Settles when the server's session ends (after the client closes). */
  done: Promise<ServeOutcome>;
}

/**
 * Start a session of `server` and return the client's ends.
 *
 * @param server The server.
 * @returns The transport and the session's end.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { Store } from "../store/store.ts";
 * import { ServeServer } from "../serve/server.ts";
 * import { ServeClient } from "./serve_client.ts";
 * import { inProcessHost } from "./in_process_host.ts";
 * const root = await Deno.makeTempDir();
 * const store = await Store.open(root);
 * const text = await store.addText("hello.txt", "hello\n");
 * const host = inProcessHost(new ServeServer(store, { write: false, log: () => {} }));
 * const client = await ServeClient.connect(host.transport);
 * assert.deepEqual(await client.queryValidPaths([text.path]), [text.path]);
 * await client.close();
 * assert.equal((await host.done).exitCode, 0);
 * store.close();
 * await Deno.remove(root, { recursive: true });
 * ```
 */
export function inProcessHost(server: ServeServer): InProcessHost {
  const toServer = new TransformStream<Uint8Array, Uint8Array>();
  const toClient = new TransformStream<Uint8Array, Uint8Array>();
  const writer = toClient.writable.getWriter();
  const done = server.serve(toServer.readable, { write: (chunk) => writer.write(chunk) })
    .finally(() => writer.close().catch(() => {}));
  return { transport: { readable: toClient.readable, writable: toServer.writable }, done };
}
