/**
 * What `buildhost build` shows while it works: log lines as they come and,
 * on a terminal, one status line kept at the bottom and redrawn in place
 * (built/running/queued, builds per machine, bytes copied), e.g.
 *
 * ```
 * [hello@b1] checking for gcc... gcc
 * [3/7 built, 2 running, 2 queued] b1: 1, b2: 1 | 12.4 MiB copied
 * ```
 *
 * When stderr is not a terminal, only the lines are written, plainly.
 *
 * @module
 */

/** Counts shown in the status line. */
export interface BuildStatusCounts {
  /** Derivations in the graph. */
  total: number;
  /** Derivations done (built, valid already, or failed). */
  done: number;
  /** Builds running, per machine name. */
  running: Map<string, number>;
  /** NAR bytes copied to and from machines. */
  bytes: number;
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = bytes / 1024, i = 0;
  while (v >= 1024 && i < units.length - 1) v /= 1024, i++;
  return `${v.toFixed(1)} ${units[i]}`;
}

/**
 * The status line's text.
 *
 * @param c The counts.
 * @returns One line, without a newline.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { statusLine } from "./build_status.ts";
 * assert.equal(
 *   statusLine({ total: 7, done: 3, running: new Map([["b1", 1], ["b2", 1]]), bytes: 13002342 }),
 *   "[3/7 built, 2 running, 2 queued] b1: 1, b2: 1 | 12.4 MiB copied",
 * );
 * ```
 */
export function statusLine(c: BuildStatusCounts): string {
  const running = [...c.running.values()].reduce((a, b) => a + b, 0);
  const queued = Math.max(0, c.total - c.done - running);
  const machines = [...c.running].filter(([, n]) => n > 0).map(([m, n]) => `${m}: ${n}`);
  return `[${c.done}/${c.total} built, ${running} running, ${queued} queued]` +
    (machines.length > 0 ? ` ${machines.join(", ")}` : "") +
    ` | ${size(c.bytes)} copied`;
}

/** Writes lines to stderr, with the status line at the bottom on a terminal. */
export class BuildConsole {
  readonly counts: BuildStatusCounts = { total: 0, done: 0, running: new Map(), bytes: 0 };
  #encoder = new TextEncoder();
  #shown = false;

  /**
   * @param write Where text goes (default: stderr).
   * @param tty Whether to keep a status line (default: stderr is a terminal).
   */
  constructor(
    readonly write: (text: string) => void = (t) =>
      void Deno.stderr.writeSync(this.#encoder.encode(t)),
    readonly tty: boolean = Deno.stderr.isTerminal(),
  ) {}

  /**
   * Write one line (above the status line).
   *
   * @param text The line, without a newline.
   */
  line(text: string): void {
    this.write((this.tty && this.#shown ? "\r\x1b[K" : "") + text + "\n");
    this.#shown = false;
    this.redraw();
  }

  /** Redraw the status line (on a terminal). */
  redraw(): void {
    if (!this.tty) return;
    this.write("\r\x1b[K" + statusLine(this.counts));
    this.#shown = true;
  }

  /**
   * A build started or ended on a machine.
   *
   * @param machine Its name.
   * @param delta +1 or -1.
   */
  running(machine: string, delta: number): void {
    this.counts.running.set(machine, (this.counts.running.get(machine) ?? 0) + delta);
    this.redraw();
  }

  /** Remove the status line (at the end). */
  clear(): void {
    if (this.tty && this.#shown) this.write("\r\x1b[K");
    this.#shown = false;
  }
}
