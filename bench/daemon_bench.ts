/**
 * Daemon-protocol (ssh-ng) benchmarks against real Nix, same run: real Nix
 * as the client copies to `buildhost --stdio` and to `nix-daemon --stdio`
 * (1000 small paths; one 1 GiB path, with the serving host's peak RSS) and
 * makes a trivial remote build round trip through each; the small copy and
 * the round trip again with the host's `buildhost daemon` running, which
 * the installed launcher passes each `--stdio` session to (socat).
 * Run alone with `deno run -A bench/daemon_bench.ts`.
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
  sh,
  table,
} from "./_measure.ts";
import { ensureTree } from "./nar_bench.ts";
import { makeExport } from "./store_bench.ts";

const HERE = new URL(".", import.meta.url).pathname;
const HELPERS = new URL("../tests/_helpers/", import.meta.url).pathname;
const BUILDHOST = `${HELPERS}buildhost-cli`;

/** Run the ssh-ng benchmarks under `dir`; returns their rows. */
export async function daemonBench(dir: string): Promise<Row[]> {
  buildhostProgram(); // the helpers run it (BUILDHOST_PROGRAM)
  Deno.mkdirSync(dir, { recursive: true });
  const small = join(dir, "small-1000.export");
  await makeExport(small, 1000, "small");
  ensureTree(join(dir, "tree"));
  const rows: Row[] = [];
  const client = join(dir, "ng-client");
  const remote = join(dir, "ng-remote");
  const url = (prog: string) =>
    `'ssh-ng://localhost?remote-program=${prog}&remote-store=${remote}'`;
  rm(client);
  const paths = sh(`${NIX} nix-store --store ${client} --import < ${small}`).split("\n").join(" ");
  const copy = (prog: string, what: string) =>
    `${NIX} nix copy --no-check-sigs --store ${client} --to ${url(prog)} ${what}`;
  const smallNix = best(copy("nix-daemon", paths), () => rm(remote));
  rows.push([
    "nix copy --to ssh-ng:// of 1000 small paths (client: real Nix)",
    best(copy(BUILDHOST, paths), () => rm(remote)),
    smallNix,
  ]);
  const daemon = new BenchDaemon(remote);
  const smallDaemon = best(
    copy(BUILDHOST, paths),
    () => (daemon.stop(), rm(remote), daemon.start()),
  );
  daemon.stop();
  rows.push([
    "nix copy --to ssh-ng:// of 1000 small paths, host running buildhost daemon (RSS: the daemon's)",
    daemon.withPeak(smallDaemon),
    smallNix,
  ]);

  const big = sh(`${NIX} nix-store --store ${client} --add ${join(dir, "tree")}`);
  /** One copy through the RSS-recording wrapper: the host's peak RSS in MiB. */
  const hostRss = (prog: string) => {
    rm(remote);
    const file = join(dir, "ng-host-rss");
    rm(file);
    sh(`BENCH_REMOTE=${prog} BENCH_RSS_FILE=${file} ` + copy(`${HERE}remote-with-rss`, big));
    return Number(Deno.readTextFileSync(file).trim()) / 1024;
  };
  const bigOurs = best(copy(BUILDHOST, big), () => rm(remote));
  const bigNix = best(copy("nix-daemon", big), () => rm(remote));
  rows.push([
    "nix copy --to ssh-ng:// of one 1 GiB path (RSS columns: the serving host's peak)",
    { seconds: bigOurs.seconds, rssMiB: hostRss(BUILDHOST) },
    { seconds: bigNix.seconds, rssMiB: hostRss("nix-daemon") },
  ]);

  const one = join(dir, "ng-one.nix");
  const remoteBuild = (prog: string) =>
    `${NIX} nix-build --store ${client} --no-out-link ${one} --max-jobs 0 ` +
    `--builders "ssh-ng://localhost?remote-program=${prog}&remote-store=${remote} x86_64-linux" ` +
    `--option builders-use-substitutes false > /dev/null 2>&1`;
  const fresh = () => {
    rm(remote);
    Deno.writeTextFileSync(
      one,
      `derivation { name = "ng-round-trip"; system = "x86_64-linux"; builder = "/bin/sh"; args = [ "-c" "echo ${crypto.randomUUID()} > $out" ]; }`,
    );
  };
  const tripNix = best(remoteBuild("nix-daemon"), fresh);
  rows.push([
    "trivial remote build round trip over ssh-ng (nix-build --builders)",
    best(remoteBuild(BUILDHOST), fresh),
    tripNix,
  ]);
  const tripDaemon = new BenchDaemon(remote);
  const tripOurs = best(
    remoteBuild(BUILDHOST),
    () => (tripDaemon.stop(), fresh(), tripDaemon.start()),
  );
  tripDaemon.stop();
  rows.push([
    "trivial remote build round trip over ssh-ng, host running buildhost daemon (RSS: the daemon's)",
    tripDaemon.withPeak(tripOurs),
    tripNix,
  ]);
  rm(remote);
  rm(client);
  return rows;
}

if (import.meta.main) {
  const dir = BENCH_DIR;
  console.log(table(await daemonBench(dir)));
}
