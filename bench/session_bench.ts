/**
 * Per-session cost against real Nix, same run: sessions that only shake
 * hands (ten in a row; buildhost `--serve --write` vs `nix-store --serve
 * --write`, buildhost `--stdio` vs `nix-daemon --stdio`), and 16 clients
 * (real Nix) copying to one host at once over `ssh://localhost`, buildhost
 * vs `nix-store` as the remote program; each again with the host running
 * `buildhost daemon` (the installed launcher passes each session to it),
 * and 16 clients over `ssh-ng://` to the daemon vs `nix-daemon --stdio`.
 * Run alone with `deno run -A bench/session_bench.ts`.
 *
 * @module
 */
import { join } from "node:path";
import {
  BENCH_DIR,
  BenchDaemon,
  best,
  buildhostProgram,
  rm,
  type Row,
  sh,
  table,
} from "./_measure.ts";
import { makeExport } from "./store_bench.ts";

const HERE = new URL(".", import.meta.url).pathname;
const HELPERS = new URL("../tests/_helpers/", import.meta.url).pathname;
const NIX =
  `NIX_CONFIG="$(printf 'build-users-group =\\nsubstituters =\\nexperimental-features = nix-command')"`;
const SESSIONS = 10;
const CLIENTS = 16;

/** Little-endian u64s, as the wire carries them. */
function u64s(...values: number[]): Uint8Array {
  const out = new Uint8Array(8 * values.length);
  const view = new DataView(out.buffer);
  values.forEach((v, i) => view.setBigUint64(8 * i, BigInt(v), true));
  return out;
}

