/**
 * `deno task bench`: buildhost against real Nix in the same run, as ratios.
 * Not a test: it measures time and peak memory (GNU time's max RSS) and
 * prints a table; nothing here asserts a speed.
 *
 * Workload (cached under $BUILDHOST_BENCH_DIR or /tmp/buildhost-bench):
 * a 1 GiB tree of mixed file sizes (one 256 MiB file, 8 of 32 MiB, 256 of
 * 1 MiB, 4096 of 32 KiB, 16384 of 4 KiB, executables and symlinks).
 *
 * @module
 */
import { join } from "node:path";
import { best, measure, rm, type Row, table } from "./_measure.ts";
import { storeBench } from "./store_bench.ts";

const ROOT = Deno.env.get("BUILDHOST_BENCH_DIR") ?? "/tmp/buildhost-bench";
const MAIN = new URL("../main.ts", import.meta.url).pathname;

function ensureTree(dir: string): void {
  try {
    if (Deno.statSync(join(dir, ".complete")).isFile) return;
  } catch { /* build it */ }
  try {
    Deno.removeSync(dir, { recursive: true });
  } catch { /* fresh */ }
  Deno.mkdirSync(dir, { recursive: true });
  let seed = 0x12345678;
  const block = new Uint8Array(1 << 20);
  const refill = () => {
    const v = new Uint32Array(block.buffer);
    for (let i = 0; i < v.length; i++) {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      v[i] = seed >>> 0;
    }
  };
  const write = (path: string, size: number, exec = false) => {
    using f = Deno.openSync(path, { write: true, create: true, truncate: true });
    let left = size;
    while (left > 0) {
      refill();
      const n = Math.min(left, block.length);
      f.writeSync(block.subarray(0, n));
      left -= n;
    }
    if (exec) Deno.chmodSync(path, 0o755);
  };
  write(join(dir, "huge.bin"), 256 << 20);
  const groups: [string, number, number][] = [
    ["large", 8, 32 << 20],
    ["medium", 256, 1 << 20],
    ["small", 4096, 32 << 10],
    ["tiny", 16384, 4 << 10],
  ];
  for (const [name, count, size] of groups) {
    for (let i = 0; i < count; i++) {
      const sub = join(dir, name, String(i % 64));
      Deno.mkdirSync(sub, { recursive: true });
      write(join(sub, `f${i}`), size, i % 7 === 0);
      if (i % 97 === 0) Deno.symlinkSync(`f${i}`, join(sub, `l${i}`));
    }
  }
  Deno.writeTextFileSync(join(dir, ".complete"), "");
}

if (import.meta.main) {
  try {
    Deno.statSync("/usr/bin/time");
  } catch {
    console.error("bench: needs GNU time (/usr/bin/time): apt-get install time");
    Deno.exit(1);
  }
  const tree = join(ROOT, "tree");
  console.error(`bench: preparing ${tree} (1 GiB, once)`);
  ensureTree(tree);
  const nar = join(ROOT, "tree.nar");
  measure(`nix-store --dump ${tree} > ${nar}`);
  const deno = Deno.execPath();
  // warm the page cache and deno's module cache
  measure(`cat ${nar} > /dev/null`);
  measure(`${deno} run -A ${MAIN} hash path ${tree} > /dev/null`);

  const rows: Row[] = [];
  const hashOurs = best(`${deno} run -A ${MAIN} hash path --base32 ${tree}`);
  const hashNix = best(`nix-hash --type sha256 --base32 ${tree}`);
  const floor = best(`sha256sum ${nar}`);
  rows.push(["NAR dump + sha256 (1 GiB tree) vs nix-hash", hashOurs, hashNix]);
  rows.push(["NAR dump + sha256 vs sha256sum of the NAR (floor)", hashOurs, floor]);
  const out = join(ROOT, "restored");
  const restoreOurs = best(`${deno} run -A ${MAIN} nar restore ${out} < ${nar}`, () => rm(out));
  const restoreNix = best(`nix-store --restore ${out} < ${nar}`, () => rm(out));
  rm(out);
  rows.push(["NAR restore (1 GiB) vs nix-store --restore", restoreOurs, restoreNix]);

  rows.push(...await storeBench(ROOT));
  console.log(table(rows));
}
