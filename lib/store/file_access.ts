/**
 * The few file calls a NAR dump makes for every file of a tree (`lstat`,
 * `open`, `read`, `close`), made straight to libc through FFI where it is
 * permitted, else through Deno's API.
 *
 * Deno's calls cost a few microseconds each beyond the system call: `lstat`
 * builds a `FileInfo` of some twenty fields and four `Date`s, `open` a file
 * object in the resource table. A tree of 20 000 small files spends some
 * 80 ms on that, a tenth of its dump. Through FFI each is one call into
 * libc, with results read from a reused buffer.
 *
 * @module
 */
import { cPath, errno, type openLibc, openLibcIfPermitted, systemError } from "../libc.ts";

/** What a dump needs to know of a path, from its `lstat`. */
export interface PathStat {
  /** 0o170000 bits of the mode: see {@linkcode S_IFREG} and the others. */
  format: number;
  /** The permission bits. */
  mode: number;
  /** The size in bytes. */
  size: number;
}

/** File type bits of a mode. */
export const S_IFMT = 0o170000;
/** A regular file. */
export const S_IFREG = 0o100000;
/** A directory. */
export const S_IFDIR = 0o040000;
/** A symbolic link. */
export const S_IFLNK = 0o120000;

/** An open file, read from where the last read ended. */
export interface ReadHandle extends Disposable {
  /**
   * Read into the start of `into`.
   *
   * @returns How many bytes were read; 0 at the end of the file.
   */
  read(into: Uint8Array): number;
}

/** `lstat` and reading files. */
export interface FileAccess {
  /**
   * The type, mode and size of a path, not following a symlink.
   *
   * @throws {Deno.errors.NotFound} and the other errors Deno's calls throw.
   */
  lstat(path: string): PathStat;
  /** Open a file to read it. */
  open(path: string): ReadHandle;
}

/** Through Deno's API. */
export const denoFileAccess: FileAccess = {
  lstat(path) {
    const st = Deno.lstatSync(path);
    const format = st.isFile
      ? S_IFREG
      : st.isDirectory
      ? S_IFDIR
      : st.isSymlink
      ? S_IFLNK
      : (st.mode ?? 0) & S_IFMT;
    return { format, mode: (st.mode ?? 0) & 0o7777, size: st.size };
  },
  open(path) {
    const f = Deno.openSync(path);
    return {
      read: (into) => f.readSync(into) ?? 0,
      [Symbol.dispose]: () => f.close(),
    };
  },
};

const SYMBOLS = {
  statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  open: { parameters: ["buffer", "i32", "i32"], result: "i32" },
  // ssize_t, read as its low 32 bits: reads never ask for 2 GiB, and an i32
  // result allocates nothing before `errno` is read.
  read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
  close: { parameters: ["i32"], result: "i32" },
  strerror: { parameters: ["i32"], result: "pointer" },
  __errno_location: { parameters: [], result: "pointer" },
} as const;

type Libc = ReturnType<typeof openLibc<typeof SYMBOLS>>;
type Read = (fd: number, into: Uint8Array, length: number) => number;

const AT_FDCWD = -100;
const AT_SYMLINK_NOFOLLOW = 0x100;
const STATX_TYPE = 0x1, STATX_MODE = 0x2, STATX_SIZE = 0x200;
const O_RDONLY_CLOEXEC = 0o2000000;
const EINTR = 4;
/** Room for a path and its NUL; a longer one gets a buffer of its own. */
const PATH_ROOM = 4096;

/** Through libc: results land in buffers made once. */
class LibcFileAccess implements FileAccess {
  #c: Libc;
  #read: Read;
  #path = new Uint8Array(PATH_ROOM);
  #statx = new Uint8Array(256);
  #view = new DataView(this.#statx.buffer);

  constructor(c: Libc) {
    this.#c = c;
    // Deno's types ask a BigInt for a `usize`; it takes a number as well.
    this.#read = c.read as unknown as Read;
  }

  #cPath(path: string): Uint8Array {
    return cPath(path, this.#path);
  }

  #fail(op: string, path: string, code: number): Error {
    return systemError(this.#c, op, path, code);
  }

  lstat(path: string): PathStat {
    const mask = STATX_TYPE | STATX_MODE | STATX_SIZE;
    if (this.#c.statx(AT_FDCWD, this.#cPath(path), AT_SYMLINK_NOFOLLOW, mask, this.#statx) !== 0) {
      throw this.#fail("lstat", path, errno(this.#c));
    }
    const mode = this.#view.getUint16(0x1c, true);
    return {
      format: mode & S_IFMT,
      mode: mode & 0o7777,
      size: Number(this.#view.getBigUint64(0x28, true)),
    };
  }

  open(path: string): ReadHandle {
    const c = this.#c;
    let fd: number;
    while ((fd = c.open(this.#cPath(path), O_RDONLY_CLOEXEC, 0)) < 0) {
      const code = errno(c);
      if (code !== EINTR) throw this.#fail("open", path, code);
    }
    const read = this.#read;
    const fail = (code: number) => this.#fail("read", path, code);
    let open = true;
    return {
      read(into: Uint8Array): number {
        if (into.length === 0) return 0;
        while (true) {
          const n = read(fd, into, into.length);
          if (n >= 0) return n;
          const code = errno(c);
          if (code !== EINTR) throw fail(code);
        }
      },
      [Symbol.dispose]() {
        if (open) c.close(fd);
        open = false;
      },
    };
  }
}

let chosen: FileAccess | undefined;

/**
 * libc's calls where FFI is permitted and libc loads, else Deno's; chosen
 * at the first call.
 *
 * @returns The file access to use.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { fileAccess, S_IFDIR } from "./file_access.ts";
 * assert.equal(fileAccess().lstat("/").format, S_IFDIR);
 * ```
 */
export function fileAccess(): FileAccess {
  if (chosen) return chosen;
  const c = openLibcIfPermitted(SYMBOLS);
  return (chosen = c ? new LibcFileAccess(c) : denoFileAccess);
}

/**
 * @internal The libc implementation, for tests that compare it with Deno's.
 *
 * @returns It, or undefined when FFI is not permitted.
 */
export function libcFileAccess(): FileAccess | undefined {
  const a = fileAccess();
  return a === denoFileAccess ? undefined : a;
}
