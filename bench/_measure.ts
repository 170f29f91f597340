/**
 * Benchmark helpers: run shell commands under GNU time (elapsed seconds,
 * max RSS), take the median of several runs, print a table of ratios.
 *
 * @module
 */

import { storeLayout } from "../lib/store/store_layout.ts";

const REPO = new URL("..", import.meta.url).pathname;
/**
 * Where the benchmarks cache their workloads (a 1 GiB tree and its NAR,
 * exports, the installed program): `$BUILDHOST_BENCH_DIR`, else
 * `buildhost-bench` in the user's cache directory (`$XDG_CACHE_HOME`, else
 * `~/.cache`), which is kept between runs on purpose.
 */
export const BENCH_DIR = Deno.env.get("BUILDHOST_BENCH_DIR") ??
  `${Deno.env.get("XDG_CACHE_HOME") ?? `${Deno.env.get("HOME") ?? "."}/.cache`}/buildhost-bench`;
let program: string | undefined;

/**
 * The buildhost command the benchmarks run, as a shell word: the program
 * installed as users install it (`deno task install`: one bundled file and
 * its launcher) under the bench directory, once per run, so that each row
 * measures what a build host runs. `BUILDHOST_BENCH_FROM_SOURCE=1` runs
 * main.ts from the checkout instead. It is also put in the environment as
 * `BUILDHOST_PROGRAM`, which the test helpers that serve as remote
 * programs (`tests/_helpers/remote-buildhost`, `buildhost-cli`) run.
 */
export function buildhostProgram(): string {
  if (program !== undefined) return program;
  if (Deno.env.get("BUILDHOST_BENCH_FROM_SOURCE") === "1") {
    program = `${Deno.execPath()} run -A --v8-flags=--max-semi-space-size=1 ${REPO}main.ts`;
  } else {
    const prefix = `${BENCH_DIR}/installed`;
    const out = new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", `${REPO}scripts/install.ts`, "install"],
      env: { PREFIX: prefix },
      stdout: "piped",
      stderr: "piped",
    }).outputSync();
    if (!out.success) {
      throw new Error(`bench: cannot install buildhost:\n${new TextDecoder().decode(out.stderr)}`);
    }
    program = `${prefix}/bin/buildhost`;
  }
  Deno.env.set("BUILDHOST_PROGRAM", program);
  return program;
}

const NIX_CONFIG = "experimental-features = nix-command\nbuild-users-group =\nsubstituters =";
const RUNS = Number(Deno.env.get("BUILDHOST_BENCH_RUNS") ?? "3");

/** One measurement. */
export interface Sample {
  seconds: number;
  rssMiB: number;
}

/** The host paths both sandboxes show in the build benchmarks (the builders run /bin/sh). */
export const SANDBOX = "/bin /lib /lib64 /usr";
/** Nix's settings for the reference side, as a shell assignment. */
export const NIX =
  `NIX_CONFIG="$(printf 'build-users-group =\\nsubstituters =\\nexperimental-features = nix-command\\nextra-sandbox-paths = ${SANDBOX}')"`;

/** Run a shell command; its trimmed stdout (an error with its stderr if it fails). */
export function sh(cmd: string): string {
  const out = new Deno.Command("sh", { args: ["-c", cmd], stdout: "piped", stderr: "piped" })
    .outputSync();
  if (!out.success) throw new Error(`failed: ${cmd}\n${new TextDecoder().decode(out.stderr)}`);
  return new TextDecoder().decode(out.stdout).trim();
}

/**
 * Run a shell command under GNU time; return elapsed seconds and max RSS.
 * Dirty pages are written out first (`sync`), so that the writeback of one
 * run's gigabyte (or of its set-up) does not land on the next, whichever
 * side that is.
 */
