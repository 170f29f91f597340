/**
 * A `buildhost daemon` for a test's store, run from the checkout: started,
 * waited for until it says it listens, stopped with SIGTERM when disposed.
 *
 * @module
 */
import { MAIN } from "./buildhost.ts";

/** A running daemon. */
export interface RunningDaemon extends AsyncDisposable {
  /** Its socket. */
  socket: string;
  /** Its process. */
  child: Deno.ChildProcess;
  /** What it printed on stderr so far. */
  stderr(): string;
  /** SIGTERM it and wait for its end; its exit code. */
  stop(): Promise<number>;
  /** Wait until its stderr matches `pattern` (it says so as soon as it has). */
  said(pattern: RegExp): Promise<void>;
}

/**
 * Start `buildhost daemon --store STORE [ARGS...]`.
 *
 * @param store The store root.
 * @param args More arguments (e.g. `--listen PATH`).
 * @param env The daemon's environment (default: this process's).
 * @param program How buildhost is run (default: main.ts under this Deno).
 * @returns The daemon, once it listens.
 */
export async function startDaemon(
  store: string,
  args: string[] = [],
  env?: Record<string, string>,
  program: string[] = [Deno.execPath(), "run", "-A", MAIN],
): Promise<RunningDaemon> {
  const listen = args.indexOf("--listen");
  const socket = listen >= 0
    ? args[listen + 1]!
    : `${store}/nix/var/nix/daemon-socket/buildhost-socket`;
  const child = new Deno.Command(program[0]!, {
    args: [...program.slice(1), "daemon", "--store", store, ...args],
    stdin: "null",
    stdout: "null",
    stderr: "piped",
    ...(env ? { env, clearEnv: true } : {}),
  }).spawn();
  let text = "";
  const decoder = new TextDecoder();
  const reading = child.stderr.pipeTo(
    new WritableStream({ write: (c) => void (text += decoder.decode(c, { stream: true })) }),
  ).catch(() => {});
  let ended = false;
  const status = child.status.then((s) => (ended = true, s));
  while (!text.includes(`listening on ${socket} `)) {
    if (ended) throw new Error(`buildhost daemon ended before listening:\n${text}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  const stop = async () => {
    if (!ended) {
      try {
        child.kill("SIGTERM");
      } catch { /* ended meanwhile */ }
    }
    const s = await status;
    await reading;
    return s.code;
  };
  const said = async (pattern: RegExp) => {
    while (!pattern.test(text)) {
      if (ended) throw new Error(`buildhost daemon ended without saying ${pattern}:\n${text}`);
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  return {
    socket,
    child,
    stderr: () => text,
    stop,
    said,
    [Symbol.asyncDispose]: async () => void await stop(),
  };
}
