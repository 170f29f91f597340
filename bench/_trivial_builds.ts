/**
 * The sandboxed-build workload two benchmarks share: 100 trivial
 * derivations instantiated by Nix, built by `buildhost build` from an
 * imported copy and by `nix-store --realise`, both with
 * `extra-sandbox-paths = /bin /lib /lib64 /usr`.
 *
 * @module
 */
import { join } from "node:path";
import { buildhostProgram, NIX, rm, SANDBOX, sh } from "./_measure.ts";

/** The workload under `dir`, its stores named after `name`. */
export interface TrivialBuilds {
  /** Fresh stores, the derivations instantiated in Nix's again. */
  instantiate(): void;
  /** Fresh stores and the derivations imported into buildhost's. */
  prepareOurs(): void;
  /** The command that builds them with buildhost at `jobs` at a time. */
  ours(jobs: number): string;
  /** The command that builds them with Nix at `jobs` at a time. */
  nix(jobs: number): string;
}

/**
 * Set the workload up (100 trivial derivations).
 *
 * @param dir The bench directory.
 * @param name Names the stores (`DIR/NAME-nix`, `DIR/NAME-ours`).
 * @returns The workload.
 */
export function trivialBuilds(dir: string, name: string): TrivialBuilds {
  Deno.mkdirSync(dir, { recursive: true });
  const file = join(dir, "trivial.nix");
  Deno.writeTextFileSync(
    file,
    `builtins.listToAttrs (builtins.genList (i: { name = "t\${toString i}"; value = derivation {
       name = "trivial-\${toString i}"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "echo \${toString i} > $out" ]; }; }) 100)`,
  );
  const nixRoot = join(dir, `${name}-nix`);
  const ourRoot = join(dir, `${name}-ours`);
  const instantiate = () => {
    rm(nixRoot);
    rm(ourRoot);
    return sh(`${NIX} nix-instantiate --store ${nixRoot} ${file}`).split("\n").join(" ");
  };
  const drvs = instantiate();
  return {
    instantiate: () => void instantiate(),
    prepareOurs: () => {
      instantiate();
      sh(
        `${NIX} nix-store --store ${nixRoot} --export $(${NIX} nix-store --store ${nixRoot} -qR ${drvs}) | ` +
          `${buildhostProgram()} store import-export --store ${ourRoot} > /dev/null`,
      );
    },
    ours: (jobs) =>
      `${buildhostProgram()} build --store ${ourRoot} --max-jobs ${jobs} ` +
      `--sandbox-paths '${SANDBOX}' ${drvs} > /dev/null 2>&1`,
    nix: (jobs) =>
      `${NIX} nix-store --store ${nixRoot} --realise --max-jobs ${jobs} ${drvs} > /dev/null 2>&1`,
  };
}
