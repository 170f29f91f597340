/**
 * How Nix words a builder killed by a signal: `failed due to signal N
 * (DESCRIPTION)`, the description being glibc's `strsignal` text.
 *
 * @module
 */

/** glibc's `strsignal` for Linux's standard signals. */
const DESCRIPTIONS: Record<number, string> = {
  1: "Hangup",
  2: "Interrupt",
  3: "Quit",
  4: "Illegal instruction",
  5: "Trace/breakpoint trap",
  6: "Aborted",
  7: "Bus error",
  8: "Floating point exception",
  9: "Killed",
  10: "User defined signal 1",
  11: "Segmentation fault",
  12: "User defined signal 2",
  13: "Broken pipe",
  14: "Alarm clock",
  15: "Terminated",
  16: "Stack fault",
  17: "Child exited",
  18: "Continued",
  19: "Stopped (signal)",
  20: "Stopped",
  21: "Stopped (tty input)",
  22: "Stopped (tty output)",
  23: "Urgent I/O condition",
  24: "CPU time limit exceeded",
  25: "File size limit exceeded",
  26: "Virtual timer expired",
  27: "Profiling timer expired",
  28: "Window changed",
  29: "I/O possible",
  30: "Power failure",
  31: "Bad system call",
};

/** Linux's signal numbers by name (x86_64 and aarch64 share them), as Deno names signals. */
const SIGNAL_NUMBERS: Record<string, number> = {
  SIGHUP: 1,
  SIGINT: 2,
  SIGQUIT: 3,
  SIGILL: 4,
  SIGTRAP: 5,
  SIGABRT: 6,
  SIGIOT: 6,
  SIGBUS: 7,
  SIGFPE: 8,
  SIGKILL: 9,
  SIGUSR1: 10,
  SIGSEGV: 11,
  SIGUSR2: 12,
  SIGPIPE: 13,
  SIGALRM: 14,
  SIGTERM: 15,
  SIGSTKFLT: 16,
  SIGCHLD: 17,
  SIGCONT: 18,
  SIGSTOP: 19,
  SIGTSTP: 20,
  SIGTTIN: 21,
  SIGTTOU: 22,
  SIGURG: 23,
  SIGXCPU: 24,
  SIGXFSZ: 25,
  SIGVTALRM: 26,
  SIGPROF: 27,
  SIGWINCH: 28,
  SIGIO: 29,
  SIGPOLL: 29,
  SIGPWR: 30,
  SIGSYS: 31,
};

/**
 * The number of a signal given by name (`"SIGKILL"`) or number.
 *
 * @param signal A name as Deno reports it, or a number.
 * @returns Its number on this system.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalNumber } from "./signal_text.ts";
 * assert.equal(signalNumber("SIGKILL"), 9);
 * assert.equal(signalNumber(15), 15);
 * ```
 */
export function signalNumber(signal: string | number): number {
  if (typeof signal === "number") return signal;
  return SIGNAL_NUMBERS[signal] ?? 0;
}

/**
 * Nix's text for a builder that a signal ended.
 *
 * @param signal The signal, by name or number.
 * @returns `failed due to signal N (DESCRIPTION)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { signalFailure } from "./signal_text.ts";
 * assert.equal(signalFailure("SIGKILL"), "failed due to signal 9 (Killed)");
 * assert.equal(signalFailure(64), "failed due to signal 64 (Real-time signal 30)");
 * ```
 */
export function signalFailure(signal: string | number): string {
  const n = signalNumber(signal);
  const text = DESCRIPTIONS[n] ??
    (n >= 34 && n <= 64 ? `Real-time signal ${n - 34}` : `Unknown signal ${n}`);
  return `failed due to signal ${n} (${text})`;
}
