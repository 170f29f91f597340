/**
 * Serve-host and build benchmarks against real Nix, same run: real Nix as the
 * client copies to buildhost's `--serve --write` and to `nix-store --serve
 * --write` (1000 small paths; one 1 GiB path), builds 100 trivial
 * derivations locally (buildhost build vs nix-store --realise, sandboxed,
 * max-jobs 1 and 2), one build with a 1 GiB output, and a trivial remote
 * build round trip; the small copy and the round trip again with the host
 * running `buildhost daemon`, which the installed launcher passes each
 * session to (the serve relay).
 * Run alone with `deno run -A bench/serve_bench.ts`.
 *
 * @module
 */
import { join } from "node:path";
import {
  BENCH_DIR,
  BenchDaemon,
  best,
  buildhostProgram,
  NIX,
  rm,
  type Row,
  SANDBOX,
  sh,
  table,
} from "./_measure.ts";
import { ensureTree } from "./nar_bench.ts";
import { makeExport } from "./store_bench.ts";
import { trivialBuilds } from "./_trivial_builds.ts";

const HERE = new URL(".", import.meta.url).pathname;
const HELPERS = new URL("../tests/_helpers/", import.meta.url).pathname;
/** Run the serve and build benchmarks under `dir`; returns their rows. */
export async function serveBench(dir: string): Promise<Row[]> {
  Deno.mkdirSync(dir, { recursive: true });
  await makeExport(join(dir, "small-1000.export"), 1000, "small");
  ensureTree(join(dir, "tree"));
  const rows: Row[] = [];
  const env = `PATH=${HELPERS}bin:$PATH ${NIX}`;
  const client = join(dir, "serve-client");
  const remote = join(dir, "serve-remote");
  const url = (prog: string) => `'ssh://remotehost?remote-program=${prog}'`;
  const ours = url(`${HELPERS}remote-buildhost`);
  const theirs = url(`${HERE}remote-nix-store`);
  rm(client);
  const small = join(dir, "small-1000.export");
  const paths = sh(`${NIX} nix-store --store ${client} --import < ${small}`).split("\n").join(" ");
  const copy = (target: string, what: string) =>
    `${env} BUILDHOST_TEST_REMOTE_STORE=${remote} nix copy --store ${client} --to ${target} ${what}`;
  const smallNix = best(copy(theirs, paths), () => rm(remote));
  rows.push([
    "nix copy --to of 1000 small paths (client: real Nix)",
    best(copy(ours, paths), () => rm(remote)),
    smallNix,
  ]);
  const daemon = new BenchDaemon(remote);
  const smallDaemon = best(copy(ours, paths), () => (daemon.stop(), rm(remote), daemon.start()));
  daemon.stop();
  rows.push([
    "nix copy --to of 1000 small paths, host running buildhost daemon (RSS: the daemon's)",
    daemon.withPeak(smallDaemon),
    smallNix,
  ]);
  const big = sh(`${NIX} nix-store --store ${client} --add ${join(dir, "tree")}`);
  /** One copy through the RSS-recording wrapper: the host's peak RSS in MiB. */
  const hostRss = (prog: string) => {
    rm(remote);
    const file = join(dir, "host-rss");
    rm(file);
    sh(
      `BENCH_REMOTE=${prog} BENCH_RSS_FILE=${file} ` +
        copy(url(`${HERE}remote-with-rss`), big),
    );
    return Number(Deno.readTextFileSync(file).trim()) / 1024;
  };
  const bigOurs = best(copy(ours, big), () => rm(remote));
  const bigNix = best(copy(theirs, big), () => rm(remote));
  rows.push([
    "nix copy --to of one 1 GiB path (RSS columns: the serving host's peak)",
    { seconds: bigOurs.seconds, rssMiB: hostRss(`${HELPERS}remote-buildhost`) },
    { seconds: bigNix.seconds, rssMiB: hostRss(`${HERE}remote-nix-store`) },
  ]);

  // builds: 100 trivial derivations
  const work = trivialBuilds(dir, "build");
  for (const jobs of [1, 2]) {
    rows.push([
      `100 trivial sandboxed builds, max-jobs ${jobs}`,
      best(work.ours(jobs), work.prepareOurs),
      best(work.nix(jobs), work.instantiate),
    ]);
  }

  // one build with a 1 GiB output: what differs is registering it (NAR hash,
  // reference scanning, canonicalisation); dd costs both the same
  const nixRoot = join(dir, "build-nix");
  const ourRoot = join(dir, "build-ours");
  const bigFile = join(dir, "big-output.nix");
  Deno.writeTextFileSync(
    bigFile,
    `derivation { name = "big-output"; system = "x86_64-linux"; builder = "/bin/sh";
       args = [ "-c" "PATH=/bin:/usr/bin; mkdir $out; dd if=/dev/zero of=$out/zeros bs=1M count=1024 2>/dev/null; echo $out > $out/self" ]; }`,
  );
  let bigDrv = "";
  const prepareBig = (ours: boolean) => {
    rm(nixRoot);
    rm(ourRoot);
    bigDrv = sh(`${NIX} nix-instantiate --store ${nixRoot} ${bigFile}`);
    if (ours) {
      sh(
        `${NIX} nix-store --store ${nixRoot} --export $(${NIX} nix-store --store ${nixRoot} -qR ${bigDrv}) | ` +
          `${buildhostProgram()} store import-export --store ${ourRoot} > /dev/null`,
      );
    }
  };
  prepareBig(false);
  rows.push([
    "one build with a 1 GiB output (dd, then registration)",
    best(
      `${buildhostProgram()} build --store ${ourRoot} --sandbox-paths '${SANDBOX}' ${bigDrv} > /dev/null 2>&1`,
      () => prepareBig(true),
    ),
    best(
      `${NIX} nix-store --store ${nixRoot} --realise ${bigDrv} > /dev/null 2>&1`,
      () => prepareBig(false),
    ),
  ]);

  rows.push(...serveRoundTrip(dir));
  rm(remote);
  rm(client);
  rm(nixRoot);
  rm(ourRoot);
  return rows;
}

