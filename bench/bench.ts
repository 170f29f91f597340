/**
 * `deno task bench`: buildhost against real Nix in the same run, as ratios.
 * Not a test: it measures time and peak memory (GNU time's max RSS) and
 * prints a table; nothing here asserts a speed.
 *
 * Workloads are cached in `BENCH_DIR` (see `_measure.ts`);
 * see each file: `nar_bench.ts` (a 1 GiB tree: dump + hash, dump, restore,
 * listing), `store_bench.ts` (import, closure, GC), `serve_bench.ts` (ssh://),
 * `daemon_bench.ts` (ssh-ng://) and `session_bench.ts` (sessions that only
 * shake hands, 16 clients at once).
 *
 * `BUILDHOST_BENCH_ONLY=serve,session` runs only those groups (nar, store,
 * serve, daemon, session; roundtrip is the serve group's remote build round
 * trip alone); `BUILDHOST_BENCH_RUNS` sets the runs per row (the
 * median is shown; default 3). buildhost runs as installed (`deno task
 * install` into the bench directory; see `buildhostProgram`), or from the
 * checkout with `BUILDHOST_BENCH_FROM_SOURCE=1`.
 *
 * @module
 */
import { BENCH_DIR, buildhostProgram, table } from "./_measure.ts";
import { narBench } from "./nar_bench.ts";
import { storeBench } from "./store_bench.ts";
import { serveBench, serveRoundTrip } from "./serve_bench.ts";
import { daemonBench } from "./daemon_bench.ts";
import { sessionBench } from "./session_bench.ts";
import type { Row } from "./_measure.ts";

if (import.meta.main) {
  try {
    Deno.statSync("/usr/bin/time");
  } catch {
    console.error("bench: needs GNU time (/usr/bin/time): apt-get install time");
    Deno.exit(1);
  }
  const groups: Record<string, (dir: string) => Row[] | Promise<Row[]>> = {
    nar: narBench,
    store: storeBench,
    serve: serveBench,
    daemon: daemonBench,
    session: sessionBench,
    roundtrip: serveRoundTrip,
  };
  const only = Deno.env.get("BUILDHOST_BENCH_ONLY")?.split(",").filter((g) => g !== "");
  for (const g of only ?? []) {
    if (!(g in groups)) {
      console.error(`bench: no group "${g}" (groups: ${Object.keys(groups).join(", ")})`);
      Deno.exit(2);
    }
  }
  console.error(`bench: buildhost is ${buildhostProgram()}`);
  const rows: Row[] = [];
  for (const [name, run] of Object.entries(groups)) {
    if (!only || only.includes(name)) rows.push(...await run(BENCH_DIR));
  }
  console.log(table(rows));
}
