/**
 * libc through FFI, for the few calls Deno has no API for (pseudoterminals,
 * `flock` on a descriptor of our own, a symlink's own times): one loader and
 * one `errno` reader shared by every layer's users of it.
 *
 * @module
 */

/**
 * Open libc with the given symbols (`libc.so.6`, else `libc.so`).
 *
 * @param symbols The functions wanted (with `__errno_location` to use {@linkcode errno}).
 * @returns Their bindings.
 * @throws {Error} libc could not be loaded; the message gives the last loader's error.
 */
export function openLibc<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] {
  let lastError: unknown;
  for (const name of ["libc.so.6", "libc.so"]) {
    let lib: Deno.DynamicLibrary<S>;
    try {
      lib = Deno.dlopen(name, symbols);
    } catch (e) {
      lastError = e;
      continue;
    }
    if ("__errno_location" in lib.symbols) errnoView(lib.symbols as unknown as ErrnoSource);
    return lib.symbols;
  }
  throw new Error(`cannot load libc: ${String(lastError)}`);
}

/** Bindings that can say where this thread's `errno` lives. */
type ErrnoSource = { __errno_location(): Deno.PointerValue };

/** This thread's `errno` location, per set of bindings, looked up once. */
const errnoViews = new WeakMap<ErrnoSource, Deno.UnsafePointerView | null>();

function errnoView(c: ErrnoSource): Deno.UnsafePointerView | null {
  let view = errnoViews.get(c);
  if (view === undefined) {
    const p = c.__errno_location();
    view = p === null ? null : new Deno.UnsafePointerView(p);
    errnoViews.set(c, view);
  }
  return view;
}

/**
 * The calling thread's `errno`, read after a libc call that failed.
 *
 * Read through a view of its location made when the bindings were opened, so
 * nothing is allocated between the failed call and the read: an allocation can
 * start a garbage collection whose own system calls overwrite `errno`. For
 * the same reason, calls whose `errno` matters return `i32` (a small integer),
 * never a 64-bit result that allocates a BigInt.
 *
 * @param c Bindings made by {@linkcode openLibc}.
 * @returns The error number (0 if it cannot be read).
 */
export function errno(c: ErrnoSource): number {
  return errnoView(c)?.getInt32() ?? 0;
}

/**
 * Whether this process may call native code (asked without prompting).
 *
 * @returns True when FFI is granted.
 */
export function ffiPermitted(): boolean {
  try {
    return Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  } catch {
    return false;
  }
}

/**
 * {@linkcode openLibc} where FFI is permitted and libc loads; undefined
 * otherwise, for callers that then use Deno's or Node's API instead.
 *
 * @param symbols The functions wanted.
 * @returns Their bindings, or undefined.
 */
export function openLibcIfPermitted<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): Deno.DynamicLibrary<S>["symbols"] | undefined {
  if (!ffiPermitted()) return undefined;
  try {
    return openLibc(symbols);
  } catch {
    return undefined;
  }
}

/**
 * {@linkcode openLibcIfPermitted}, asked once, at the first call of the
 * function this returns: for modules that load libc only when a call needs
 * it, and then keep its answer (the bindings, or that there are none).
 *
 * @param symbols The functions wanted.
 * @returns A function giving the bindings, or undefined where FFI is not permitted.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { libcOnFirstUse } from "./libc.ts";
 * const libc = libcOnFirstUse({ getpid: { parameters: [], result: "i32" } });
 * assert.equal(libc()?.getpid(), Deno.pid);
 * assert.equal(libc(), libc()); // opened once
 * ```
 */
export function libcOnFirstUse<const S extends Deno.ForeignLibraryInterface>(
  symbols: S,
): () => Deno.DynamicLibrary<S>["symbols"] | undefined {
  let bindings: Deno.DynamicLibrary<S>["symbols"] | null | undefined;
  return () => {
    if (bindings === undefined) bindings = openLibcIfPermitted(symbols) ?? null;
    return bindings ?? undefined;
  };
}

/** Bindings that include `strerror`. */
type StrerrorSource = { strerror(code: number): Deno.PointerValue };

/**
 * libc's text for an error number (`strerror`), as Deno's errors give it.
 *
 * @param c Bindings with `strerror` (`{ parameters: ["i32"], result: "pointer" }`).
 * @param code The error number.
 * @returns The text, e.g. "No such file or directory".
 */
export function errorText(c: StrerrorSource, code: number): string {
  const text = c.strerror(code);
  return text === null ? `error ${code}` : Deno.UnsafePointerView.getCString(text);
}

/** Deno's error classes for the error numbers file calls meet; others are plain `Error`s. */
const ERROR_CLASSES: Record<number, new (message: string) => Error> = {
  1: Deno.errors.PermissionDenied, // EPERM
  2: Deno.errors.NotFound, // ENOENT
  13: Deno.errors.PermissionDenied, // EACCES
  17: Deno.errors.AlreadyExists, // EEXIST
  20: Deno.errors.NotADirectory, // ENOTDIR
  21: Deno.errors.IsADirectory, // EISDIR
  40: Deno.errors.FilesystemLoop, // ELOOP
};

/**
 * The error a failed libc file call stands for, as Deno's own call would
 * throw it: its class (`Deno.errors.NotFound`, ...) and wording.
 *
 * @param c Bindings with `strerror`.
 * @param op The call, as Deno names it ("open", "lstat", ...).
 * @param path The path it was made on.
 * @param code The error number.
 * @returns The error, to throw.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { openLibc, systemError } from "./libc.ts";
 * const c = openLibc({ strerror: { parameters: ["i32"], result: "pointer" } });
 * const e = systemError(c, "open", "/x", 2);
 * assert.ok(e instanceof Deno.errors.NotFound);
 * assert.equal(e.message, "No such file or directory (os error 2): open '/x'");
 * ```
 */
export function systemError(c: StrerrorSource, op: string, path: string, code: number): Error {
  const message = `${errorText(c, code)} (os error ${code}): ${op} '${path}'`;
  return new (ERROR_CLASSES[code] ?? Error)(message);
}

const utf8 = new TextEncoder();

/**
 * A path as a C string (UTF-8, NUL-terminated). A path holding a NUL byte is
 * refused, as Deno's own calls refuse it: C would read only what precedes
 * it, another path.
 *
 * @param path The path.
 * @param into A buffer to reuse when the path fits in it.
 * @returns The C string (in `into` when it fits).
 * @throws {TypeError} The path holds a NUL byte.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { cPath } from "./libc.ts";
 * assert.deepEqual(cPath("/a"), new Uint8Array([47, 97, 0]));
 * assert.throws(() => cPath("/a\0b"), TypeError);
 * ```
 */
export function cPath(path: string, into?: Uint8Array): Uint8Array {
  if (path.includes("\0")) throw new TypeError(`the path "${path}" holds a NUL byte`);
  if (into) {
    const { read, written } = utf8.encodeInto(path, into);
    if (read === path.length && written < into.length) {
      into[written] = 0;
      return into;
    }
  }
  return utf8.encode(`${path}\0`);
}
