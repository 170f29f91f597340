/**
 * libc through FFI, for the few calls Deno has no API for (pseudoterminals,
 * `flock` on a descriptor of our own): one loader and one `errno` reader
 * shared by the build layer's users of it.
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
    try {
      return Deno.dlopen(name, symbols).symbols;
    } catch (e) {
      lastError = e;
    }
  }
  throw new Error(`cannot load libc: ${String(lastError)}`);
}

/**
 * The calling thread's `errno`, read after a libc call that failed.
 *
 * @param c Bindings made by {@linkcode openLibc}.
 * @returns The error number (0 if it cannot be read).
 */
export function errno(c: { __errno_location(): Deno.PointerValue }): number {
  const p = c.__errno_location();
  return p === null ? 0 : new Deno.UnsafePointerView(p).getInt32();
}
