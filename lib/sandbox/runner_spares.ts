/**
 * Sandbox runners started ahead of need. A runner is a Perl process (see
 * `sandbox_runner_program.ts`) whose first act is to read its settings
 * from stdin: started before the build it is for, it has loaded and
 * compiled its program by the time the build wants it, and the build's
 * start skips those milliseconds (most of a trivial build's own set-up
 * time on a slow machine). A process that builds many derivations (`buildhost
 * build`, a serve or daemon host) keeps one such spare per Perl program:
 * each build takes it and starts the next one.
 *
 * An idle spare holds nothing of a build and never keeps the process from
 * ending: when the process ends, however it ends, the spare's stdin closes,
 * it reads no settings and exits without doing anything (it arms its
 * parent-death signal only once it has its settings).
 *
 * @module
 */

import { runnerCommand } from "./sandbox_command.ts";

/** Spawns a runner of the Perl program at `perl`, its stdin and stderr piped. */
export type RunnerSpawner = (perl: string) => Deno.Command;

/** An idle runner, and whether it has ended meanwhile (then it is not handed out). */
interface Spare {
  child: Deno.ChildProcess;
  ended: boolean;
}

/**
 * One waiting runner per Perl program.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RunnerSpares } from "./runner_spares.ts";
 * const spares = new RunnerSpares((perl) =>
 *   new Deno.Command(perl, { args: ["-e", "print <STDIN>"], stdin: "piped", stdout: "piped" })
 * );
 * spares.prepare("/usr/bin/perl");
 * const child = spares.take("/usr/bin/perl");
 * const w = child.stdin.getWriter();
 * await w.write(new TextEncoder().encode("hi"));
 * await w.close();
 * assert.equal(new TextDecoder().decode((await child.output()).stdout), "hi");
 * await spares.close();
 * ```
 */
export class RunnerSpares {
  readonly #idle = new Map<string, Spare>();

  /** @param spawner The runner's command for a Perl program. */
  constructor(private readonly spawner: RunnerSpawner) {}

  /**
   * A runner for `perl`: the waiting spare when there is one and it still
   * runs, else one started now. It is the caller's, as a spawned child is.
   *
   * @param perl The Perl program.
   * @returns The runner.
   * @throws What spawning throws (the program cannot be run).
   */
  take(perl: string): Deno.ChildProcess {
    const spare = this.#idle.get(perl);
    this.#idle.delete(perl);
    if (spare && !spare.ended) {
      spare.child.ref();
      return spare.child;
    }
    if (spare) {
      void spare.child.stdin.close().catch(() => {});
      void spare.child.stderr.cancel().catch(() => {});
    }
    return this.spawner(perl).spawn();
  }

  /**
   * Start a spare for `perl` unless one waits; one that cannot be started
   * is not (the next build's start says why).
   *
   * @param perl The Perl program.
   */
  prepare(perl: string): void {
    if (this.#idle.has(perl)) return;
    let child: Deno.ChildProcess;
    try {
      child = this.spawner(perl).spawn();
    } catch {
      return;
    }
    child.unref(); // an idle spare never keeps the process alive
    const spare: Spare = { child, ended: false };
    void child.status.then(() => (spare.ended = true));
    this.#idle.set(perl, spare);
  }

  /**
   * End the waiting spares: their stdin closes, they read no settings and exit.
   *
   * @returns When they have.
   */
  async close(): Promise<void> {
    const ending = [...this.#idle.values()].map(async ({ child }) => {
      child.ref(); // waited for now
      await child.stdin.close().catch(() => {});
      await child.stderr.cancel().catch(() => {});
      await child.status;
    });
    this.#idle.clear();
    await Promise.all(ending);
  }
}

let processSpares: RunnerSpares | undefined;

/**
 * The spares of this process, for the commands that build and end the
 * process when done (`buildhost build`, the serve and daemon hosts).
 *
 * @returns The one {@linkcode RunnerSpares} of sandbox runners.
 */
export function processRunnerSpares(): RunnerSpares {
  return processSpares ??= new RunnerSpares(runnerCommand);
}
