/**
 * `deno task bench`: buildhost against real Nix in the same run, as ratios.
 * Not a test: it measures time and peak memory (GNU time's max RSS) and
 * prints a table; nothing here asserts a speed.
 *
 * Workloads are cached under $BUILDHOST_BENCH_DIR or /tmp/buildhost-bench;
 * see each file: `nar_bench.ts` (a 1 GiB tree: dump + hash, dump, restore,
 * listing), `store_bench.ts` (import, closure, GC), `serve_bench.ts` (ssh://) and
 * `daemon_bench.ts` (ssh-ng://).
 *
 * @module
 */
import { table } from "./_measure.ts";
import { narBench } from "./nar_bench.ts";
import { storeBench } from "./store_bench.ts";
import { serveBench } from "./serve_bench.ts";
import { daemonBench } from "./daemon_bench.ts";

const ROOT = Deno.env.get("BUILDHOST_BENCH_DIR") ?? "/tmp/buildhost-bench";

if (import.meta.main) {
  try {
    Deno.statSync("/usr/bin/time");
  } catch {
    console.error("bench: needs GNU time (/usr/bin/time): apt-get install time");
    Deno.exit(1);
  }
  const rows = narBench(ROOT);
  rows.push(...await storeBench(ROOT));
  rows.push(...serveBench(ROOT));
  rows.push(...await daemonBench(ROOT));
  console.log(table(rows));
}
