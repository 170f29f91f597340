/**
 * `buildhost derivation show DRV…` and `buildhost derivation check DRV…`.
 *
 * DRV arguments are `.drv` store paths (`/nix/store/…-x.drv`). With
 * `--store ROOT` (a chroot store, as `nix --store ROOT`) the file of
 * `/nix/store/x` is read at `ROOT/nix/store/x`; a path already under ROOT is
 * accepted too. `--store-dir DIR` sets the logical store directory (default
 * `/nix/store`).
 *
 * @module
 */
import { join } from "../posix_path.ts";
import { parseArgs } from "./args.ts";
import { parseDerivation } from "../derivation/aterm_parser.ts";
import { encodeDerivation } from "../derivation/aterm_writer.ts";
import type { Derivation } from "../derivation/derivation.ts";
import { DerivationError } from "../derivation/derivation_error.ts";
import { showDerivationJson } from "../derivation/derivation_json.ts";
import { HashModulo } from "../derivation/hash_modulo.ts";
import { derivationPath, hashPlaceholder } from "../derivation/output_paths.ts";
import { encodeNixString } from "../derivation/nix_string.ts";
import { checkStoreDir, DEFAULT_STORE_DIR, StorePath } from "../store_path/store_path.ts";
import { type Command, UsageError } from "./command.ts";

const USAGE = `usage: buildhost derivation show [--store ROOT] [--store-dir DIR] DRV...
       buildhost derivation check [--store ROOT] [--store-dir DIR] DRV...`;

/**
 * Where `.drv` files are: the logical store directory and, for a chroot
 * store, the physical root it is under.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import type { DrvStore } from "./derivation_command.ts";
 * const s: DrvStore = { storeDir: "/nix/store", root: "/tmp/chroot" };
 * assert.equal(s.root, "/tmp/chroot");
 * ```
 */
export interface DrvStore {
  /** The logical store directory. */
  storeDir: string;
  /** The physical root of a chroot store (undefined: the real filesystem). */
  root?: string | undefined;
}

/** Reads and parses `.drv` files of one store, each once. */
class DrvReader {
  #cache = new Map<string, { bytes: Uint8Array; drv: Derivation }>();
  constructor(readonly store: DrvStore) {}

  /** The logical store path of an argument (which may be under the root). */
  logical(arg: string): string {
    const root = this.store.root?.replace(/\/+$/, "");
    const p = root !== undefined && arg.startsWith(root + "/") ? arg.slice(root.length) : arg;
    try {
      StorePath.parse(p, this.store.storeDir);
    } catch (e) {
      throw new DerivationError(
        `Cannot read derivation "${arg}": not a path in the store directory "${this.store.storeDir}" (${
          e instanceof Error ? e.message : e
        })`,
      );
    }
    return p;
  }

  async read(drvPath: string): Promise<{ bytes: Uint8Array; drv: Derivation }> {
    let entry = this.#cache.get(drvPath);
    if (!entry) {
      const file = this.store.root === undefined ? drvPath : join(this.store.root, drvPath);
      const bytes = await Deno.readFile(file);
      const drv = parseDerivation(bytes, { path: drvPath, storeDir: this.store.storeDir });
      entry = { bytes, drv };
      this.#cache.set(drvPath, entry);
    }
    return entry;
  }
}

/**
 * The bytes `nix show-derivation` prints for these `.drv` files.
 *
 * @param paths `.drv` store paths (or paths under `store.root`).
 * @param store Where the files are.
 * @returns The JSON bytes.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { showDerivations } from "./derivation_command.ts";
 * assert.equal(new TextDecoder().decode(await showDerivations([], { storeDir: "/nix/store" })), "{}\n");
 * ```
 */
export async function showDerivations(paths: string[], store: DrvStore): Promise<Uint8Array> {
  const reader = new DrvReader(store);
  const drvs: [string, Derivation][] = [];
  for (const arg of paths) {
    const p = reader.logical(arg);
    drvs.push([p, (await reader.read(p)).drv]);
  }
  return encodeNixString(showDerivationJson(drvs, store.storeDir));
}

