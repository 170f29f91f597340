/**
 * Open lock files and their `flock`s, for the store's path locks and GC
 * lock: through libc (FFI) where it is permitted, else through Deno's API.
 *
 * Through libc a lock is first tried without waiting (`LOCK_NB`): one
 * system call, no thread, no turn of the event loop. Only a lock held
 * elsewhere is waited for, by a blocking `flock` on a thread of its own
 * (an FFI call marked nonblocking), so the event loop runs on meanwhile.
 * Deno's `FsFile.lock` always waits on a thread: for an import of many
 * small paths that hop, taken twice a path (its lock and the GC lock),
 * cost more than the locking itself. Deno's API cannot try a lock, so
 * without FFI every lock is waited for as before.
 *
 * @module
 */
import { cPath, errno, type openLibc, openLibcIfPermitted, systemError } from "../libc.ts";

/**
 * How a lock file is opened; never truncated. Through libc never through a
 * symlink either (`O_NOFOLLOW`, `FilesystemLoop` when it is one); Deno's API
 * cannot refuse one, so callers look first and compare {@linkcode
 * LockFileHandle.identity} after.
 */
export type LockFileOpen =
  /** Create it, exclusively (it must not exist), for reading and writing. */
  | "create"
  /** Create it if it is missing, for reading and writing. */
  | "createOrOpen"
  /** An existing file, for reading and writing. */
  | "readWrite"
  /** An existing file (or directory), read-only. */
  | "readOnly";

/** Which file a path or descriptor is, and how many names it has. */
export interface FileIdentity {
  /** The device. */
  dev: number;
  /** The inode. */
  ino: number;
  /** Its number of links: 0 once deleted. */
  nlink: number;
}

/** What is at a path (not following a symlink). */
export interface LockPathStat extends FileIdentity {
  /** A regular file. */
  isFile: boolean;
  /** A symlink. */
  isSymlink: boolean;
}

/** An open lock file. */
export interface LockFileHandle extends Disposable {
  /**
   * Take the lock without waiting.
   *
   * @returns True when taken, false when held elsewhere, undefined when
   * locks cannot be tried here (Deno's API).
   */
  tryLock(exclusive: boolean): boolean | undefined;
  /** Wait for the lock (without blocking the event loop) and take it. */
  lock(exclusive: boolean): Promise<void>;
  /** Drop the lock, keeping the file open. */
  unlock(): void;
  /** Which file is open (`fstat`). */
  identity(): FileIdentity;
  /** Write at the file's offset; throws when it was opened read-only. */
  write(data: Uint8Array): void;
  /** Close it, which drops its lock; again is a no-op. */
  close(): void;
}

/** Opening lock files and looking at their paths. */
export interface LockFiles {
  /** Whether a lock can be tried without waiting (see {@linkcode LockFileHandle.tryLock}). */
  readonly canTry: boolean;
  /**
   * Open a lock file.
   *
   * @throws {Deno.errors.AlreadyExists} ("create", it exists), {Deno.errors.NotFound}
   * and the other errors Deno's `open` throws.
   */
  open(path: string, how: LockFileOpen): LockFileHandle;
  /** What is at `path`, or undefined when nothing (or it cannot be looked at). */
  lstat(path: string): LockPathStat | undefined;
  /**
   * Delete a lock file (not a directory).
   *
   * @throws {Deno.errors.NotFound} and the other errors Deno's calls throw.
   */
  unlink(path: string): void;
}

