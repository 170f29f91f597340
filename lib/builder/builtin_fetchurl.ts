/**
 * `builtin:fetchurl` (what `<nix/fetchurl.nix>` makes), as Nix 2.8's
 * `builtins/fetchurl.cc` with its file transfer (`filetransfer.cc`):
 * - the derivation must have a fixed `out` output (only those get the
 *   network; later Nix refuses the others with the same words);
 * - with `hashed-mirrors` set and `outputHashMode = "flat"`, each mirror
 *   is tried first at `MIRROR/ALGO/BASE16` (a `/` added after the mirror
 *   if it lacks one, e.g. `http://m/sha256/ba78…`); a mirror that fails is
 *   passed over silently; then the attribute `url` (`http:`, `https:`,
 *   `file:`) is downloaded;
 * - the body is streamed to the output's location: a regular file, or with
 *   `unpack = "1"` a NAR restored there (through `xz -d` when `url` ends in
 *   `.xz`); `executable = "1"` makes the file executable;
 * - a download that fails before its body is tried again, up to
 *   `download-attempts` times in all, when Nix would (no answer, HTTP 408,
 *   429 and 5xx but 501, 505, 511), after 250 ms × 2^(attempt − 1 + a
 *   random half), with Nix's warning (`…; retrying in N ms`);
 * - the credentials of the host's `netrc-file` for the URL's host (or its
 *   `default` entry) are sent as HTTP basic authentication, as curl does;
 * - an HTTP error says `HTTP error CODE ('REASON')` and, as Nix, the
 *   response body when it is short;
 * - the output's hash is checked by the Builder's output registration,
 *   before anything is registered, as for any fixed output.
 *
 * @module
 */
import type { SandboxSpec } from "./builder.ts";
import { narEntries } from "../nar/nar_reader.ts";
import { removeTree, restorePath } from "../store/restore_path.ts";
import { BuildhostError } from "../errors.ts";
import { ERROR_PREFIX } from "./nix_message.ts";

/** Nix's `warning:` (bold magenta). */
const WARNING_PREFIX = "\x1b[35;1mwarning:\x1b[0m";
/** Nix's first retry delay. */
const BASE_RETRY_MS = 250;
/** The most of an error response read (Nix shows it under 1024 bytes). */
const ERROR_BODY_LIMIT = 64 * 1024;

/** A failed download or a bad attribute; the message is what the log says. */
export class FetchurlError extends BuildhostError {
  override name = "FetchurlError";
}

/** The settings `builtin:fetchurl` reads. */
export interface FetchurlSettings {
  /** `hashed-mirrors`. */
  hashedMirrors: readonly string[];
  /** `netrc-file`: read if it exists. */
  netrcFile: string;
  /** `download-attempts` (Nix's default 5). */
  downloadAttempts: number;
}

/** Nix's defaults, with the netrc file of `/etc/nix`. */
export const DEFAULT_FETCHURL_SETTINGS: FetchurlSettings = {
  hashedMirrors: [],
  netrcFile: "/etc/nix/netrc",
  downloadAttempts: 5,
};

/** A download failure, and whether Nix would try again. */
class DownloadError extends FetchurlError {
  override name = "DownloadError";
  constructor(message: string, readonly transient: boolean) {
    super(message);
  }
}

/**
 * Run `builtin:fetchurl`.
 *
 * @param spec The build: derivation, output location, log, signal.
 * @param settings `hashed-mirrors`, `netrc-file`, `download-attempts`.
 */
