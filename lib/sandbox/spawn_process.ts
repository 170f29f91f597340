/**
 * Start a program through libc's `posix_spawn` with every signal's
 * disposition reset to the default, its stdin and stdout `/dev/null` and its
 * stderr a pipe read here.
 *
 * Why not `Deno.Command`: a child Deno starts with `posix_spawn` has
 * glibc's internal signals 32 and 33 ignored (glibc's `sigfillset` leaves
 * them out of the set of signals to reset), and a builder would inherit
 * that, where Nix's shows none ignored; no glibc program further down can
 * reset them (glibc's `sigaction` refuses both). Asking `Deno.Command` for a
 * `uid` makes it fork the whole Deno process instead, which costs time in
 * proportion to Deno's memory (12.7 ms with a 200 MiB heap, and far more on
 * a loaded machine, against 0.6 ms), on the thread that runs everything
 * else. Here the set of signals to reset is filled by hand, 32 and 33
 * included, so the child starts as from a shell, at `posix_spawn`'s cost.
 *
 * @module
 */
import { errno, openLibc } from "./libc.ts";
import { SandboxError } from "./sandbox_error.ts";

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_CLOEXEC = 0o2000000;
const O_NONBLOCK = 0o4000;
const F_SETFL = 4;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const POSIX_SPAWN_SETSIGDEF = 0x04;
const POLLIN = 0x1;
const EAGAIN = 11;
const EINTR = 4;

