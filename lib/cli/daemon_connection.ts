/**
 * One connection to `buildhost daemon`: its first 8 bytes say which
 * session it is. A worker-protocol client (Nix with `unix://`, or
 * `buildhost --stdio` passing its session on) starts with the worker magic
 * and is served by the daemon-protocol loop, byte for byte; the launcher's
 * serve relay starts with `bhserve1` and its flags, and is served by the
 * serve loop with its output framed (see `serve_relay_frames.ts`). Each
 * session opens the store for itself, has its own entry in the build
 * record, and its builds are attributed to it.
 *
 * @module
 */
import { DaemonServer } from "../daemon/daemon_server.ts";
import { ServeServer } from "../serve/server.ts";
import type { BuildRecord } from "../store/build_record.ts";
import { Store } from "../store/store.ts";
import type { StoreLocation } from "../store/store_location.ts";
import { hostBuilder } from "./host_builder.ts";
import type { NixSettings } from "./nix_settings.ts";
import { runSession, type SessionChannel } from "./stdio_session.ts";
import { streamSink } from "../wire/wire_writer.ts";
import { relayOutput, SERVE_RELAY_MAGIC, SERVE_RELAY_WRITE } from "./serve_relay_frames.ts";

/** What every connection of a daemon is served with. */
export interface DaemonContext {
  /** The store's location (each session opens it). */
  location: StoreLocation;
  /** Nix's settings, read when the daemon started. */
  settings: NixSettings;
  /** The runner flags (`--sandbox-paths`, `--no-sandbox`). */
  runnerFlags: { "sandbox-paths": string[]; "no-sandbox": boolean };
  /** The daemon's build record (each session gets its own view). */
  record: BuildRecord;
  /** The daemon's own messages (its stderr). */
  log: (text: string) => void;
}

/** Read exactly `n` bytes; null if the connection ends first. */
async function readExactly(conn: Deno.UnixConn, n: number): Promise<Uint8Array | null> {
  const buf = new Uint8Array(n);
  let off = 0;
  while (off < n) {
    const got = await conn.read(buf.subarray(off));
    if (got === null) return null;
    off += got;
  }
  return buf;
}

/** The connection's bytes, with `head` (already read) first. */
function after(head: Uint8Array, conn: Deno.UnixConn): SessionChannel["read"] {
  let pending: Uint8Array | undefined = head;
  return (p) => {
    if (!pending) return conn.read(p);
    const n = Math.min(p.length, pending.length);
    p.set(pending.subarray(0, n));
    pending = n < pending.length ? pending.subarray(n) : undefined;
    return Promise.resolve(n);
  };
}

/**
 * Serve one connection to its end.
 *
 * @param conn The connection (closed by the caller).
 * @param n The session's number in this daemon (for its messages and activity ids).
 * @param ctx What the daemon serves with.
 */
export async function serveConnection(
  conn: Deno.UnixConn,
  n: number,
  ctx: DaemonContext,
): Promise<void> {
  const head = await readExactly(conn, 8);
  if (!head) return; // gone before saying anything
  const relayed = new DataView(head.buffer).getBigUint64(0, true) === SERVE_RELAY_MAGIC;
  const flags = relayed ? await readExactly(conn, 8) : undefined;
  if (relayed && !flags) return;
  const write = flags
    ? (new DataView(flags.buffer).getBigUint64(0, true) & SERVE_RELAY_WRITE) !== 0n
    : true;
  const kind = relayed ? "serve" : "daemon";
  ctx.log(
    `buildhost daemon: session ${n} started (${kind}${relayed && write ? " --write" : ""})\n`,
  );
  // The daemon removes dead processes' temporaries itself, not every session.
  const store = await Store.open(ctx.location.layout, undefined, { sweep: false });
  const record = ctx.record.forSession(kind, "local");
  const relay = relayed ? relayOutput(conn.writable) : undefined;
  const log = relay?.log ?? ctx.log;
  const builder = relayed && !write
    ? undefined
    : hostBuilder(ctx.runnerFlags, ctx.settings, store, ctx.location, log, {
      record,
      spares: true,
    });
  const builds = builder ? { builder } : {};
  // Activity ids unique across the process's sessions (Nix's are pid << 32 in
  // a process per connection): 2^20 for each session before they could meet.
  const activityIdBase = (BigInt(Deno.pid) << 32n) + (BigInt(n) << 20n);
  const server = relay
    ? new ServeServer(store, { write, log, ...builds })
    : new DaemonServer(store, { log, activityIdBase, ...builds });
  const channel: SessionChannel = relay
    ? { read: (p) => conn.read(p), sink: streamSink(relay.stdout) }
    : { read: after(head, conn), sink: streamSink(conn.writable) };
  const code = await runSession(
    store,
    record.openSession(kind),
    channel,
    (input, output) => server.serve(input, output),
  );
  await relay?.end(code);
  ctx.log(`buildhost daemon: session ${n} ended${code === 0 ? "" : " after an error"}\n`);
}