export async function fetchurl(spec: SandboxSpec, settings: FetchurlSettings): Promise<void> {
  const { drv } = spec;
  const out = spec.outputs.find((o) => o.name === "out");
  if (out === undefined) {
    throw new FetchurlError("'builtin:fetchurl' requires an 'out' output");
  }
  if (!spec.network) {
    throw new FetchurlError("'builtin:fetchurl' must be a fixed-output derivation");
  }
  const attr = (name: string) => {
    const v = drv.env.get(name);
    if (v === undefined) throw new FetchurlError(`attribute '${name}' missing`);
    return v;
  };
  const mainUrl = attr("url");
  const unpack = drv.env.get("unpack") === "1";
  const executable = drv.env.get("executable") === "1";
  const netrc = readNetrc(settings.netrcFile);
  const fetchTo = async (url: string) => {
    const body = await download(url, spec, settings.downloadAttempts, netrc);
    if (unpack && mainUrl.endsWith(".xz")) {
      const xz = xzDecompress(body, spec.signal);
      try {
        await restorePath(out.physical, narEntries(xz.stream));
      } finally {
        await xz.stop();
      }
    } else if (unpack) {
      await restorePath(out.physical, narEntries(body));
    } else {
      const file = await Deno.open(out.physical, { write: true, create: true, truncate: true });
      // pipeTo closes the file, also when the download breaks off.
      await body.pipeTo(file.writable);
    }
    if (executable) await Deno.chmod(out.physical, 0o755);
  };
  const o = drv.outputs.get("out");
  if (
    settings.hashedMirrors.length > 0 && attr("outputHashMode") === "flat" && o?.kind === "fixed"
  ) {
    for (const mirror of settings.hashedMirrors) {
      const base = mirror.endsWith("/") ? mirror : `${mirror}/`;
      try {
        await fetchTo(`${base}${o.hash.algorithm}/${o.hash.toString("base16")}`);
        return;
      } catch {
        spec.signal.throwIfAborted();
        await removeTree(out.physical);
      }
    }
  }
  await fetchTo(mainUrl);
}

/** The body of `url`, tried as often as Nix would. */
async function download(
  url: string,
  spec: SandboxSpec,
  attempts: number,
  netrc: NetrcEntry[],
): Promise<ReadableStream<Uint8Array>> {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new FetchurlError(`unable to download '${url}': URL using bad/illegal format`);
  }
  if (!["http:", "https:", "file:"].includes(parsed.protocol)) {
    throw new FetchurlError(
      `unable to download '${url}': unsupported protocol '${parsed.protocol.slice(0, -1)}'`,
    );
  }
  const headers = new Headers();
  const credentials = parsed.protocol === "file:" || parsed.username !== ""
    ? undefined
    : netrc.find((e) => e.machine === parsed.hostname) ?? netrc.find((e) => e.machine === null);
  if (credentials !== undefined) {
    headers.set("Authorization", `Basic ${btoa(`${credentials.login}:${credentials.password}`)}`);
  }
  const encoder = new TextEncoder();
  for (let attempt = 1;; attempt++) {
    spec.log(encoder.encode(`downloading '${url}'...\n`));
    let failure: DownloadError;
    try {
      const response = await fetch(parsed, { signal: spec.signal, redirect: "follow", headers });
      if (response.ok && response.body !== null) return response.body;
      failure = await httpError(url, response);
    } catch (e) {
      spec.signal.throwIfAborted();
      failure = new DownloadError(
        `unable to download '${url}': ${e instanceof Error ? e.message : String(e)}`,
        parsed.protocol !== "file:",
      );
    }
    if (!failure.transient || attempt >= attempts) throw failure;
    const ms = Math.floor(BASE_RETRY_MS * 2 ** (attempt - 1 + Math.random() * 0.5));
    spec.log(
      encoder.encode(
        `${WARNING_PREFIX} ${ERROR_PREFIX} ${indent(failure.message)}; retrying in ${ms} ms\n`,
      ),
    );
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(done, ms);
      function done() {
        spec.signal.removeEventListener("abort", abort);
        resolve();
      }
      function abort() {
        clearTimeout(timer);
        reject(spec.signal.reason);
      }
      spec.signal.addEventListener("abort", abort, { once: true });
    });
  }
}

