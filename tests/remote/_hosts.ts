/**
 * Build hosts for the client's tests, each with its own store, reached
 * through the stand-in ssh (tests/_helpers/bin/ssh): buildhost serve hosts
 * (optionally sabotaged once, mid-build) and real `nix-store --serve
 * --write` hosts; and a client store holding derivations Nix instantiated.
 */
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { nix, NIX_CONFIG } from "../_helpers/nix.ts";

export { processesWith, sshEnv } from "./_host_env.ts";

const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** What to do to a host's serve process, once, while it builds. */
export interface Sabotage {
  /** SIGKILL it, or SIGSTOP it. */
  signal: "KILL" | "STOP";
  /** Seconds after its build starts. */
  after: number;
}

/**
 * A buildhost host named `name` with its store at `dir/name`; with
 * `sabotage`, its first session's process gets the signal once its build
 * has run for `after` seconds (a watcher beside it, which gives up after a
 * minute without a build).
 *
 * @returns Its URI (for `--builders`) and its store root.
 */
export function buildhostHost(dir: string, name: string, sabotage?: Sabotage) {
  const root = join(dir, name), program = join(dir, `remote-${name}`);
  const builds = join(root, "nix/var/nix/builds"), mark = join(dir, `${name}.sabotaged`);
  const watcher = sabotage
    ? `if [ ! -e "${mark}" ]; then
  touch "${mark}"
  ( i=0; while [ -z "$(ls "${builds}" 2>/dev/null)" ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i+1)); done
    [ $i -lt 600 ] && sleep ${sabotage.after} && kill -${sabotage.signal} $$ ) </dev/null >/dev/null 2>&1 &
fi
`
    : "";
  Deno.writeTextFileSync(
    program,
    `#!/bin/sh\n${watcher}exec "${Deno.execPath()}" run -A "${MAIN}" --store "${root}" ` +
      `--sandbox-paths '/bin /lib /lib64 /usr' "$@"\n`,
    { mode: 0o755 },
  );
  return { uri: `ssh://${name}?remote-program=${program}`, root };
}

/**
 * A real `nix-store --serve --write` host named `name`, its store at
 * `dir/name`, its builds under `dir/name-tmp`.
 *
 * @returns Its URI and its store root and build directory.
 */
export function nixStoreHost(dir: string, name: string) {
  const root = join(dir, name),
    program = join(dir, `remote-${name}`),
    tmp = join(dir, `${name}-tmp`);
  Deno.mkdirSync(tmp, { recursive: true });
  Deno.writeTextFileSync(
    program,
    `#!/bin/sh\nexport NIX_CONFIG='${NIX_CONFIG}'\nexport TMPDIR="${tmp}"\nunset NIX_REMOTE\n` +
      `exec nix-store --store "${root}" "$@"\n`,
    { mode: 0o755 },
  );
  return { uri: `ssh://${name}?remote-program=${program}`, root, tmp };
}

/**
 * Instantiate attributes of a Nix expression (with Nix, in `dir/nix`) and
 * import their closures into a client store at `dir/client`.
 *
 * @returns The client store's root and each attribute's `.drv` path.
 */
export async function clientWith(
  dir: string,
  expr: string,
  attrs: string[],
): Promise<{ client: string; nixRoot: string; drvs: Record<string, string> }> {
  const file = join(dir, "expr.nix"), nixRoot = join(dir, "nix"), client = join(dir, "client");
  Deno.writeTextFileSync(file, expr);
  const drvs: Record<string, string> = {};
  for (const a of attrs) {
    drvs[a] = (await nix("nix-instantiate", ["--store", nixRoot, file, "-A", a])).text;
  }
  const closure = (await nix("nix-store", ["--store", nixRoot, "-qR", ...Object.values(drvs)]))
    .text.split("\n");
  const exp = (await nix("nix-store", ["--store", nixRoot, "--export", ...closure])).bytes;
  const store = await Store.open(client);
  try {
    await store.importExport(new WireReader(ReadableStream.from([exp])));
  } finally {
    store.close();
  }
  return { client, nixRoot, drvs };
}

/** Whether `path` is valid in the store at `root`. */
export async function validIn(root: string, path: string): Promise<boolean> {
  const store = await Store.open(root);
  try {
    return store.isValid(path);
  } finally {
    store.close();
  }
}

/** A derivation (Nix expression) that prints `tick N` every second for `seconds`. */
export const ticking = (name: string, seconds: number, extra = "") =>
  `mk "${name}" "for i in $(seq ${seconds}); do echo tick $i; sleep 1; done; ${extra} echo ${name} > $out" {}`;

/** The prelude of the test expressions: `mk name script attrs`. */
export const PRELUDE = String.raw`
  mk = name: script: attrs: derivation ({ inherit name; system = "x86_64-linux"; builder = "/bin/sh";
    args = [ "-c" ("PATH=/bin:/usr/bin; " + script) ]; } // attrs);`;
