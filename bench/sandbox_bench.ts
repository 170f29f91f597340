/**
 * One row of `deno task bench` on its own: 100 trivial sandboxed builds at
 * max-jobs 1 (buildhost build vs nix-store --realise, same run, same
 * derivations, `extra-sandbox-paths = /bin /lib /lib64 /usr` for both), to
 * measure the sandbox's set-up without the rest of the bench.
 * Run with `deno run -A bench/sandbox_bench.ts` (`BUILDHOST_BENCH_RUNS`
 * runs each side that many times, alternating; the median is shown;
 * default 3).
 *
 * @module
 */
import { BENCH_DIR, measure, type Row, type Sample, table } from "./_measure.ts";
import { trivialBuilds } from "./_trivial_builds.ts";

const RUNS = Number(Deno.env.get("BUILDHOST_BENCH_RUNS") ?? "3");
/** 100 trivial sandboxed builds at max-jobs 1, under `dir`: buildhost's row against Nix's. */
export function sandboxBuildBench(dir: string): Row {
  const work = trivialBuilds(dir, "sandbox-build");
  const ours = work.ours(1);
  const nix = work.nix(1);
  // Alternating runs, so that a machine whose load changes meanwhile weighs
  // on both sides alike.
  const samples: [Sample[], Sample[]] = [[], []];
  for (let i = 0; i < RUNS; i++) {
    work.prepareOurs();
    samples[0].push(measure(ours));
    work.instantiate();
    samples[1].push(measure(nix));
  }
  const median = (s: Sample[]): Sample => {
    const sorted = [...s].sort((a, b) => a.seconds - b.seconds);
    return {
      seconds: sorted[Math.floor(sorted.length / 2)]!.seconds,
      rssMiB: Math.max(...s.map((x) => x.rssMiB)),
    };
  };
  return ["100 trivial sandboxed builds, max-jobs 1", median(samples[0]), median(samples[1])];
}

if (import.meta.main) {
  const root = BENCH_DIR;
  console.log(table([sandboxBuildBench(root)]));
}
