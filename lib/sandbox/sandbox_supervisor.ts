/**
 * Supervision of a running sandbox: read the log from the pty into the
 * caller's sink, follow the set-up's progress lines on the runner's stderr
 * (`buildhost-sandbox: pid N`, `ready`, `failed: …`), enforce the limits
 * (`timeoutMs`, `maxSilentMs`, `maxLogBytes`, the abort signal) by killing
 * the build, and once the runner has exited tell how the builder ended
 * (the runner's `exit N` or `signal N`).
 *
 * Killing: the builder (pid 1 of its pid namespace, taking every process of
 * the build with it) and the sandbox's init (pid 1 of the outer pid
 * namespace, so that when the runner exits nothing of the build is left).
 *
 * @module
 */
import { childrenOf } from "./process_tree.ts";
import type { Pty } from "./pty.ts";
import { SandboxError } from "./sandbox_error.ts";
import type { SandboxEndReason, SandboxOptions, SandboxResult } from "./sandbox_options.ts";

const PROTOCOL = "buildhost-sandbox: ";
/** How long to keep reading the log and stderr after the runner exited. */
const EXIT_GRACE_MS = 2000;
/** How long the runner may take to exit once its init was killed. */
const KILL_GRACE_MS = 10_000;

/** A process's state letter and start time (clock ticks after boot), if it exists. */
function processStat(pid: number): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = Deno.readTextFileSync(`/proc/${pid}/stat`);
  } catch {
    return undefined;
  }
  // After the command name in parentheses: state is field 3, starttime field 22.
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  const state = fields[0];
  const start = fields[19];
  return state && start ? { state, start } : undefined;
}

/**
 * Supervise a started sandbox until the runner has exited and its stderr
 * ended (or a grace period passed).
 *
 * @param o The run's options (limits, signal, log sink).
 * @param child The runner ({@linkcode runnerCommand}), its settings written.
 * @param pty The log pty.
 * @param startTime When the command was spawned (ms since the epoch).
 * @returns How the run ended, outputs not yet moved.
 * @throws {SandboxError} The builder never started (set-up failed).
 */