export function measure(cmd: string): Sample {
  new Deno.Command("sync").outputSync();
  const out = new Deno.Command("/usr/bin/time", {
    args: ["-f", "BENCH %e %M", "sh", "-c", cmd],
    env: { NIX_CONFIG },
    stdout: "null",
    stderr: "piped",
  }).outputSync();
  const err = new TextDecoder().decode(out.stderr);
  if (!out.success) throw new Error(`failed: ${cmd}\n${err}`);
  const m = err.match(/BENCH ([\d.]+) (\d+)/);
  if (!m) throw new Error(`no timing for ${cmd}: ${err}`);
  return { seconds: Number(m[1]), rssMiB: Number(m[2]) / 1024 };
}

export function best(cmd: string, before?: () => void): Sample {
  const samples: Sample[] = [];
  for (let i = 0; i < RUNS; i++) {
    before?.();
    samples.push(measure(cmd));
  }
  samples.sort((a, b) => a.seconds - b.seconds);
  return {
    seconds: samples[Math.floor(samples.length / 2)]!.seconds,
    rssMiB: Math.max(...samples.map((s) => s.rssMiB)),
  };
}

/**
 * A `buildhost daemon` (the program the benchmarks run) serving a
 * benchmark's store, for the rows where the host runs one: `start` waits
 * until it listens, `stop` ends it (SIGTERM) and keeps its peak RSS, which
 * GNU time cannot see (the daemon is not a child of the measured command).
 */
export class BenchDaemon {
  #pid = 0;
  /** The highest peak RSS of its runs so far, MiB. */
  peakMiB = 0;

  /** @param store The store it serves (its root). */
  constructor(readonly store: string) {}

  /** Where its stderr goes while it runs (shown if it never listens). */
  get #log(): string {
    return `${this.store}.daemon-log`;
  }

  /** Start it (stopping a running one first) and wait until it listens. */
  start(): void {
    this.stop();
    const socket = storeLayout(this.store).daemonSocket;
    this.#pid = Number(sh(
      `${NIX} ${buildhostProgram()} daemon --store ${this.store} ` +
        `</dev/null >/dev/null 2>${this.#log} & echo $!`,
    ));
    const wait = new Int32Array(new SharedArrayBuffer(4));
    for (let waited = 0;; waited += 10) {
      try {
        if (Deno.lstatSync(socket).isSocket) return;
      } catch { /* not yet */ }
      if (waited > 60_000) {
        throw new Error(
          `bench: buildhost daemon on ${this.store} never listened:\n` +
            Deno.readTextFileSync(this.#log),
        );
      }
      Atomics.wait(wait, 0, 0, 10);
    }
  }

  /** Stop it, if running, note its peak RSS, and remove its log. */
  stop(): void {
    if (this.#pid === 0) return;
    const status = Deno.readTextFileSync(`/proc/${this.#pid}/status`);
    const kib = Number(/VmHWM:\s+(\d+) kB/.exec(status)?.[1] ?? 0);
    this.peakMiB = Math.max(this.peakMiB, kib / 1024);
    sh(`kill ${this.#pid}; while kill -0 ${this.#pid} 2>/dev/null; do sleep 0.01; done`);
    this.#pid = 0;
    rm(this.#log);
  }

  /** A sample whose RSS is the larger of the measured tree's and the daemon's peak. */
  withPeak(sample: Sample): Sample {
    return { seconds: sample.seconds, rssMiB: Math.max(sample.rssMiB, this.peakMiB) };
  }
}

export function rm(path: string) {
  new Deno.Command("rm", { args: ["-rf", path] }).outputSync();
}

/** A benchmark line: name, buildhost's sample, the reference's sample. */
export type Row = [string, Sample, Sample];

/** The markdown table of rows with time and RSS ratios. */
export function table(rows: Row[]): string {
  return [
    "| benchmark | buildhost s | reference s | time ratio | buildhost RSS MiB | reference RSS MiB |",
    "|---|---|---|---|---|---|",
    ...rows.map(([name, ours, ref]) =>
      `| ${name} | ${ours.seconds.toFixed(2)} | ${ref.seconds.toFixed(2)} | ${
        (ours.seconds / ref.seconds).toFixed(2)
      }x | ${ours.rssMiB.toFixed(0)} | ${ref.rssMiB.toFixed(0)} |`
    ),
  ].join("\n");
}