const SYMBOLS = {
  posix_spawn: {
    parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "buffer"],
    result: "i32",
  },
  posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
  posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
  posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
  posix_spawn_file_actions_addopen: {
    parameters: ["buffer", "i32", "buffer", "i32", "u32"],
    result: "i32",
  },
  posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  pipe2: { parameters: ["buffer", "i32"], result: "i32" },
  fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
  waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32", nonblocking: true },
  close: { parameters: ["i32"], result: "i32" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = Deno.DynamicLibrary<typeof SYMBOLS>["symbols"];
let libc: Libc | undefined;

function loadLibc(): Libc {
  if (libc) return libc;
  try {
    libc = openLibc(SYMBOLS);
  } catch (e) {
    throw new SandboxError("start the sandbox", (e as Error).message);
  }
  return libc;
}

function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** How a spawned process ended. */
export interface SpawnedStatus {
  /** Its exit code, if it exited. */
  code: number | null;
  /** The signal that ended it, if one did. */
  signal: number | null;
}

/** A process started by {@linkcode spawnProcess}. */
export interface SpawnedProcess {
  /** Its pid. */
  readonly pid: number;
  /** Settles once it has ended (and was reaped). */
  readonly status: Promise<SpawnedStatus>;
  /** What it (and whatever inherited its stderr) writes to stderr. */
  readonly stderr: ReadableStream<Uint8Array>;
  /** Send it a signal (nothing if it is gone). */
  kill(signal: Deno.Signal): void;
}

/**
 * Start `path` with `args` (`argv[1...]`; `argv[0]` is `path`) and exactly
 * `env`, every signal at its default disposition and none blocked.
 *
 * @param path The program (absolute path).
 * @param args Its arguments.
 * @param env Its whole environment.
 * @returns The running process.
 * @throws {SandboxError} It could not be started.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { spawnProcess } from "./spawn_process.ts";
 * const p = spawnProcess("/bin/sh", ["-c", "grep SigIgn /proc/self/status >&2; exit 3"], {});
 * assert.equal(await new Response(p.stderr).text(), "SigIgn:\t0000000000000000\n");
 * assert.deepEqual(await p.status, { code: 3, signal: null });
 * ```
 */
export function spawnProcess(
  path: string,
  args: readonly string[],
  env: Readonly<Record<string, string>>,
): SpawnedProcess {
  const c = loadLibc();
  const fds = new Int32Array(2);
  if (c.pipe2(new Uint8Array(fds.buffer), O_CLOEXEC) !== 0) {
    throw new SandboxError("start the sandbox", `pipe2 failed (errno ${errno(c)})`);
  }
  const [readEnd, writeEnd] = [fds[0]!, fds[1]!];
  // Only the read end is non-blocking (the write end is the child's stderr).
  c.fcntl(readEnd, F_SETFL, O_NONBLOCK);
  const attr = new Uint8Array(512);
  const actions = new Uint8Array(512);
  c.posix_spawnattr_init(attr);
  c.posix_spawn_file_actions_init(actions);
  let pid: number;
  try {
    // Every bit set by hand: glibc's sigfillset would leave out 32 and 33.
    const all = new Uint8Array(128).fill(0xff);
    c.posix_spawnattr_setsigdefault(attr, all);
    c.posix_spawnattr_setsigmask(attr, new Uint8Array(128));
    c.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
    const devNull = cString("/dev/null");
    c.posix_spawn_file_actions_addopen(actions, 0, devNull, O_RDONLY, 0);
    c.posix_spawn_file_actions_addopen(actions, 1, devNull, O_WRONLY, 0);
    c.posix_spawn_file_actions_adddup2(actions, writeEnd, 2);
    const strings = [path, ...args].map(cString);
    const environ = Object.entries(env).map(([k, v]) => cString(`${k}=${v}`));
    const pointers = (list: Uint8Array[]) => {
      const a = new BigUint64Array(list.length + 1);
      list.forEach((s, i) => (a[i] = BigInt(Deno.UnsafePointer.value(Deno.UnsafePointer.of(s)))));
      return new Uint8Array(a.buffer);
    };
    const pidOut = new Int32Array(1);
    const rc = c.posix_spawn(
      new Uint8Array(pidOut.buffer),
      strings[0]!,
      actions,
      attr,
      pointers(strings),
      pointers(environ),
    );
    if (rc !== 0) {
      c.close(readEnd);
      throw new SandboxError("start the sandbox", `cannot run ${path} (errno ${rc})`);
    }
    pid = pidOut[0]!;
  } finally {
    c.close(writeEnd);
    c.posix_spawn_file_actions_destroy(actions);
    c.posix_spawnattr_destroy(attr);
  }

  const status = (async (): Promise<SpawnedStatus> => {
    const word = new Int32Array(1);
    for (;;) {
      const r = await c.waitpid(pid, new Uint8Array(word.buffer), 0);
      if (r === pid) break;
      if (r < 0 && errno(c) !== EINTR) {
        throw new SandboxError("wait for the sandbox", `waitpid failed (errno ${errno(c)})`);
      }
    }
    const w = word[0]!;
    return (w & 0x7f) === 0 ? { code: (w >> 8) & 0xff, signal: null } : {
      code: null,
      signal: w & 0x7f,
    };
  })();

  let open = true;
  const closeRead = () => {
    if (open) c.close(readEnd);
    open = false;
  };
  const pollfd = new Uint8Array(8);
  const stderr = new ReadableStream<Uint8Array>({
    async pull(controller) {
      const buf = new Uint8Array(65536);
      for (;;) {
        if (!open) return; // cancelled
        const n = c.read(readEnd, buf, BigInt(buf.length));
        if (n > 0) return controller.enqueue(buf.slice(0, n));
        if (n === 0) {
          closeRead();
          return controller.close();
        }
        const e = errno(c);
        if (e === EINTR) continue;
        if (e !== EAGAIN) {
          closeRead();
          return controller.error(
            new SandboxError("read the sandbox's stderr", `read failed (errno ${e})`),
          );
        }
        const view = new DataView(pollfd.buffer);
        view.setInt32(0, readEnd, true);
        view.setInt16(4, POLLIN, true);
        view.setInt16(6, 0, true);
        await c.poll(pollfd, 1n, 200); // then look again (cancelled meanwhile?)
      }
    },
    cancel() {
      closeRead();
    },
  });

  return {
    pid,
    status,
    stderr,
    kill(signal: Deno.Signal) {
      try {
        Deno.kill(pid, signal);
      } catch {
        // gone already
      }
    },
  };
}
