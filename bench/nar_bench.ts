/**
 * NAR benchmarks against real Nix in the same run, on a generated 1 GiB tree
 * of mixed file sizes, cached in `BENCH_DIR` (see `_measure.ts`): one 256 MiB
 * file, 8 of 32 MiB, 256 of 1 MiB, 4096 of 32 KiB, 16384 of 4 KiB, a seventh
 * of them executable, some symlinks:
 *
 * - dump + SHA-256: `buildhost hash path` vs `nix-hash --type sha256`, and vs
 *   `sha256sum` / `openssl dgst -sha256` of the NAR file (hashing alone);
 * - dump to stdout: `buildhost nar dump` vs `nix-store --dump`;
 * - restore: `buildhost nar restore` vs `nix-store --restore`;
 * - listing: `buildhost nar ls` vs `nix nar ls -R -l`;
 * - many small entries: restoring a NAR of $BUILDHOST_BENCH_EMPTY_FILES
 *   (default 100 000) empty files in one directory, where the cost is per
 *   entry (parsing, one `open` and `close` each) rather than per byte.
 *
 * Each command runs under GNU time (elapsed seconds, peak RSS); the median
 * of $BUILDHOST_BENCH_RUNS runs (default 3) is kept. Not a test: nothing
 * here asserts a speed. Run alone with `deno run -A bench/nar_bench.ts`.
 *
 * @module
 */
import { join } from "node:path";
import { BENCH_DIR, best, buildhostProgram, measure, rm, type Row, table } from "./_measure.ts";

/** Write the 1 GiB tree at `dir` unless a complete one is there. */
export function ensureTree(dir: string): void {
  try {
    if (Deno.statSync(join(dir, ".complete")).isFile) return;
  } catch { /* build it */ }
  rm(dir);
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

/**
 * Run the NAR benchmarks with the tree and NAR cached under `root`.
 *
 * @param root The cache directory.
 * @returns One row per comparison.
 */
export function narBench(root: string): Row[] {
  const tree = join(root, "tree");
  console.error(`bench: preparing ${tree} (1 GiB, once)`);
  ensureTree(tree);
  const nar = join(root, "tree.nar");
  measure(`nix-store --dump ${tree} > ${nar}.tmp && mv ${nar}.tmp ${nar}`);
  const bh = buildhostProgram();
  // warm the page cache and deno's module cache
  measure(`cat ${nar} > /dev/null; find ${tree} -type f -exec cat {} + > /dev/null`);
  measure(`${bh} hash path ${tree} > /dev/null`);

  const rows: Row[] = [];
  const hash = best(`${bh} hash path --type sha256 --base32 ${tree}`);
  rows.push([
    "NAR dump + sha256 (1 GiB tree) vs nix-hash --type sha256",
    hash,
    best(`nix-hash --type sha256 --base32 ${tree}`),
  ]);
  rows.push(["NAR dump + sha256 vs sha256sum of the NAR file", hash, best(`sha256sum ${nar}`)]);
  rows.push([
    "NAR dump + sha256 vs openssl dgst -sha256 of the NAR file",
    hash,
    best(`openssl dgst -sha256 ${nar}`),
  ]);
  rows.push([
    "NAR dump to stdout vs nix-store --dump",
    best(`${bh} nar dump ${tree} | cat > /dev/null`),
    best(`nix-store --dump ${tree} | cat > /dev/null`),
  ]);
  const work = Deno.makeTempDirSync({ dir: root, prefix: "nar-bench-" });
  try {
    const out = join(work, "restored");
    rows.push([
      "NAR restore (1 GiB) vs nix-store --restore",
      best(`${bh} nar restore ${out} < ${nar}`, () => rm(out)),
      best(`nix-store --restore ${out} < ${nar}`, () => rm(out)),
    ]);
  } finally {
    rm(work);
  }
  rows.push(emptyFilesRow(root));
  rows.push([
    "NAR ls (20 k entries) vs nix nar ls -R -l",
    best(`${bh} nar ls < ${nar} > /dev/null`),
    best(`nix nar ls -R -l ${nar} / > /dev/null`),
  ]);
  return rows;
}

/** Write (once) the NAR of a directory of `count` empty files, `f0..` in order. */
function ensureEmptyFilesNar(file: string, count: number): void {
  try {
    if (Deno.statSync(file).isFile) return;
  } catch { /* write it */ }
  const enc = new TextEncoder();
  const token = (t: string): number[] => {
    const b = enc.encode(t);
    const len = [b.length, 0, 0, 0, 0, 0, 0, 0];
    return [...len, ...b, ...new Array((8 - (b.length % 8)) % 8).fill(0)];
  };
  const tokens = (...ts: string[]) => new Uint8Array(ts.flatMap(token));
  const width = String(count).length;
  using f = Deno.openSync(`${file}.tmp`, { write: true, create: true, truncate: true });
  const write = (b: Uint8Array) => {
    for (let off = 0; off < b.length;) off += f.writeSync(b.subarray(off));
  };
  write(tokens("nix-archive-1", "(", "type", "directory"));
  for (let i = 0; i < count; i++) {
    const name = `f${String(i).padStart(width, "0")}`;
    write(tokens("entry", "(", "name", name, "node", "(", "type", "regular", "contents", ""));
    write(tokens(")", ")"));
  }
  write(tokens(")"));
  Deno.renameSync(`${file}.tmp`, file);
}

/**
 * Restoring many empty files: `buildhost nar restore` vs `nix-store --restore`.
 *
 * @param root The cache directory.
 * @returns The row.
 */
export function emptyFilesRow(root: string): Row {
  const count = Number(Deno.env.get("BUILDHOST_BENCH_EMPTY_FILES") ?? "100000");
  const nar = join(root, `empty-${count}.nar`);
  ensureEmptyFilesNar(nar, count);
  const bh = buildhostProgram();
  const work = Deno.makeTempDirSync({ dir: root, prefix: "nar-bench-" });
  try {
    const out = join(work, "restored");
    return [
      `NAR restore (${count} empty files) vs nix-store --restore`,
      best(`${bh} nar restore ${out} < ${nar}`, () => rm(out)),
      best(`nix-store --restore ${out} < ${nar}`, () => rm(out)),
    ];
  } finally {
    rm(work);
  }
}

if (import.meta.main) {
  const root = BENCH_DIR;
  console.log(table(narBench(root)));
}
