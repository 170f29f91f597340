/**
 * Where a builder left an output inside its sandbox root, found without
 * following any symlink the builder could have made.
 *
 * The builder owns its sandbox root: it can rename `/nix` and put a symlink
 * to any host directory in its place. Read on the host, `<root>/nix/store/<out>`
 * would then name a host directory, which moving the output out of the
 * root would carry into the store. So each directory on the way to the
 * output (`nix`, `store`, ...) is checked with `lstat`: it must be a real
 * directory. The output itself may be a symlink (it is moved, and
 * registered, as one). The builder's processes are gone when outputs are
 * moved, so nothing changes the path between the check and the move.
 *
 * @module
 */
import { BuildhostError } from "../errors.ts";

/** A directory on the way to an output is a symlink: the builder tampered with its root. */
export class OutputLocationError extends BuildhostError {
  override name = "OutputLocationError";
  /**
   * @param output The output's path inside the sandbox.
   * @param component The directory on its way that is a symlink, inside the sandbox.
   */
  constructor(readonly output: string, readonly component: string) {
    super(
      `Cannot locate output '${output}' in the sandbox: '${component}' is a symlink, not a directory`,
    );
  }
}

/**
 * The host location of an output in a sandbox root, or undefined when the
 * builder did not leave one there.
 *
 * @param rootDir The sandbox root on the host (trusted: made by the caller).
 * @param logical The output's absolute path inside the sandbox.
 * @returns `rootDir + logical`, when it exists and every directory on its
 * way below `rootDir` is a real directory; undefined when something on the
 * way, or the output, is missing (or a directory on the way is a file).
 * @throws {OutputLocationError} When a directory on the way is a symlink.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { locateOutput, OutputLocationError } from "./output_location.ts";
 * const root = Deno.makeTempDirSync();
 * Deno.mkdirSync(`${root}/nix/store`, { recursive: true });
 * Deno.writeTextFileSync(`${root}/nix/store/x-out`, "hi");
 * assert.equal(locateOutput(root, "/nix/store/x-out"), `${root}/nix/store/x-out`);
 * assert.equal(locateOutput(root, "/nix/store/y-out"), undefined);
 * Deno.renameSync(`${root}/nix`, `${root}/elsewhere`);
 * Deno.symlinkSync(`${root}/elsewhere`, `${root}/nix`);
 * assert.throws(() => locateOutput(root, "/nix/store/x-out"), OutputLocationError);
 * Deno.removeSync(root, { recursive: true });
 * ```
 */
export function locateOutput(rootDir: string, logical: string): string | undefined {
  const parts = logical.split("/").filter((p) => p !== "");
  let at = rootDir;
  let inside = "";
  for (const [i, part] of parts.entries()) {
    at += "/" + part;
    inside += "/" + part;
    let st: Deno.FileInfo;
    try {
      st = Deno.lstatSync(at);
    } catch (e) {
      if (e instanceof Deno.errors.NotFound || e instanceof Deno.errors.NotADirectory) {
        return undefined;
      }
      throw e;
    }
    if (i === parts.length - 1) return at; // the output itself: any type, a symlink too
    if (st.isSymlink) throw new OutputLocationError(logical, inside);
    if (!st.isDirectory) return undefined;
  }
  return undefined;
}
