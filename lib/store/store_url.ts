/**
 * Store URLs as Nix 2.8 reads them (`--store`, the `remote-store` of an
 * `ssh://` store, `NIX_REMOTE`):
 *
 * - `scheme://authority/path?query`: a URL; buildhost knows `ssh://HOST`
 *   (relayed by the serve host), other schemes are refused.
 * - otherwise `SPEC?query`, where SPEC is `""`/`auto` (the host's default
 *   store), `daemon` (buildhost has no daemon: the default store too),
 *   `local` (the local store, root `/`), or a path containing a `/` (a
 *   chroot store rooted at that path, made absolute).
 *
 * The query is `name=value` pairs separated by `&`, each value
 * percent-decoded (a pair without `=` is ignored, as Nix does). For a
 * local store the parameters are the ones Nix 2.8 accepts: `root`, `store`
 * (the logical store directory), `state`, `log`, `real` (where the store
 * directory's files are), `system-features`, and `require-sigs`,
 * `trusted`, `priority`, `want-mass-query`, `path-info-cache-size` (taken
 * and ignored); any other is an error, never a file name.
 *
 * This file is pure: it parses; `store_location.ts` resolves.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A store URL that cannot be read or is not supported. */
export class StoreUrlError extends BuildhostError {
  override name = "StoreUrlError";
  /**
   * @param url The URL as given.
   * @param detail What is wrong with it.
   */
  constructor(readonly url: string, detail: string) {
    super(`Cannot open store '${url}': ${detail}`);
  }
}

/** The parameters of a local store that Nix 2.8 accepts. */
export const LOCAL_STORE_PARAMS: readonly string[] = [
  "root",
  "store",
  "state",
  "log",
  "real",
  "system-features",
  "require-sigs",
  "trusted",
  "priority",
  "want-mass-query",
  "path-info-cache-size",
];

/** A parsed store URL. */
export type StoreUrl =
  | {
    /** `""`, `auto`, `daemon`: the host's default store; `local` or a path: a local store. */
    type: "auto" | "local";
    /** The URL as given. */
    url: string;
    /** The decoded query parameters (for a path: `root` is the path). */
    params: Record<string, string>;
  }
  | {
    /** `ssh://HOST?...`: a store on another host, reached with ssh. */
    type: "ssh";
    url: string;
    /** `user@host` (brackets of an IPv6 address removed, as Nix does). */
    host: string;
    params: Record<string, string>;
  };

function percentDecode(url: string, s: string): string {
  const bytes: number[] = [];
  for (let i = 0; i < s.length;) {
    if (s[i] === "%") {
      const hex = s.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(hex)) {
        throw new StoreUrlError(url, `invalid URI parameter '${s}'`);
      }
      bytes.push(parseInt(hex, 16));
      i += 3;
    } else {
      bytes.push(...new TextEncoder().encode(s[i]!));
      i++;
    }
  }
  return new TextDecoder().decode(new Uint8Array(bytes));
}

function decodeQuery(url: string, query: string): Record<string, string> {
  const params: Record<string, string> = {};
  for (const pair of query.split("&")) {
    const eq = pair.indexOf("=");
    if (eq < 0) continue;
    const name = pair.slice(0, eq);
    // Nix keeps the first of two equal names (std::map::emplace).
    // Own properties only: a name such as "constructor" or "__proto__" is a name like any other.
    if (!Object.hasOwn(params, name)) {
      Object.defineProperty(params, name, {
        value: percentDecode(url, pair.slice(eq + 1)),
        enumerable: true,
        writable: true,
        configurable: true,
      });
    }
  }
  return params;
}

/**
 * Parse a store URL as Nix 2.8 does.
 *
 * @param url The URL (`/srv/s?system-features=kvm`, `local?root=/x`, `auto`,
 *   `ssh://b1?remote-store=...`).
 * @param cwd The directory a relative path is taken from.
 * @returns The parsed URL.
 * @throws {StoreUrlError} An unsupported scheme, a bad `%` escape, a word
 *   that is no store, or a parameter a local store does not take.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { parseStoreUrl } from "./store_url.ts";
 * assert.deepEqual(parseStoreUrl("/srv/m1?system-features=foo%20bar", "/"), {
 *   type: "local",
 *   url: "/srv/m1?system-features=foo%20bar",
 *   params: { "system-features": "foo bar", root: "/srv/m1" },
 * });
 * assert.equal(parseStoreUrl("daemon", "/").type, "auto");
 * assert.throws(() => parseStoreUrl("s3://bucket", "/"), /don't know how to open Nix store/);
 * ```
 */
export function parseStoreUrl(url: string, cwd: string): StoreUrl {
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^?#]*)(?:\?([^#]*))?(?:#.*)?$/.exec(url);
  if (scheme) {
    const [, name, rest, query] = scheme;
    if (name !== "ssh") {
      throw new StoreUrlError(
        url,
        `don't know how to open Nix store '${url}' (buildhost serves local stores and relays ssh:// ones)`,
      );
    }
    const params = decodeQuery(url, query ?? "");
    const v6 = /^(?:(.*)@)?\[(.*)\]$/.exec(rest!);
    const host = v6 ? (v6[1] !== undefined ? `${v6[1]}@${v6[2]}` : v6[2]!) : rest!;
    if (host === "") throw new StoreUrlError(url, "no host");
    return { type: "ssh", url, host, params };
  }
  const q = url.indexOf("?");
  const spec = q < 0 ? url : url.slice(0, q);
  const params = q < 0 ? {} : decodeQuery(url, url.slice(q + 1));
  let type: "auto" | "local";
  if (spec === "" || spec === "auto" || spec === "daemon") type = "auto";
  else if (spec === "local") type = "local";
  else if (!spec.includes("://") && spec.includes("/")) {
    type = "local";
    params.root = absolute(spec, cwd);
  } else {
    throw new StoreUrlError(url, `don't know how to open Nix store '${url}'`);
  }
  for (const name of Object.keys(params)) {
    if (!LOCAL_STORE_PARAMS.includes(name)) {
      throw new StoreUrlError(
        url,
        `unknown setting '${name}' (a local store takes ${LOCAL_STORE_PARAMS.join(", ")})`,
      );
    }
  }
  for (const name of ["root", "store", "state", "log", "real"]) {
    const v = params[name];
    if (v !== undefined && v !== "" && !v.startsWith("/")) {
      throw new StoreUrlError(url, `setting '${name}' must be an absolute path, not '${v}'`);
    }
  }
  return { type, url, params };
}

/** `path` made absolute against `cwd` and canonical (no `.`, `..`, `//`, trailing `/`). */
function absolute(path: string, cwd: string): string {
  const parts: string[] = [];
  for (const c of (path.startsWith("/") ? path : `${cwd}/${path}`).split("/")) {
    if (c === "" || c === ".") continue;
    if (c === "..") parts.pop();
    else parts.push(c);
  }
  return "/" + parts.join("/");
}
