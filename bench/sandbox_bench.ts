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
import { join } from "node:path";
import { buildhostProgram, measure, rm, type Row, type Sample, table } from "./_measure.ts";

const RUNS = Number(Deno.env.get("BUILDHOST_BENCH_RUNS") ?? "3");
const SANDBOX = "/bin /lib /lib64 /usr";
const NIX =
  `NIX_CONFIG="$(printf 'build-users-group =\\nsubstituters =\\nexperimental-features = nix-command\\nextra-sandbox-paths = ${SANDBOX}')"`;

function sh(cmd: string): string {
  const out = new Deno.Command("sh", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`failed: ${cmd}\n${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/** 100 trivial sandboxed builds at max-jobs 1, under `dir`: buildhost's row against Nix's. */
export function sandboxBuildBench(dir: string): Row {
  Deno.mkdirSync(dir, { recursive: true });
  const file = join(dir, "trivial.nix");
  Deno.writeTextFileSync(
    file,
    `builtins.listToAttrs (builtins.genList (i: { name = "t\${toString i}"; value = derivation {
       name = "trivial-\${toString i}"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo \${toString i} > $out" ]; }; }) 100)`,
  );
  const nixRoot = join(dir, "sandbox-build-nix");
  const ourRoot = join(dir, "sandbox-build-ours");
  const instantiate = () => {
    rm(nixRoot);
    rm(ourRoot);
    return sh(`${NIX} nix-instantiate --store ${nixRoot} ${file}`).split("\n");
  };
  const drvs = instantiate().join(" ");
  const prepareOurs = () => {
    instantiate();
    sh(
      `${NIX} nix-store --store ${nixRoot} --export $(${NIX} nix-store --store ${nixRoot} -qR ${drvs}) | ` +
        `${buildhostProgram()} store import-export --store ${ourRoot} > /dev/null`,
    );
  };
  const ours = `${buildhostProgram()} build --store ${ourRoot} --max-jobs 1 ` +
    `--sandbox-paths '${SANDBOX}' ${drvs} > /dev/null 2>&1`;
  const nix = `${NIX} nix-store --store ${nixRoot} --realise --max-jobs 1 ${drvs} > /dev/null 2>&1`;
  // Alternating runs, so that a machine whose load changes meanwhile weighs
  // on both sides alike.
  const samples: [Sample[], Sample[]] = [[], []];
  for (let i = 0; i < RUNS; i++) {
    prepareOurs();
    samples[0].push(measure(ours));
    instantiate();
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
  const root = Deno.env.get("BUILDHOST_BENCH_DIR") ?? "/tmp/buildhost-bench";
  console.log(table([sandboxBuildBench(root)]));
}
