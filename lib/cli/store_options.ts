/**
 * `--store URL` and `--store-dir DIR` as the commands take them: a store URL
 * as Nix reads it (see `store/store_url.ts`; default `NIX_REMOTE`, else
 * `auto`: the system's store when usable, else one under the user's data
 * directory), resolved with Nix's environment (`NIX_STORE_DIR`,
 * `NIX_STATE_DIR`, `NIX_LOG_DIR`).
 *
 * @module
 */
import { Store } from "../store/store.ts";
import { parseStoreUrl, type StoreUrl, StoreUrlError } from "../store/store_url.ts";
import {
  nixDirs,
  resolveStoreLocation,
  type StoreLocation,
  systemStoreUsable,
} from "../store/store_location.ts";

/** The store flags' `parseArgs` options. */
export const STORE_FLAGS: {
  store: { type: "string" };
  "store-dir": { type: "string" };
} = {
  store: { type: "string" },
  "store-dir": { type: "string" },
};

/**
 * The store URL the flags name, parsed.
 *
 * @param values The parsed flags.
 * @param env The environment.
 * @returns The URL.
 */
export function storeUrlFromFlags(
  values: { store?: string | undefined },
  env: Record<string, string | undefined> = Deno.env.toObject(),
): StoreUrl {
  return parseStoreUrl(values.store ?? (env.NIX_REMOTE || "auto"), Deno.cwd());
}

/**
 * Open the local store the flags name.
 *
 * @param values The parsed flags.
 * @param env The environment.
 * @returns The store and its location (with the URL's `system-features`).
 * @throws {StoreUrlError} An unsupported or malformed URL, or an `ssh://` one.
 */
export async function openStoreFromFlags(
  values: { store?: string | undefined; "store-dir"?: string | undefined },
  env: Record<string, string | undefined> = Deno.env.toObject(),
): Promise<{ store: Store; location: StoreLocation }> {
  const location = storeLocationFromFlags(values, env);
  return { store: await Store.open(location.layout), location };
}

/**
 * Where the local store the flags name is, without opening it.
 *
 * @param values The parsed flags.
 * @param env The environment.
 * @returns Its location (with the URL's `system-features`).
 * @throws {StoreUrlError} An unsupported or malformed URL, or an `ssh://` one.
 */
export function storeLocationFromFlags(
  values: { store?: string | undefined; "store-dir"?: string | undefined },
  env: Record<string, string | undefined> = Deno.env.toObject(),
): StoreLocation {
  const url = storeUrlFromFlags(values, env);
  if (url.type === "ssh") {
    throw new StoreUrlError(
      url.url,
      "an ssh:// store is only served (buildhost --serve relays it)",
    );
  }
  const location = resolveStoreLocation(url, {
    dirs: nixDirs(env),
    env,
    systemStoreUsable,
    ...(values["store-dir"] ? { storeDirFlag: values["store-dir"] } : {}),
  });
  return location;
}