/** Through Deno's API. */
export const denoLockFiles: LockFiles = {
  canTry: false,
  open(path, how) {
    const f = Deno.openSync(path, denoOpenOptions(how));
    return {
      tryLock: () => undefined,
      lock: (exclusive) => f.lock(exclusive),
      unlock: () => f.unlockSync(),
      identity() {
        const st = f.statSync();
        return { dev: st.dev, ino: st.ino ?? 0, nlink: st.nlink ?? 0 };
      },
      write(data) {
        let off = 0;
        while (off < data.length) off += f.writeSync(data.subarray(off));
      },
      close: () => closeOnce(f),
      [Symbol.dispose]: () => closeOnce(f),
    };
  },
  lstat(path) {
    try {
      const st = Deno.lstatSync(path);
      return {
        dev: st.dev,
        ino: st.ino ?? 0,
        nlink: st.nlink ?? 0,
        isFile: st.isFile,
        isSymlink: st.isSymlink,
      };
    } catch {
      return undefined;
    }
  },
  unlink(path) {
    Deno.removeSync(path);
  },
};

function denoOpenOptions(how: LockFileOpen): Deno.OpenOptions {
  switch (how) {
    case "create":
      return { read: true, write: true, createNew: true, mode: 0o600 };
    case "createOrOpen":
      return { read: true, write: true, create: true, mode: 0o600 };
    case "readWrite":
      return { read: true, write: true };
    case "readOnly":
      return { read: true };
  }
}

function closeOnce(f: Deno.FsFile): void {
  try {
    f.close();
  } catch (e) {
    if (!(e instanceof Deno.errors.BadResource)) throw e;
  }
}