export async function superviseSandbox(
  o: SandboxOptions,
  child: Deno.ChildProcess,
  pty: Pty,
  startTime: number,
): Promise<Omit<SandboxResult, "outputs">> {
  let builderPid: number | undefined;
  let ready = false;
  const failures: string[] = [];
  let diagnostics = "";
  let reason: SandboxEndReason = "exited";
  let killed = false;

  /** How the builder ended, as the runner says (`exit N`, `signal N`). */
  let builderEnd: { exitCode: number | null; signal: number | null } = {
    exitCode: null,
    signal: null,
  };
  /**
   * The sandbox's init (pid 1 of its outer pid namespace), from the
   * runner's `init N`, with its start time, read then, while it certainly
   * runs (so that a later process given the same pid is not taken for it).
   */
  let init: { pid: number; start: string } | undefined;
  /** Whether the init is still there (it is a zombie once its namespace is empty). */
  const initAlive = () => {
    const known = init;
    if (!known) return false;
    const st = processStat(known.pid);
    return st !== undefined && st.state !== "Z" && st.start === known.start;
  };
  /** Once the runner has exited, wait (boundedly) for its init to be gone too. */
  const initGone = async () => {
    const deadline = Date.now() + KILL_GRACE_MS;
    while (initAlive() && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
  };

  const kill = (why: SandboxEndReason) => {
    if (killed) return;
    killed = true;
    reason = why;
    if (builderPid !== undefined) {
      try {
        Deno.kill(builderPid, "SIGKILL");
      } catch {
        // gone already
      }
    }
    // The init rather than the runner: its death has the kernel kill
    // everything left in the namespace, and the runner exits once that is
    // done. Killing the runner would end it at once, its
    // namespace still being emptied, or, were it starting its init that
    // very moment, leave the init to run on before it armed its
    // parent-death signal. So until the init exists, look again.
    let exited = false;
    let again: ReturnType<typeof setTimeout> | undefined;
    const killInit = () => {
      if (exited) return;
      const pids = new Set(childrenOf(child.pid));
      if (initAlive()) pids.add(init!.pid);
      for (const pid of pids) {
        try {
          Deno.kill(pid, "SIGKILL");
        } catch {
          // gone already
        }
      }
      if (pids.size === 0) again = setTimeout(killInit, 5);
    };
    killInit();
    // Should the runner not exit for a long while all the same, kill it.
    const timer = setTimeout(() => {
      try {
        child.kill("SIGKILL");
      } catch {
        // gone already
      }
    }, KILL_GRACE_MS);
    child.status.finally(() => {
      exited = true;
      clearTimeout(timer);
      clearTimeout(again);
    });
  };
  const onAbort = () => kill("cancelled");
  o.signal?.addEventListener("abort", onAbort);
  if (o.signal?.aborted) kill("cancelled");

  let lastOutput = startTime;
  const stderr = child.stderr.pipeThrough(new TextDecoderStream()).getReader();
  const stderrDone = (async () => {
    let pending = "";
    for (;;) {
      const { value: chunk, done } = await stderr.read();
      if (done) break;
      pending += chunk;
      let nl: number;
      while ((nl = pending.indexOf("\n")) >= 0) {
        const line = pending.slice(0, nl);
        pending = pending.slice(nl + 1);
        if (line.startsWith(PROTOCOL + "init ")) {
          const pid = Number(line.slice(PROTOCOL.length + 5));
          const st = processStat(pid);
          if (st) init = { pid, start: st.start };
          if (killed) kill(reason);
        } else if (line.startsWith(PROTOCOL + "exit ")) {
          builderEnd = { exitCode: Number(line.slice(PROTOCOL.length + 5)), signal: null };
        } else if (line.startsWith(PROTOCOL + "signal ")) {
          builderEnd = { exitCode: null, signal: Number(line.slice(PROTOCOL.length + 7)) };
        } else if (line.startsWith(PROTOCOL + "pid ")) {
          builderPid = Number(line.slice(PROTOCOL.length + 4));
          pty.closeSlave();
          if (killed) kill(reason);
        } else if (line === PROTOCOL + "ready") {
          ready = true;
          lastOutput = Date.now(); // silence is the builder's, not the set-up's
        } else if (line.startsWith(PROTOCOL + "failed")) {
          failures.push(line.slice(PROTOCOL.length));
        } else if (diagnostics.length < 65536) {
          diagnostics += line + "\n";
        }
      }
      if (pending.length > 65536) pending = pending.slice(-65536); // a line without end
    }
    if (pending && diagnostics.length < 65536) diagnostics += pending;
  })();
  /**
   * Wait for the end of stderr, but once the runner is gone no longer than
   * a grace period: nothing of the build is left then (its pid namespace
   * died with it), so the pipe is closed already, and should a process
   * outside it ever hold the pipe, the build still ends.
   */
  const stderrEnded = async () => {
    let timer: ReturnType<typeof setTimeout> | undefined;
    const grace = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        stderr.cancel().catch(() => {});
        resolve();
      }, EXIT_GRACE_MS);
    });
    await Promise.race([stderrDone.catch(() => {}), grace]);
    clearTimeout(timer);
  };
  let exitedAt: number | undefined;
  const status = child.status.then((s) => {
    exitedAt = Date.now();
    pty.closeSlave();
    return s;
  });

  const buf = new Uint8Array(65536);
  let logBytes = 0;
  try {
    for (;;) {
      const now = Date.now();
      let wait = exitedAt !== undefined ? 50 : 1000;
      if (!killed && o.timeoutMs !== undefined) {
        if (now - startTime >= o.timeoutMs) kill("timeout");
        else wait = Math.min(wait, startTime + o.timeoutMs - now);
      }
      if (!killed && o.maxSilentMs !== undefined) {
        if (now - lastOutput >= o.maxSilentMs) kill("silent");
        else wait = Math.min(wait, lastOutput + o.maxSilentMs - now);
      }
      const r = await pty.read(buf, Math.max(wait, 1));
      if (r === "eof") break;
      if (r === "timeout") {
        // Once the runner is gone every holder of the slave is gone too (they
        // all lived in the builder's pid namespace), so EOF follows at once;
        // do not wait for it forever all the same.
        if (exitedAt !== undefined && now - exitedAt > EXIT_GRACE_MS) break;
        continue;
      }
      if (killed) continue; // drain without logging
      logBytes += r;
      if (o.maxLogBytes !== undefined && logBytes > o.maxLogBytes) {
        logBytes -= r;
        kill("logLimit");
        continue;
      }
      lastOutput = Date.now();
      await o.log(buf.slice(0, r));
    }
    await status;
    await stderrEnded();
    await initGone();
  } catch (e) {
    // The log sink or the pty failed: stop the build before giving up.
    kill("cancelled");
    await status;
    await stderrEnded();
    await initGone();
    throw e;
  } finally {
    o.signal?.removeEventListener("abort", onAbort);
  }
  const stopTime = Date.now();

  if (!killed && (failures.length > 0 || !ready)) {
    throw new SandboxError(
      "start the builder",
      [...failures, diagnostics.trim()].filter((s) => s !== "").join("\n") ||
        "the sandbox exited before the builder started",
    );
  }
  // A build that was killed ended by SIGKILL, whatever raced to report it.
  const { exitCode, signal } = killed ? { exitCode: null, signal: 9 } : builderEnd;
  return { reason, exitCode, signal, logBytes, startTime, stopTime };
}
