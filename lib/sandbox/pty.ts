/**
 * The builder's log channel: a pseudoterminal, as Nix 2.8 uses.
 *
 * Nix 2.8 gives the builder a pty slave as both stdout and stderr (opened
 * `O_RDWR | O_NOCTTY`, put in raw mode with `cfmakeraw`, so `\n` is not
 * turned into `\r\n`), stdin being `/dev/null`; the builder is a session
 * leader without a controlling terminal. Everything it writes is read from
 * the master; the log ends when the last process holding the slave is gone
 * (the master then reads `EIO`).
 *
 * Deno has no pty API, so this calls libc through FFI (`--allow-ffi`, part
 * of `-A`): `posix_openpt`, `unlockpt`, `ptsname_r`, `tcgetattr`,
 * `cfmakeraw`, `tcsetattr`, `open`, `poll`, `read`, `close`. The master is
 * non-blocking; waiting is a `poll` on an FFI worker thread, so the event
 * loop never blocks.
 *
 * @module
 */
import { errno, openLibc } from "../libc.ts";
import { SandboxError } from "./sandbox_error.ts";

const O_RDWR = 0o2;
const O_NOCTTY = 0o400;
const O_NONBLOCK = 0o4000;
const O_CLOEXEC = 0o2000000;
const TCSANOW = 0;
const POLLIN = 0x1;
const EAGAIN = 11;
const EINTR = 4;
const EIO = 5;

const SYMBOLS = {
  posix_openpt: { parameters: ["i32"], result: "i32" },
  unlockpt: { parameters: ["i32"], result: "i32" },
  ptsname_r: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  tcgetattr: { parameters: ["i32", "buffer"], result: "i32" },
  tcsetattr: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  cfmakeraw: { parameters: ["buffer"], result: "void" },
  open: { parameters: ["buffer", "i32"], result: "i32" },
  // i32, not isize: a BigInt result would allocate before errno is read (see libc.ts); reads
  // are of a small buffer, so the count always fits.
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  poll: { parameters: ["buffer", "u64", "i32"], result: "i32", nonblocking: true },
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
    throw new SandboxError("open a pseudoterminal", (e as Error).message);
  }
  return libc;
}

function cString(s: string): Uint8Array {
  return new TextEncoder().encode(s + "\0");
}

/** What {@linkcode Pty.read} found. */
export type PtyReadResult =
  /** Bytes were read into the buffer (their count). */
  | number
  /** Nothing arrived within the timeout. */
  | "timeout"
  /** Every slave is closed and everything written was read. */
  | "eof";

/**
 * A pseudoterminal pair for one build's log. The slave is held open by this
 * object until {@linkcode Pty.closeSlave} (the builder opens it by
 * {@linkcode Pty.slavePath}), so the master does not report end-of-file
 * before the builder has it.
 *
 * @example Writing to the slave and reading the master
 * ```ts
 * import assert from "node:assert/strict";
 * import { Pty } from "./pty.ts";
 * using pty = Pty.open();
 * const out = await new Deno.Command("/bin/sh", {
 *   args: ["-c", `printf 'a\\nb\\n' > ${pty.slavePath}`],
 * }).output();
 * assert.ok(out.success);
 * pty.closeSlave();
 * const buf = new Uint8Array(64);
 * const n = await pty.read(buf, 1000);
 * assert.equal(typeof n, "number");
 * assert.equal(new TextDecoder().decode(buf.subarray(0, n as number)), "a\nb\n");
 * assert.equal(await pty.read(buf, 1000), "eof");
 * ```
 */
export class Pty implements Disposable {
  #master: number;
  #slave: number;
  readonly #pollfd = new Uint8Array(8);

  private constructor(master: number, slave: number, readonly slavePath: string) {
    this.#master = master;
    this.#slave = slave;
  }

  /**
   * Open a new pseudoterminal in raw mode.
   *
   * @returns The pair, slave held open.
   */
  static open(): Pty {
    const c = loadLibc();
    const master = c.posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK | O_CLOEXEC);
    if (master < 0) {
      throw new SandboxError("open a pseudoterminal", `posix_openpt failed (errno ${errno(c)})`);
    }
    const fail = (what: string): never => {
      const e = errno(c);
      c.close(master);
      throw new SandboxError("open a pseudoterminal", `${what} failed (errno ${e})`);
    };
    if (c.unlockpt(master) !== 0) fail("unlockpt");
    const name = new Uint8Array(128);
    if (c.ptsname_r(master, name, BigInt(name.length)) !== 0) fail("ptsname_r");
    const slavePath = new TextDecoder().decode(name.subarray(0, name.indexOf(0)));
    const termios = new Uint8Array(256);
    if (c.tcgetattr(master, termios) !== 0) fail("tcgetattr");
    c.cfmakeraw(termios);
    if (c.tcsetattr(master, TCSANOW, termios) !== 0) fail("tcsetattr");
    const slave = c.open(cString(slavePath), O_RDWR | O_NOCTTY | O_CLOEXEC);
    if (slave < 0) fail(`opening ${slavePath}`);
    return new Pty(master, slave, slavePath);
  }

  /** Stop holding the slave: the master reports end-of-file once the builder closes it too. */
  closeSlave(): void {
    if (this.#slave >= 0) {
      loadLibc().close(this.#slave);
      this.#slave = -1;
    }
  }

  /**
   * Read what the builder wrote, waiting at most `timeoutMs`.
   *
   * @param buf Where to put the bytes.
   * @param timeoutMs How long to wait for data (0: do not wait).
   * @returns The number of bytes, `"timeout"`, or `"eof"`.
   */
  async read(buf: Uint8Array, timeoutMs: number): Promise<PtyReadResult> {
    const c = loadLibc();
    if (this.#master < 0) return "eof";
    for (;;) {
      const n = c.read(this.#master, buf, BigInt(Math.min(buf.length, 0x40000000)));
      if (n > 0) return n;
      if (n === 0) return "eof";
      const e = errno(c);
      if (e === EIO) return "eof";
      if (e === EINTR) continue;
      if (e !== EAGAIN) throw new SandboxError("read the build log", `read failed (errno ${e})`);
      if (timeoutMs <= 0) return "timeout";
      const view = new DataView(this.#pollfd.buffer);
      view.setInt32(0, this.#master, true);
      view.setInt16(4, POLLIN, true);
      view.setInt16(6, 0, true);
      const r = await c.poll(this.#pollfd, 1n, Math.min(timeoutMs, 0x7fffffff));
      if (r === 0) return "timeout";
      timeoutMs = 0; // readable, hung up or interrupted: read again without waiting
      if (r < 0) timeoutMs = 1;
    }
  }

  /** Close both sides. */
  close(): void {
    this.closeSlave();
    if (this.#master >= 0) {
      loadLibc().close(this.#master);
      this.#master = -1;
    }
  }

  /** Same as {@linkcode Pty.close}. */
  [Symbol.dispose](): void {
    this.close();
  }
}