const SYMBOLS = {
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  flock: { parameters: ["i32", "i32"], result: "i32" },
  // The same call on a thread of its own: it returns a promise.
  flockWaiting: { name: "flock", parameters: ["i32", "i32"], result: "i32", nonblocking: true },
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  unlink: { parameters: ["buffer"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = ReturnType<typeof openLibc<typeof SYMBOLS>>;
type Write = (fd: number, data: Uint8Array, length: number) => number;

const O_RDONLY = 0, O_RDWR = 0o2, O_CREAT = 0o100, O_EXCL = 0o200;
const O_NOFOLLOW = 0o400000, O_CLOEXEC = 0o2000000;
const OPEN_FLAGS: Record<LockFileOpen, number> = {
  create: O_RDWR | O_CREAT | O_EXCL,
  createOrOpen: O_RDWR | O_CREAT,
  readWrite: O_RDWR,
  readOnly: O_RDONLY,
};
const LOCK_SH = 1, LOCK_EX = 2, LOCK_NB = 4, LOCK_UN = 8;
const EINTR = 4, EWOULDBLOCK = 11;
const AT_FDCWD = -100, AT_SYMLINK_NOFOLLOW = 0x100, AT_EMPTY_PATH = 0x1000;
const STATX_TYPE = 0x1, STATX_NLINK = 0x4, STATX_INO = 0x100;
const S_IFMT = 0o170000, S_IFREG = 0o100000, S_IFLNK = 0o120000;
const EMPTY_PATH = new Uint8Array(1);

/** Through libc; `statx` answers land in one buffer made once. */
class LibcLockFiles implements LockFiles {
  readonly canTry = true;
  #c: Libc;
  #write: Write;
  #statx = new Uint8Array(256);
  #view = new DataView(this.#statx.buffer);

  constructor(c: Libc) {
    this.#c = c;
    // Deno's types ask a BigInt for a `usize`; it takes a number as well.
    this.#write = c.write as unknown as Write;
  }

  /** `statx` of `fd` (with an empty path) or of `path` (not following a symlink). */
  #stat(fd: number, path: Uint8Array, flags: number): number {
    return this.#c.statx(fd, path, flags, STATX_TYPE | STATX_NLINK | STATX_INO, this.#statx);
  }

  #identity(): FileIdentity {
    const v = this.#view;
    return {
      dev: makedev(v.getUint32(0x88, true), v.getUint32(0x8c, true)),
      ino: Number(v.getBigUint64(0x20, true)),
      nlink: v.getUint32(0x10, true),
    };
  }

  lstat(path: string): LockPathStat | undefined {
    if (this.#stat(AT_FDCWD, cPath(path), AT_SYMLINK_NOFOLLOW) !== 0) return undefined;
    const format = this.#view.getUint16(0x1c, true) & S_IFMT;
    return { ...this.#identity(), isFile: format === S_IFREG, isSymlink: format === S_IFLNK };
  }

  unlink(path: string): void {
    // One system call: Deno's remove looks at what the path is first.
    if (this.#c.unlink(cPath(path)) !== 0) {
      throw systemError(this.#c, "unlink", path, errno(this.#c));
    }
  }

  open(path: string, how: LockFileOpen): LockFileHandle {
    const c = this.#c;
    const name = cPath(path);
    let fd: number;
    while ((fd = c.open(name, OPEN_FLAGS[how] | O_NOFOLLOW | O_CLOEXEC, 0o600)) < 0) {
      const code = errno(c);
      if (code !== EINTR) throw systemError(c, "open", path, code);
    }
    /** `flock`, again when interrupted by a signal: 0, or the error number. */
    const flock = (op: number): number => {
      while (c.flock(fd, op) !== 0) {
        const code = errno(c);
        if (code !== EINTR) return code;
      }
      return 0;
    };
    const fail = (op: string, code: number) => systemError(c, op, path, code);
    const tryLock = (exclusive: boolean): boolean => {
      const code = flock((exclusive ? LOCK_EX : LOCK_SH) | LOCK_NB);
      if (code === 0) return true;
      if (code === EWOULDBLOCK) return false;
      throw fail("flock", code);
    };
    const identity = (): FileIdentity => {
      if (this.#stat(fd, EMPTY_PATH, AT_EMPTY_PATH) !== 0) throw fail("fstat", errno(c));
      return this.#identity();
    };
    const write = this.#write;
    let open = true;
    const close = () => {
      if (open) c.close(fd);
      open = false;
    };
    return {
      tryLock,
      async lock(exclusive) {
        const op = exclusive ? LOCK_EX : LOCK_SH;
        // errno is the waiting thread's: a failed wait is asked again
        // here, where a real error shows its number.
        while (await c.flockWaiting(fd, op) !== 0) {
          if (tryLock(exclusive)) return;
        }
      },
      unlock() {
        const code = flock(LOCK_UN);
        if (code !== 0) throw fail("flock", code);
      },
      identity,
      write(data) {
        let off = 0;
        while (off < data.length) {
          const n = write(fd, data.subarray(off), data.length - off);
          if (n < 0) {
            const code = errno(c);
            if (code !== EINTR) throw fail("write", code);
          } else off += n;
        }
      },
      close,
      [Symbol.dispose]: close,
    };
  }
}

/** A device number from its major and minor numbers, as `stat` gives it (glibc's `makedev`). */
function makedev(major: number, minor: number): number {
  return (major & 0xfff) * 0x100 + (minor & 0xff) + Math.floor(minor / 0x100) * 0x100000 +
    Math.floor(major / 0x1000) * 0x100000000000;
}

let chosen: LockFiles | undefined;

/**
 * libc's calls where FFI is permitted and libc loads, else Deno's; chosen
 * at the first call.
 *
 * @returns The lock files to use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { lockFiles } from "./lock_file.ts";
 * const dir = await Deno.makeTempDir();
 * using f = lockFiles().open(`${dir}/x.lock`, "create");
 * await f.lock(true);
 * assert.equal(f.identity().nlink, 1);
 * f.close();
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export function lockFiles(): LockFiles {
  if (chosen) return chosen;
  const c = openLibcIfPermitted(SYMBOLS);
  return (chosen = c ? new LibcLockFiles(c) : denoLockFiles);
}

/**
 * @internal The libc implementation, for tests that compare it with Deno's.
 *
 * @returns It, or undefined when FFI is not permitted.
 */
export function libcLockFiles(): LockFiles | undefined {
  const files = lockFiles();
  return files === denoLockFiles ? undefined : files;
}
