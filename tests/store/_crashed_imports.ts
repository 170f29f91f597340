/**
 * Imports killed at a crash point (BUILDHOST_CRASH_AT) and a store with
 * garbage, for the store fault tests and their checks by real Nix.
 *
 * @module
 */
import { join } from "node:path";
import { Store } from "../../lib/store/store.ts";
import { WireReader } from "../../lib/wire/wire_reader.ts";
import { BufferSink, WireWriter } from "../../lib/wire/wire_writer.ts";
import { HashSink } from "../../lib/hash/hash.ts";
import { dumpPath } from "../../lib/store/dump_path.ts";

export const MAIN = new URL("../../main.ts", import.meta.url).pathname;

/** A directory of `mib` MiB of data, its NAR file, hash and size. */
export async function bigNar(dir: string, mib: number) {
  const src = join(dir, "big-src");
  Deno.mkdirSync(src);
  const block = new Uint8Array(1 << 20);
  for (let i = 0; i < mib; i++) {
    block.fill(i + 1);
    Deno.writeFileSync(join(src, `part${String(i).padStart(3, "0")}`), block);
  }
  const narFile = join(dir, "big.nar");
  const sink = new HashSink("sha256");
  {
    using f = Deno.openSync(narFile, { write: true, create: true });
    for await (const c of dumpPath(src)) {
      sink.write(c);
      f.writeSync(c);
    }
  }
  return { narFile, narHash: sink.digest(), narSize: sink.size };
}

export const PATH = "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-big";

/** `buildhost store import` of PATH from `narFile`, killed at `crashAt` when given. */
export function importCmd(
  root: string,
  hash: string,
  size: number,
  narFile: string,
  crashAt?: string,
) {
  return new Deno.Command("sh", {
    args: [
      "-c",
      `exec "${Deno.execPath()}" run -A "${MAIN}" store import --store "${root}" --hash ${hash} --size ${size} ${PATH} < "${narFile}"`,
    ],
    env: crashAt ? { BUILDHOST_CRASH_AT: crashAt } : {},
    stdout: "null",
    stderr: "piped",
  });
}

/** `buildhost store import-export` from `file`, killed at `crashAt` when given. */
export function importExportCmd(root: string, file: string, crashAt?: string) {
  return new Deno.Command("sh", {
    args: [
      "-c",
      `exec "${Deno.execPath()}" run -A "${MAIN}" store import-export --store "${root}" < "${file}"`,
    ],
    env: crashAt ? { BUILDHOST_CRASH_AT: crashAt } : {},
    stdout: "null",
    stderr: "piped",
  });
}

/** An export stream of `n` small text paths named `name-i`, built in a scratch store. */
export async function exportOf(dir: string, names: string[]) {
  const s = await Store.open(join(dir, `scratch-${crypto.randomUUID()}`));
  try {
    const paths = [];
    for (const n of names) paths.push((await s.addText(n, `contents of ${n}`)).path);
    const sink = new BufferSink();
    await s.exportPaths(paths, new WireWriter(sink));
    return { paths, bytes: sink.bytes() };
  } finally {
    s.close();
  }
}

/**
 * Fill `store` with paths for GC to sort out: `top` (a root) refers to `dep`
 * and was made by `drv`; `viaIndirect` is reached by an indirect root (a
 * symlink in `dir`); `dead2` refers to `dead1`, and nothing to either. Drops
 * this process's temporary roots.
 */
export async function seedGarbage(store: Store, dir: string) {
  const dep = await store.addText("dep", "dep");
  const drv = await store.addText("thing.drv", "not really a derivation");
  const top = await store.addNar(
    {
      path: "/nix/store/0c2d3w1b7l4xal3bm3bzqnyk6dpf1mzn-top",
      references: [dep.path],
      deriver: drv.path,
    },
    new WireReader(store.dump(dep.path)),
  );
  const viaIndirect = await store.addText("indirect", "indirect");
  const dead1 = await store.addText("dead1", "dead1");
  const dead2 = await store.addText("dead2", `dead2 ${dead1.path}`, [dead1.path]);
  Deno.symlinkSync(top.path, join(store.layout.gcRootsDir, "top"));
  Deno.mkdirSync(join(store.layout.gcRootsDir, "auto"));
  const result = join(dir, "result");
  Deno.symlinkSync(viaIndirect.path, result);
  Deno.symlinkSync(result, join(store.layout.gcRootsDir, "auto", "r1"));
  // This process's temporary roots protect everything it added; drop them.
  store.tempRoots.close();
  return { dep, drv, top, viaIndirect, dead1, dead2 };
}