/**
 * A trivial remote build round trip (nix-build --builders ssh://), buildhost
 * vs nix-store as the remote program, and again with the host running
 * `buildhost daemon`: their rows (also the `roundtrip` group).
 */
export function serveRoundTrip(dir: string): Row[] {
  const env = `PATH=${HELPERS}bin:$PATH ${NIX}`;
  const client = join(dir, "serve-client");
  const remote = join(dir, "serve-remote");
  const one = join(dir, "one.nix");
  const remoteBuild = (prog: string) =>
    `${env} BUILDHOST_TEST_REMOTE_STORE=${remote} nix-build --store ${client} --no-out-link ${one} ` +
    `--max-jobs 0 --builders "ssh://remotehost?remote-program=${prog} x86_64-linux" ` +
    `--option builders-use-substitutes false > /dev/null 2>&1`;
  const fresh = () => {
    rm(remote);
    Deno.writeTextFileSync(
      one,
      `derivation { name = "round-trip"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${crypto.randomUUID()} > $out" ]; }`,
    );
  };
  const nix = best(remoteBuild(`${HERE}remote-nix-store`), fresh);
  const rows: Row[] = [[
    "trivial remote build round trip (nix-build --builders)",
    best(remoteBuild(`${HELPERS}remote-buildhost`), fresh),
    nix,
  ]];
  const daemon = new BenchDaemon(remote);
  const ours = best(
    remoteBuild(`${HELPERS}remote-buildhost`),
    () => (daemon.stop(), fresh(), daemon.start()),
  );
  daemon.stop();
  rows.push([
    "trivial remote build round trip, host running buildhost daemon (RSS: the daemon's)",
    daemon.withPeak(ours),
    nix,
  ]);
  rm(remote);
  return rows;
}

if (import.meta.main) {
  const dir = BENCH_DIR;
  console.log(table(await serveBench(dir)));
}