/** Run the per-session benchmarks under `dir`; returns their rows. */
export async function sessionBench(dir: string): Promise<Row[]> {
  buildhostProgram(); // the helpers run it (BUILDHOST_PROGRAM)
  Deno.mkdirSync(dir, { recursive: true });
  const rows: Row[] = [];
  const remote = join(dir, "session-remote");
  rm(remote);
  Deno.mkdirSync(remote);
  // What a client sends to shake hands, then it hangs up: the serve
  // protocol's magic and version 2.6; the worker protocol's magic, version
  // 1.34 (Nix 2.8's), no CPU affinity, no reserved space.
  const serveHello = join(dir, "serve-hello.bin");
  Deno.writeFileSync(serveHello, u64s(0x390c9deb, 0x206));
  const daemonHello = join(dir, "daemon-hello.bin");
  Deno.writeFileSync(daemonHello, u64s(0x6e697863, 0x122, 0, 0));
  const times = (cmd: string, hello: string) =>
    `${NIX} BUILDHOST_TEST_REMOTE_STORE=${remote}; export NIX_CONFIG BUILDHOST_TEST_REMOTE_STORE; ` +
    `for i in $(seq ${SESSIONS}); do ${cmd} < ${hello} > /dev/null || exit 1; done`;
  const serveNix = best(times(`${HERE}remote-nix-store --serve --write`, serveHello));
  rows.push([
    `serve session that only shakes hands (${SESSIONS} in a row) vs nix-store --serve --write`,
    best(times(`${HELPERS}remote-buildhost --serve --write`, serveHello)),
    serveNix,
  ]);
  const serveDaemon = new BenchDaemon(remote);
  serveDaemon.start();
  const serveOurs = best(times(`${HELPERS}remote-buildhost --serve --write`, serveHello));
  serveDaemon.stop();
  rows.push([
    `serve session that only shakes hands (${SESSIONS} in a row), host running buildhost daemon (RSS: the daemon's)`,
    serveDaemon.withPeak(serveOurs),
    serveNix,
  ]);
  const handshakeNix = best(times(`nix-daemon --stdio --store ${remote}`, daemonHello));
  rows.push([
    `daemon session that only shakes hands (${SESSIONS} in a row) vs nix-daemon --stdio`,
    best(times(`${HELPERS}buildhost-cli --stdio --store ${remote}`, daemonHello)),
    handshakeNix,
  ]);
  const daemon = new BenchDaemon(remote);
  daemon.start();
  const handshakeDaemon = best(
    times(`${HELPERS}buildhost-cli --stdio --store ${remote}`, daemonHello),
  );
  daemon.stop();
  rows.push([
    `daemon session that only shakes hands (${SESSIONS} in a row), host running buildhost daemon (RSS: the daemon's)`,
    daemon.withPeak(handshakeDaemon),
    handshakeNix,
  ]);

  // 16 clients at once, each copying the closure of its own slice of the
  // 1000 small paths (the closures overlap: they share earlier paths)
  const small = join(dir, "small-1000.export");
  await makeExport(small, 1000, "small");
  const client = join(dir, "session-client");
  rm(client);
  const paths = sh(`${NIX} nix-store --store ${client} --import < ${small}`).split("\n");
  const slice = Math.ceil(paths.length / CLIENTS);
  const all = (prog: string) =>
    `export ${NIX} BUILDHOST_TEST_REMOTE_STORE=${remote}; ` +
    Array.from(
      { length: CLIENTS },
      (_, i) =>
        `nix copy --store ${client} --to 'ssh://localhost?remote-program=${prog}' ` +
        `${paths.slice(i * slice, (i + 1) * slice).join(" ")} & p${i}=$!;`,
    ).join(" ") +
    ` s=0; for p in ${Array.from({ length: CLIENTS }, (_, i) => `$p${i}`).join(" ")}; do ` +
    `wait $p || s=1; done; exit $s`;
  // An initialised empty store: 16 nix-store processes creating one at once
  // race on its schema file (Nix 2.8 then says the schema "is corrupt").
  const fresh = () => {
    rm(remote);
    sh(`${NIX} nix-store --store ${remote} --init`);
  };
  const allNix = best(all(`${HERE}remote-nix-store`), fresh);
  rows.push([
    `${CLIENTS} clients copying to one host at once (nix copy --to ssh://, ${slice} paths each)`,
    best(all(`${HELPERS}remote-buildhost`), fresh),
    allNix,
  ]);
  rows.push([
    `${CLIENTS} clients copying to one host at once (nix copy --to ssh://, ${slice} paths each), host running buildhost daemon (RSS: the daemon's)`,
    daemon.withPeak(
      best(all(`${HELPERS}remote-buildhost`), () => (daemon.stop(), fresh(), daemon.start())),
    ),
    allNix,
  ]);
  daemon.stop();
  // Over ssh-ng the clients copy paths without references, 63 each, none
  // shared: Nix 2.8's nix-daemon loses its place in the stream when another
  // session makes valid a path it is being sent (`not an absolute path:
  // 'nix-archive-1'`), as the overlapping closures above do.
  const loose = join(dir, "loose-1000.export");
  await makeExport(loose, 1000, "loose", false);
  const loosePaths = sh(`${NIX} nix-store --store ${client} --import < ${loose}`).split("\n");
  const ng = (prog: string) =>
    `export ${NIX}; ` +
    Array.from({ length: CLIENTS }, (_, i) =>
      `nix copy --no-check-sigs --store ${client} ` +
      `--to 'ssh-ng://localhost?remote-program=${prog}&remote-store=${remote}' ` +
      `${loosePaths.slice(i * slice, (i + 1) * slice).join(" ")} & p${i}=$!;`).join(" ") +
    ` s=0; for p in ${
      Array.from({ length: CLIENTS }, (_, i) => `$p${i}`).join(" ")
    }; do wait $p || s=1; done; exit $s`;
  rows.push([
    `${CLIENTS} clients copying to one host at once over ssh-ng (${slice} paths each, no references), host running buildhost daemon (RSS: the daemon's) vs nix-daemon --stdio`,
    daemon.withPeak(
      best(ng(`${HELPERS}buildhost-cli`), () => (daemon.stop(), fresh(), daemon.start())),
    ),
    best(ng("nix-daemon"), fresh),
  ]);
  daemon.stop();
  rm(remote);
  rm(client);
  return rows;
}

if (import.meta.main) {
  const dir = BENCH_DIR;
  console.log(table(await sessionBench(dir)));
}