/** Nix's message for an HTTP error status, with the body when short, and whether to retry. */
async function httpError(url: string, response: Response): Promise<DownloadError> {
  const s = response.status;
  const transient = !(s === 404 || s === 410 || s === 401 || s === 403 || s === 407 ||
    (s >= 400 && s < 500 && s !== 408 && s !== 429) || s === 501 || s === 505 || s === 511);
  let body = "";
  let cut = false;
  if (response.body !== null) {
    const chunks: Uint8Array[] = [];
    let size = 0;
    for await (const chunk of response.body) {
      chunks.push(chunk);
      size += chunk.length;
      if (size >= ERROR_BODY_LIMIT) {
        cut = true;
        break;
      }
    }
    const all = new Uint8Array(size);
    let at = 0;
    for (const c of chunks) all.set(c, (at += c.length) - c.length);
    body = new TextDecoder().decode(all);
  }
  let message = `unable to download '${url}': HTTP error ${s} ('${response.statusText}')`;
  if (body !== "" && ((!cut && body.length < 1024) || body.includes("<html>"))) {
    message += `\n\nresponse body:\n\n${body.replace(/[ \n\r\t]+$/, "")}`;
  }
  return new DownloadError(message, transient);
}

/**
 * A multi-line message as Nix prints it after `error: `: later lines
 * indented, empty lines left empty.
 *
 * @param message The message.
 * @returns It indented.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { indent } from "./builtin_fetchurl.ts";
 * assert.equal(indent("a\n\nb"), "a\n\n       b");
 * ```
 */
export function indent(message: string): string {
  return message.replace(/\n(?=[^\n])/g, "\n       ");
}

/**
 * `xz -d` over a stream: the decompressed stream, and `stop()`, which ends
 * xz (killed if still running) and the input, whatever was read.
 */
function xzDecompress(
  input: ReadableStream<Uint8Array>,
  signal: AbortSignal,
): { stream: ReadableStream<Uint8Array>; stop: () => Promise<void> } {
  const child = new Deno.Command("xz", {
    args: ["-d", "-c"],
    stdin: "piped",
    stdout: "piped",
    stderr: "piped",
    signal,
  }).spawn();
  // pipeTo cancels the input when xz's stdin breaks (xz failed or was killed).
  const fed = input.pipeTo(child.stdin).catch(() => {});
  const stderr = new Response(child.stderr).text();
  let exited = false;
  const status = child.status.finally(() => exited = true);
  const stream = child.stdout.pipeThrough(
    new TransformStream<Uint8Array, Uint8Array>({
      async flush(controller) {
        const s = await status;
        if (!s.success) {
          controller.error(new FetchurlError(`cannot decompress xz: ${(await stderr).trim()}`));
        }
      },
    }),
  );
  const stop = async () => {
    if (!exited) {
      try {
        child.kill();
      } catch { /* exited meanwhile */ }
    }
    await stream.cancel().catch(() => {});
    await status;
    await fed;
    await stderr;
  };
  return { stream, stop };
}

/** One `machine` (or `default`, machine `null`) entry of a netrc file. */
export interface NetrcEntry {
  machine: string | null;
  login: string;
  password: string;
}

/**
 * The entries of a netrc file (none if it cannot be read), as curl reads
 * them: `machine NAME` or `default`, then `login`, `password`, `account`;
 * `macdef` skips to the next empty line.
 *
 * @param path The file.
 * @returns Its entries, in order.
 */
export function readNetrc(path: string): NetrcEntry[] {
  let text: string;
  try {
    text = Deno.readTextFileSync(path);
  } catch {
    return [];
  }
  return parseNetrc(text);
}

/**
 * Parse netrc text.
 *
 * @param text The file's text.
 * @returns Its entries, in order.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseNetrc } from "./builtin_fetchurl.ts";
 * assert.deepEqual(parseNetrc("machine h login a password b\ndefault login c password d\n"), [
 *   { machine: "h", login: "a", password: "b" },
 *   { machine: null, login: "c", password: "d" },
 * ]);
 * ```
 */
export function parseNetrc(text: string): NetrcEntry[] {
  const entries: NetrcEntry[] = [];
  const withoutMacros = text.replace(/(^|\s)macdef\s[\s\S]*?(\n\s*\n|$)/g, "$1");
  const words = withoutMacros.split(/\s+/).filter((w) => w !== "");
  let current: NetrcEntry | null = null;
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    if (w === "machine" || w === "default") {
      current = { machine: w === "default" ? null : words[++i] ?? "", login: "", password: "" };
      entries.push(current);
    } else if (current !== null && w === "login") current.login = words[++i] ?? "";
    else if (current !== null && w === "password") current.password = words[++i] ?? "";
    else if (w === "account") i++;
  }
  return entries;
}
