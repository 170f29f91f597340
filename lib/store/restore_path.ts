/**
 * Restoring a NAR into the filesystem, as `nix-store --restore` does: files
 * are created new (mode 0666 less the umask, plus the execute bits for
 * executables), directories with 0777 less the umask, symlinks as symlinks.
 *
 * Safety: the target must not exist; every entry is created new below it
 * (never through an existing file or symlink, which the NAR grammar and the
 * reader's checks guarantee); on any error everything created is removed.
 *
 * @module
 */
import { join } from "node:path";
import type { NarEntry } from "../nar/nar_reader.ts";
import { BuildhostError } from "../errors.ts";

/**
 * The target of a restore could not be written.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { RestoreError } from "./restore_path.ts";
 * assert.ok(new RestoreError("x") instanceof Error);
 * ```
 */
export class RestoreError extends BuildhostError {
  override name = "RestoreError";
}

/**
 * Remove a path and everything below it, restoring write permission on
 * directories first. Missing paths are fine.
 *
 * @param path The path to remove.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { removeTree } from "./restore_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.mkdir(`${dir}/a`, { mode: 0o555 });
 * await removeTree(dir);
 * await assert.rejects(Deno.lstat(dir));
 * ```
 */
export async function removeTree(path: string): Promise<void> {
  let st: Deno.FileInfo;
  try {
    st = await Deno.lstat(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  if (st.isDirectory) {
    await Deno.chmod(path, 0o755).catch(() => {});
    for await (const e of Deno.readDir(path)) await removeTree(join(path, e.name));
  }
  await Deno.remove(path);
}

/**
 * Create `target` from NAR entries.
 *
 * @param target A path that does not exist yet.
 * @param entries The entries, e.g. from `readNar`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { WireReader } from "../wire/wire_reader.ts";
 * import { readNar } from "../nar/nar_reader.ts";
 * import { dumpPath } from "./dump_path.ts";
 * import { restorePath } from "./restore_path.ts";
 * const dir = await Deno.makeTempDir();
 * await Deno.writeTextFile(`${dir}/a`, "x");
 * await restorePath(`${dir}/copy`, readNar(new WireReader(dumpPath(`${dir}/a`))));
 * assert.equal(await Deno.readTextFile(`${dir}/copy`), "x");
 * await Deno.remove(dir, { recursive: true });
 * ```
 */
export async function restorePath(target: string, entries: AsyncIterable<NarEntry>): Promise<void> {
  // Filesystem calls are synchronous: a store import creates many small
  // files, and an async call costs more than the work. Every entry is created
  // new (mkdir, createNew, symlink fail on an existing name), so an existing
  // target is refused by the first creation, before anything is written.
  let created = false;
  try {
    for await (const entry of entries) {
      const p = entry.path === "" ? target : `${target}/${entry.path}`;
      try {
        switch (entry.type) {
          case "directory":
            Deno.mkdirSync(p, { mode: 0o777 });
            break;
          case "symlink":
            Deno.symlinkSync(entry.target, p);
            break;
          case "regular": {
            using f = Deno.openSync(p, { write: true, createNew: true, mode: 0o666 });
            created = true;
            if (entry.executable) {
              const mode = f.statSync().mode ?? 0o644;
              Deno.chmodSync(p, (mode & 0o777) | 0o111);
            }
            for await (const chunk of entry.contents) {
              let off = 0;
              while (off < chunk.length) off += f.writeSync(chunk.subarray(off));
            }
            break;
          }
        }
      } catch (e) {
        if (entry.path === "" && e instanceof Deno.errors.AlreadyExists) {
          throw new RestoreError(`Cannot restore into "${target}": it already exists`);
        }
        throw e;
      }
      created = true;
    }
  } catch (e) {
    if (created) await removeTree(target).catch(() => {});
    throw e;
  }
}