const show = (v: string | undefined) => (v === undefined ? "(none)" : JSON.stringify(v));

/** The first byte offset where `a` and `b` differ. */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) if (a[i] !== b[i]) return i;
  return n;
}

/**
 * Check `.drv` files against what Nix 2.8 computes from their content: the
 * bytes are those Nix prints for the parsed derivation, the `.drv` path is
 * the text path of those bytes, every output path is the computed one, and
 * each output's env variable holds its path (or placeholder). Input
 * derivations are read from the same store.
 *
 * @param paths `.drv` store paths (or paths under `store.root`).
 * @param store Where the files are.
 * @returns One line per problem (`mismatch <drv> <field>: found X, expected Y`),
 *   or `ok <drv>` for a derivation without problems; and whether all were ok.
 * @throws {DerivationError} When a file (or an input's) cannot be parsed or hashed.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDerivations } from "./derivation_command.ts";
 * assert.deepEqual(await checkDerivations([], { storeDir: "/nix/store" }), { lines: [], ok: true });
 * ```
 */
export async function checkDerivations(
  paths: string[],
  store: DrvStore,
): Promise<{ lines: string[]; ok: boolean }> {
  const reader = new DrvReader(store);
  const modulo = new HashModulo(async (p) => (await reader.read(p)).drv, store.storeDir);
  const lines: string[] = [];
  let ok = true;
  for (const arg of paths) {
    const p = reader.logical(arg);
    const { bytes, drv } = await reader.read(p);
    const problems: string[] = [];
    const mismatch = (field: string, found: string | undefined, expected: string | undefined) =>
      problems.push(`mismatch ${p} ${field}: found ${show(found)}, expected ${show(expected)}`);

    const canonical = encodeDerivation(drv, { storeDir: store.storeDir });
    if (firstDifference(bytes, canonical) !== bytes.length || bytes.length !== canonical.length) {
      const at = firstDifference(bytes, canonical);
      const snippet = (b: Uint8Array) => new TextDecoder().decode(b.subarray(at, at + 24));
      mismatch(`bytes (at byte ${at})`, snippet(bytes), snippet(canonical));
    }
    const ownPath = derivationPath(drv, store.storeDir);
    if (ownPath !== p) mismatch("path", p, ownPath);

    const want = await modulo.outputPaths(drv);
    for (const [name, o] of drv.outputs) {
      const written = o.kind === "inputAddressed" || o.kind === "fixed" ? o.path : undefined;
      const expected = want.get(name);
      if (written !== expected) mismatch(`outputs.${name}.path`, written, expected);
      const envWant = expected ??
        (o.kind === "floating" || o.kind === "impure" ? hashPlaceholder(name) : "");
      if (drv.env.get(name) !== envWant) mismatch(`env.${name}`, drv.env.get(name), envWant);
    }
    if (problems.length === 0) lines.push(`ok ${p}`);
    else {
      ok = false;
      lines.push(...problems);
    }
  }
  return { lines, ok };
}

async function writeAll(bytes: Uint8Array): Promise<void> {
  let off = 0;
  while (off < bytes.length) off += await Deno.stdout.write(bytes.subarray(off));
}

/**
 * `buildhost derivation (show|check) [--store ROOT] [--store-dir DIR] DRV...`
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { derivationCommand } from "./derivation_command.ts";
 * await assert.rejects(() => derivationCommand(["frobnicate"], { debug: false }), /usage/);
 * ```
 */
export const derivationCommand: Command = async (args) => {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      store: { type: "string" },
      "store-dir": { type: "string", default: DEFAULT_STORE_DIR },
    },
  });
  const [sub, ...paths] = positionals;
  if ((sub !== "show" && sub !== "check") || paths.length === 0) throw new UsageError(USAGE);
  const store: DrvStore = { storeDir: checkStoreDir(values["store-dir"]), root: values.store };
  if (sub === "show") {
    await writeAll(await showDerivations(paths, store));
    return 0;
  }
  const { lines, ok } = await checkDerivations(paths, store);
  await writeAll(encodeNixString(lines.map((l) => l + "\n").join("")));
  return ok ? 0 : 1;
};
