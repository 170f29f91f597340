/**
 * The HTTP server of `buildhost status --http ADDR`: read-only, GET (and
 * HEAD) only, on loopback unless ADDR names another address.
 *
 * - `/`: the status page (`status_page.ts`);
 * - `/status.json`: what `buildhost status --json` prints;
 * - `/log/<drv>`: a build's kept log (`HASH-NAME.drv` or its store path),
 *   decompressed as it streams;
 * - `/metrics`: Prometheus' text format (`status_page_metrics.ts`).
 *
 * Hostile requests get a 4xx and nothing else: other methods 405, a URL
 * over {@linkcode MAX_URL_LENGTH} 414, a `/log/` name that is not a
 * derivation's base name 400 (so no path outside the log directory is ever
 * opened), anything else 404.
 *
 * @module
 */
import type { Store } from "../store/store.ts";
import { readBuildLog } from "../store/build_log.ts";
import type { HostStatus } from "./host_status.ts";
import { statusPage } from "./status_page.ts";
import { METRICS_CONTENT_TYPE, statusMetrics } from "./status_page_metrics.ts";
import { UsageError } from "./command.ts";

/** The longest URL served. */
export const MAX_URL_LENGTH = 2048;

/** A derivation's base name: a nix32 hash, a dash, a store path name ending in `.drv`. */
const DRV_NAME = /^[0-9a-df-np-sv-z]{32}-[A-Za-z0-9+\-._?=]+\.drv$/;

/**
 * The address to listen on: `HOST:PORT`, `[V6]:PORT`, `:PORT` or `PORT`
 * (loopback, 127.0.0.1, when no host is given).
 *
 * @param addr The address.
 * @returns Host name and port.
 * @throws {UsageError} A malformed address.
 */
export function parseListenAddress(addr: string): { hostname: string; port: number } {
  const m = /^(?:(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.\-]*):)?(\d{1,5})$/.exec(addr);
  const port = Number(m?.[2]);
  if (!m || port > 65535) {
    throw new UsageError(`--http: '${addr}' is not an address to listen on (HOST:PORT or PORT)`);
  }
  const host = m[1] ?? "";
  return { hostname: host === "" ? "127.0.0.1" : host.replace(/^\[|\]$/g, ""), port };
}

function text(status: number, body: string, headers: Record<string, string> = {}): Response {
  return new Response(body + "\n", {
    status,
    headers: { "content-type": "text/plain; charset=utf-8", ...headers },
  });
}

/**
 * Answer one request.
 *
 * @param request The request.
 * @param store The store (its logs).
 * @param status The host's status now.
 * @returns The response.
 */
export async function statusResponse(
  request: Request,
  store: Store,
  status: () => Promise<HostStatus>,
): Promise<Response> {
  if (request.url.length > MAX_URL_LENGTH) return text(414, "URI too long");
  if (request.method !== "GET" && request.method !== "HEAD") {
    return text(405, "method not allowed: this server is read-only", { allow: "GET, HEAD" });
  }
  const path = new URL(request.url).pathname;
  const common = { "x-content-type-options": "nosniff", "cache-control": "no-store" };
  if (path === "/") {
    return new Response(statusPage(await status()), {
      headers: {
        ...common,
        "content-type": "text/html; charset=utf-8",
        "content-security-policy": "default-src 'none'; style-src 'unsafe-inline'",
      },
    });
  }
  if (path === "/status.json") {
    return new Response(JSON.stringify(await status(), null, 2) + "\n", {
      headers: { ...common, "content-type": "application/json" },
    });
  }
  if (path === "/metrics") {
    return new Response(statusMetrics(await status()), {
      headers: { ...common, "content-type": METRICS_CONTENT_TYPE },
    });
  }
  if (path.startsWith("/log/")) {
    let name: string;
    try {
      name = decodeURIComponent(path.slice("/log/".length));
    } catch {
      return text(400, "bad percent-encoding");
    }
    if (name.startsWith(store.storeDir + "/")) name = name.slice(store.storeDir.length + 1);
    if (!DRV_NAME.test(name)) return text(400, "not a derivation: /log/HASH-NAME.drv");
    const log = readBuildLog(store, `${store.storeDir}/${name}`);
    if (!log) return text(404, `build log of '${store.storeDir}/${name}' is not available`);
    if (request.method === "HEAD") await log.cancel();
    return new Response(request.method === "HEAD" ? null : log, {
      headers: { ...common, "content-type": "text/plain; charset=utf-8" },
    });
  }
  return text(404, "not found");
}

/**
 * Serve the status over HTTP until SIGINT or SIGTERM.
 *
 * @param store The store.
 * @param status The host's status now.
 * @param addr Where to listen ({@linkcode parseListenAddress}).
 * @param listening Called with the server's URL once it listens.
 */
export async function serveStatus(
  store: Store,
  status: () => Promise<HostStatus>,
  addr: string,
  listening: (url: string) => Promise<void> | void,
): Promise<void> {
  const { hostname, port } = parseListenAddress(addr);
  const stop = new AbortController();
  const onSignal = () => stop.abort();
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  let ready: Promise<void> | void = undefined;
  try {
    const server = Deno.serve({
      hostname,
      port,
      signal: stop.signal,
      onListen: (a) => {
        const host = a.hostname.includes(":") ? `[${a.hostname}]` : a.hostname;
        ready = listening(`http://${host}:${a.port}/`);
      },
      onError: () => text(500, "internal error"),
    }, (request) => statusResponse(request, store, status));
    await ready;
    await server.finished;
  } finally {
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}
