/**
 * Small file-system questions the tests ask.
 *
 * @module
 */

/** Whether anything (a link included, not followed) is at `path`. */
export function exists(path: string): boolean {
  try {
    Deno.lstatSync(path);
    return true;
  } catch {
    return false;
  }
}
